package dev.sluice.launcher;

import dev.sluice.inference.v1.ModelInfo;
import dev.sluice.type.v1.ModelCapability;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.InetSocketAddress;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.logging.Level;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.jspecify.annotations.Nullable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/**
 * {@code sluice dev}: the whole gateway on this machine, for trying Sluice and developing against
 * it. See {@link DevGateway} for what runs; this command adds the defaults, prints how to call
 * the gateway, and runs until Ctrl-C.
 */
@Command(
    name = "dev",
    sortOptions = false,
    description = {
      "Runs a control plane (embedded store), a data plane and the built-in mock model on this"
          + " machine, applies config-samples/, and prints how to call it. Stop it with Ctrl-C.",
      "State (config, history, admin token) is kept in --state-dir between runs."
    })
final class DevCommand implements Callable<Integer> {
  static final String READY_LINE = "Sluice dev gateway is ready.";

  @ParentCommand private SluiceCommand parent;
  @Mixin private HelpOption help = new HelpOption();
  @Spec private CommandSpec spec;

  @Option(
      names = "--listen",
      paramLabel = "HOST:PORT",
      defaultValue = "127.0.0.1:" + DefaultPorts.DATA_PLANE,
      converter = ListenAddress.class,
      description = "Inference API (data plane) address (default ${DEFAULT-VALUE}).")
  private InetSocketAddress listen;

  @Option(
      names = "--control-plane-listen",
      paramLabel = "HOST:PORT",
      defaultValue = "127.0.0.1:" + DefaultPorts.CONTROL_PLANE,
      converter = ListenAddress.class,
      description = "Admin API (control plane) address (default ${DEFAULT-VALUE}).")
  private InetSocketAddress controlPlaneListen;

  @Option(
      names = "--state-dir",
      paramLabel = "DIR",
      description = "Where dev keeps its state (default: $SLUICE_HOME/dev, else .sluice/dev).")
  private @Nullable Path stateDir;

  @Option(
      names = {"-f", "--config"},
      paramLabel = "FILE|DIR",
      description =
          "Config to apply at start; repeatable (default: every file in config-samples/ of"
              + " this checkout).")
  private List<Path> config = new ArrayList<>();

  @Option(
      names = "--metrics-listen",
      paramLabel = "HOST:PORT",
      converter = ListenAddress.class,
      description = "Serve the data plane's Prometheus /metrics here (default: none).")
  private @Nullable InetSocketAddress metricsListen;

  @Option(names = "--fresh", description = "Delete the state directory first (config history too).")
  private boolean fresh;

  @Override
  public Integer call() throws Exception {
    parent.configureLogging(Level.INFO);
    DevState state = DevState.locate(stateDir, System.getenv());
    if (fresh) {
      deleteRecursively(state.dir());
    }
    List<Path> configPaths = config.isEmpty() ? List.of(defaultConfig()) : config;
    ShutdownHooks.Stopper stopper = ShutdownHooks.install();
    DevGateway gateway =
        DevGateway.start(
            new DevGateway.Settings(listen, controlPlaneListen, state, configPaths, metricsListen));
    stopper.add(gateway);
    printInstructions(spec.commandLine().getOut(), gateway, state, configPaths);
    stopper.awaitShutdown();
    return ExitCodes.OK;
  }

