package dev.sluice.launcher;

import dev.sluice.client.SluiceClient;
import dev.sluice.client.SluiceClientBuilder;
import dev.sluice.inference.v1.ModelInfo;
import dev.sluice.type.v1.ModelCapability;
import java.io.PrintWriter;
import java.util.concurrent.Callable;
import java.util.logging.Level;
import java.util.stream.Collectors;
import org.jspecify.annotations.Nullable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Help.Visibility;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/** {@code sluice models}: lists the models the caller may use, as the data plane serves them. */
@Command(
    name = "models",
    description = "Lists the models the gateway serves to you.")
final class ModelsCommand implements Callable<Integer> {
  @ParentCommand private SluiceCommand parent;
  @Mixin private HelpOption help = new HelpOption();
  @Spec private CommandSpec spec;

  @Option(
      names = {"-s", "--server"},
      paramLabel = "HOST:PORT",
      defaultValue = "${env:SLUICE_SERVER:-" + ChatCommand.DEFAULT_SERVER + "}",
      description = "Data plane address (env SLUICE_SERVER; default ${DEFAULT-VALUE}).")
  private String server = ChatCommand.DEFAULT_SERVER;

  @Option(
      names = "--api-key",
      paramLabel = "KEY",
      defaultValue = "${env:SLUICE_API_KEY}",
      showDefaultValue = Visibility.NEVER,
      description = "Inference API key (prefer env SLUICE_API_KEY).")
  private @Nullable String apiKey;

  @Mixin private TransportOptions transport = new TransportOptions();

  @Override
  public Integer call() {
    parent.configureLogging(Level.WARNING);
    SluiceClientBuilder builder = SluiceClient.builder().target(server);
    if (transport.usePlaintext(server)) {
      builder.plaintext();
    } else if (transport.caFile != null) {
      builder.tls(transport.caFile);
    }
    if (apiKey != null && !apiKey.isBlank()) {
      builder.apiKey(apiKey.strip());
    }
    PrintWriter out = spec.commandLine().getOut();
    try (SluiceClient client = builder.build()) {
      for (ModelInfo model : client.listModels()) {
        StringBuilder line = new StringBuilder(model.getName());
        if (model.getAliasesCount() > 0) {
          line.append("  aliases: ").append(String.join(", ", model.getAliasesList()));
        }
        if (model.getCapabilitiesCount() > 0) {
          line.append("  capabilities: ")
              .append(
                  model.getCapabilitiesList().stream()
                      .map(ModelCapability::name)
                      .map(name -> name.replace("MODEL_CAPABILITY_", "").toLowerCase(java.util.Locale.ROOT))
                      .collect(Collectors.joining(", ")));
        }
        if (!model.getDescription().isEmpty()) {
          line.append("  - ").append(model.getDescription());
        }
        out.println(line);
      }
    }
    out.flush();
    return ExitCodes.OK;
  }
}
