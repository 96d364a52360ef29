package dev.sluice.launcher;

import dev.sluice.dataplane.DataPlane;
import dev.sluice.dataplane.auth.Authenticator;
import dev.sluice.dataplane.ratelimit.TokenEstimator;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.jspecify.annotations.Nullable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

/**
 * {@code sluice data-plane}: runs one stateless data plane that takes its config from control
 * planes over the discovery stream and serves the inference API.
 */
@Command(
    name = "data-plane",
    sortOptions = false,
    description = {
      "Runs a data plane: the inference API, configured by control planes.",
      "Example: sluice data-plane --control-plane cp-1:50052,cp-2:50052 --cache-file /var/lib/sluice/snapshot.bin"
    })
final class DataPlaneCommand implements Callable<Integer> {
  private static final Logger logger = Logger.getLogger(DataPlaneCommand.class.getName());

  @ParentCommand private SluiceCommand parent;
  @Mixin private HelpOption help = new HelpOption();

  @Option(
      names = "--listen",
      paramLabel = "HOST:PORT",
      defaultValue = ":" + DefaultPorts.DATA_PLANE,
      converter = ListenAddress.class,
      description = "Address of the inference API (default ${DEFAULT-VALUE}, all interfaces).")
  private InetSocketAddress listen;

  @Option(
      names = "--control-plane",
      paramLabel = "HOST:PORT",
      split = ",",
      description = "Control plane replicas, comma-separated or repeated (env SLUICE_CONTROL_PLANE).")
  private List<String> controlPlanes = new ArrayList<>();

  @Option(
      names = "--node-id",
      paramLabel = "ID",
      description = "This node's id, unique in the fleet (default: the host name).")
  private @Nullable String nodeId;

  @Option(
      names = "--label",
      paramLabel = "KEY=VALUE",
      description = "A node label for fleet selectors; repeatable.")
  private Map<String, String> labels = new LinkedHashMap<>();

  @Option(
      names = "--cache-file",
      paramLabel = "FILE",
      description = "Where to save each applied config, to boot from when no control plane answers.")
  private @Nullable Path cacheFile;

  @Option(
      names = "--allow-anonymous",
      description = "Serve callers without an API key (development only).")
  private boolean allowAnonymous;

  @Option(
      names = "--jwt-failure-burst",
      paramLabel = "N",
      defaultValue = "" + Authenticator.DEFAULT_FAILED_VERIFICATION_BURST,
      description =
          "JWTs failing their signature or claims checks that one client address may send at once"
              + " before its new tokens are refused unverified (default: ${DEFAULT-VALUE}; 0: no"
              + " limit, e.g. behind a proxy that hides client addresses).")
  private int jwtFailureBurst = Authenticator.DEFAULT_FAILED_VERIFICATION_BURST;

  @Option(
      names = "--jwt-failure-rate",
      paramLabel = "PER_SECOND",
      defaultValue = "" + Authenticator.DEFAULT_FAILED_VERIFICATIONS_PER_SECOND,
      description = "How fast an address regains such failures (default: ${DEFAULT-VALUE} a second).")
  private double jwtFailureRate = Authenticator.DEFAULT_FAILED_VERIFICATIONS_PER_SECOND;

  @Option(
      names = "--fleet-size",
      paramLabel = "N",
      defaultValue = "${env:SLUICE_FLEET_SIZE:-1}",
      description =
          "How many data planes share the rate limits (env SLUICE_FLEET_SIZE, default 1). Without"
              + " a lease from the control plane, a node enforces limit / N, so never set it lower"
              + " than the real fleet size.")
  private int fleetSize = 1;

  @Option(
      names = "--prompt-tokens",
      paramLabel = "COUNT",
      defaultValue = "approximate",
      description =
          "How token limits count a prompt before the call: approximate (one pass, a few"
              + " microseconds also for long prompts), cl100k or o200k (exact byte-pair encoding,"
              + " about ten and fifty times slower); settlement charges the real usage either way"
              + " (default: ${DEFAULT-VALUE}).")
  private String promptTokens = "approximate";

  @Option(
      names = "--metrics-listen",
      paramLabel = "HOST:PORT",
      converter = ListenAddress.class,
      description = "Address of the Prometheus /metrics endpoint (default: none).")
  private @Nullable InetSocketAddress metricsListen;

  @Option(
      names = "--max-connection-age",
      paramLabel = "DURATION",
      converter = DurationConverter.class,
      description =
          "End client connections after this long (GOAWAY) so clients rebalance across nodes,"
              + " e.g. 30m (default: never).")
  private java.time.@Nullable Duration maxConnectionAge;

  @Option(
      names = "--shed-at-heap",
      paramLabel = "FRACTION",
      defaultValue = "0.9",
      description =
          "Refuse new calls (UNAVAILABLE, OVERLOADED) while the heap live after a garbage"
              + " collection is at least this share of the maximum; running calls continue"
              + " (default: ${DEFAULT-VALUE}; 0: never).")
  private double shedAtHeap = 0.9;