  private void printInstructions(
      PrintWriter out, DevGateway gateway, DevState state, List<Path> configPaths) {
    String target = gateway.dataPlaneTarget();
    boolean defaultDataPlane = target.equals(ChatCommand.DEFAULT_SERVER);
    boolean defaultControlPlane = gateway.controlPlaneTarget().equals(AdminConnectionOptions.DEFAULT_SERVER);
    String chatModel = chatModel(gateway.models());
    Path here = Path.of("").toAbsolutePath();
    String tokenFile = relative(here, state.adminTokenFile());
    out.println();
    out.println(READY_LINE);
    out.println("  inference API (data plane):  " + target + "  plaintext, anonymous calls allowed");
    out.println("  admin API (control plane):   " + gateway.controlPlaneTarget()
        + "  admin token in " + tokenFile);
    out.println("  config version " + gateway.configVersion() + " from "
        + configPaths.stream().map(p -> relative(here, p.toAbsolutePath())).collect(Collectors.joining(", ")));
    out.println("  models: " + gateway.models().stream().map(ModelInfo::getName).collect(Collectors.joining(", ")));
    Map<String, Boolean> keys = gateway.secretEnvironmentVariables(System.getenv());
    if (!keys.isEmpty()) {
      out.println("  provider keys read from this process's environment: "
          + keys.entrySet().stream()
              .map(e -> e.getKey() + (e.getValue() ? " (set)" : " (not set)"))
              .collect(Collectors.joining(", ")));
      if (keys.containsValue(false)) {
        out.println("    (models on backends whose key is not set answer FAILED_PRECONDITION until you"
            + " restart with it)");
      }
    }
    String metrics = gateway.metricsUrl();
    if (metrics != null) {
      out.println("  metrics: " + metrics + "  (docs/metrics.md)");
    }
    out.println("  state: " + relative(here, state.dir()));
    out.println();
    out.println("Call it from another terminal:");
    out.println("  bin/sluice chat -m " + chatModel
        + (defaultDataPlane ? "" : " --server " + target) + " \"Hello\"");
    out.println("  grpcurl -plaintext -d '{\"chat\":{\"model\":\"" + chatModel
        + "\",\"messages\":[{\"role\":\"ROLE_USER\",\"parts\":[{\"text\":\"Hello\"}]}]}}' \\");
    out.println("      " + target + " sluice.inference.v1.InferenceService/StreamChat");
    out.println("  /usr/bin/python3 examples/python/stream_chat.py --target " + target
        + " --model " + chatModel + " \"Hello\"   (setup: examples/python/README.md)");
    out.println("Change the config:");
    out.println("  bin/sluice apply -f my-config.yaml" + (defaultControlPlane ? "" : " --server " + gateway.controlPlaneTarget())
        + "   (uses the admin token in " + tokenFile + ")");
    out.println("  export SLUICE_ADMIN_TOKEN=\"$(cat " + tokenFile + ")\"   (for other admin clients)");
    out.println();
    out.println("Press Ctrl-C to stop.");
    out.flush();
  }

  private static String chatModel(List<ModelInfo> models) {
    return models.stream()
        .filter(m -> m.getName().equals("mock-chat"))
        .findFirst()
        .or(() -> models.stream().filter(m -> m.getCapabilitiesList().contains(ModelCapability.MODEL_CAPABILITY_CHAT)).findFirst())
        .or(() -> models.stream().findFirst())
        .map(ModelInfo::getName)
        .orElse("mock-chat");
  }

  /**
   * The {@code config-samples} directory of this checkout: under the working directory, else
   * next to the jar ({@code launcher/target/sluice.jar} lives two levels below the repository
   * root). Every sample is applied; models on real providers then fail only when called, and
   * only until their keys are in the environment.
   */
  static Path defaultConfig() {
    List<Path> candidates = new ArrayList<>();
    candidates.add(Path.of("config-samples"));
    try {
      // launcher/target/sluice.jar, or launcher/target/classes when run from the build.
      Path code =
          Path.of(DevCommand.class.getProtectionDomain().getCodeSource().getLocation().toURI());
      Path root = code.toAbsolutePath().getParent().getParent().getParent();
      candidates.add(root.resolve("config-samples"));
    } catch (URISyntaxException | SecurityException | NullPointerException e) {
      // No usable code location; only the working directory is searched.
    }
    for (Path candidate : candidates) {
      if (Files.isRegularFile(candidate.resolve("dev.yaml"))) {
        return candidate;
      }
    }
    throw new CommandFailure(
        "cannot find config-samples/ (looked in "
            + candidates.stream().map(p -> p.toAbsolutePath().normalize().toString()).collect(Collectors.joining(", "))
            + "); run from the repository root or pass --config FILE|DIR");
  }

  private static String relative(Path base, Path path) {
    Path absolute = path.toAbsolutePath().normalize();
    return absolute.startsWith(base) ? base.relativize(absolute).toString() : absolute.toString();
  }

  private static void deleteRecursively(Path dir) throws IOException {
    if (!Files.exists(dir)) {
      return;
    }
    try (Stream<Path> paths = Files.walk(dir)) {
      for (Path path : paths.sorted(Comparator.reverseOrder()).toList()) {
        Files.delete(path);
      }
    }
  }
}
