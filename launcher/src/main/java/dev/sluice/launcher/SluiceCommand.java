package dev.sluice.launcher;

import java.util.logging.Level;
import org.jspecify.annotations.Nullable;
import picocli.CommandLine.Command;
import picocli.CommandLine.IVersionProvider;
import picocli.CommandLine.Option;
import picocli.CommandLine.ScopeType;

/** The top-level {@code sluice} command; it only groups the subcommands. */
@Command(
    name = "sluice",
    mixinStandardHelpOptions = true,
    versionProvider = SluiceCommand.Version.class,
    description = "Sluice, a gRPC-first AI gateway.",
    subcommands = {
      DevCommand.class,
      ControlPlaneCommand.class,
      DataPlaneCommand.class,
      ApplyCommand.class,
      GetCommand.class,
      HistoryCommand.class,
      ChatCommand.class,
      ModelsCommand.class,
    })
final class SluiceCommand {
  private @Nullable Level logLevel;

  @Option(
      names = "--log-level",
      scope = ScopeType.INHERIT,
      paramLabel = "LEVEL",
      description =
          "Log level: SEVERE, WARNING, INFO, FINE, ... (default: INFO for servers, WARNING for"
              + " client commands; env SLUICE_LOG_LEVEL).")
  void logLevel(String level) {
    this.logLevel = Logging.parseLevel(level);
  }

  /** Configures logging with {@code --log-level}, else SLUICE_LOG_LEVEL, else {@code fallback}. */
  void configureLogging(Level fallback) {
    Level level = logLevel;
    String fromEnv = System.getenv("SLUICE_LOG_LEVEL");
    if (level == null && fromEnv != null && !fromEnv.isBlank()) {
      level = Logging.parseLevel(fromEnv);
    }
    Logging.configure(level, fallback);
  }

  /** The version from the jar manifest, or "development" when run from classes. */
  static final class Version implements IVersionProvider {
    @Override
    public String[] getVersion() {
      String version = SluiceCommand.class.getPackage().getImplementationVersion();
      return new String[] {"sluice " + (version == null ? "development" : version)};
    }
  }
}