  @Option(
      names = "--max-calls-in-flight",
      paramLabel = "N",
      defaultValue = "0",
      description =
          "Refuse a new inference call (UNAVAILABLE, OVERLOADED, retry after 100 ms) while N are"
              + " in flight on this node, unary and streams together; running calls continue"
              + " (default: ${DEFAULT-VALUE}: no bound).")
  private int maxCallsInFlight;

  @Option(
      names = "--max-connection-idle",
      paramLabel = "DURATION",
      converter = DurationConverter.class,
      defaultValue = "1h",
      description =
          "End client connections that carried no call for this long (GOAWAY; default:"
              + " ${DEFAULT-VALUE}).")
  private java.time.Duration maxConnectionIdle;

  @Option(
      names = "--max-connection-age-grace",
      paramLabel = "DURATION",
      converter = DurationConverter.class,
      defaultValue = "10m",
      description = "How long calls on an aged connection may still run (default: ${DEFAULT-VALUE}).")
  private java.time.Duration maxConnectionAgeGrace;

  @Override
  public Integer call() throws Exception {
    parent.configureLogging(Level.INFO);
    List<String> targets = new ArrayList<>(controlPlanes);
    if (targets.isEmpty()) {
      String fromEnv = System.getenv("SLUICE_CONTROL_PLANE");
      if (fromEnv == null || fromEnv.isBlank()) {
        throw new CommandFailure(
            "no control plane: give --control-plane HOST:PORT (or env SLUICE_CONTROL_PLANE)");
      }
      for (String target : fromEnv.split(",")) {
        targets.add(target.strip());
      }
    }
    if (fleetSize < 1) {
      throw new CommandFailure("--fleet-size: " + fleetSize + " (expected: >= 1)");
    }
    if (jwtFailureBurst < 0) {
      throw new CommandFailure("--jwt-failure-burst: " + jwtFailureBurst + " (expected: >= 0)");
    }
    if (!(jwtFailureRate > 0)) {
      throw new CommandFailure("--jwt-failure-rate: " + jwtFailureRate + " (expected: > 0)");
    }
    TokenEstimator estimator =
        switch (promptTokens) {
          case "approximate" -> TokenEstimator.approximateCl100k();
          case "cl100k" -> TokenEstimator.cl100k();
          case "o200k" -> TokenEstimator.o200k();
          default ->
              throw new CommandFailure(
                  "--prompt-tokens: " + promptTokens + " (expected: approximate, cl100k or o200k)");
        };
    String node = nodeId != null ? nodeId : ControlPlaneCommand.hostName();
    DataPlane.Builder builder =
        DataPlane.builder()
            .listenAddress(listen)
            .controlPlaneTargets(targets)
            .nodeId(node)
            .nodeLabels(labels)
            .allowAnonymous(allowAnonymous)
            .failedTokenVerifications(jwtFailureBurst, jwtFailureRate)
            .fleetSizeHint(fleetSize)
            .tokenEstimator(estimator);
    if (cacheFile != null) {
      builder.snapshotCacheFile(cacheFile);
    }
    if (metricsListen != null) {
      builder.metricsAddress(metricsListen);
    }
    if (shedAtHeap != 0 && !(shedAtHeap > 0.05 && shedAtHeap <= 1)) {
      throw new CommandFailure(
          "--shed-at-heap: " + shedAtHeap + " (expected: 0, or above 0.05 and at most 1)");
    }
    builder.shedAtHeapFraction(shedAtHeap);
    if (maxCallsInFlight < 0) {
      throw new CommandFailure(
          "--max-calls-in-flight: " + maxCallsInFlight + " (expected: >= 0, 0 for no bound)");
    }
    builder.maxCallsInFlight(maxCallsInFlight);
    if (maxConnectionIdle.isNegative() || maxConnectionIdle.isZero()) {
      throw new CommandFailure("--max-connection-idle: " + maxConnectionIdle + " (expected: > 0)");
    }
    builder.maxConnectionIdle(maxConnectionIdle);
    if (maxConnectionAge != null) {
      builder.maxConnectionAge(maxConnectionAge, maxConnectionAgeGrace);
    }
    DataPlane dataPlane = builder.build();
    ShutdownHooks.Stopper stopper = ShutdownHooks.install();
    stopper.add(dataPlane);
    try {
      dataPlane.start();
    } catch (Exception e) {
      dataPlane.close();
      throw PortInUse.explain(e, listen, "--listen");
    }
    logger.info(
        "Data plane " + node + " serves inference on "
            + ListenAddress.dialable(listen, dataPlane.port())
            + "; config from " + targets
            + (allowAnonymous ? "; anonymous callers allowed" : ""));
    stopper.awaitShutdown();
    return ExitCodes.OK;
  }
}
