package dev.sluice.bench.gateway;

import static java.nio.charset.StandardCharsets.US_ASCII;

import dev.sluice.admin.v1.ApplyChangesRequest;
import dev.sluice.admin.v1.Change;
import dev.sluice.admin.v1.CreateApiKeyRequest;
import dev.sluice.bench.internal.DurationConverter;
import dev.sluice.bench.internal.LoopbackAdmin;
import dev.sluice.config.v1.Backend;
import dev.sluice.config.v1.BackendKind;
import dev.sluice.config.v1.BackendTarget;
import dev.sluice.config.v1.Consumer;
import dev.sluice.config.v1.MockSettings;
import dev.sluice.config.v1.Model;
import dev.sluice.config.v1.ModelVersion;
import dev.sluice.config.v1.Resource;
import dev.sluice.controlplane.ControlPlane;
import dev.sluice.controlplane.store.ConfigStore;
import dev.sluice.dataplane.DataPlane;
import dev.sluice.dataplane.NettyProcessDefaults;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.jspecify.annotations.Nullable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Starts a Sluice gateway for the data-plane benchmark: a control plane on an embedded store in a
 * temporary directory and a data plane, in this one JVM (the script pins it to one core), and
 * configures these models:
 *
 * <ul>
 *   <li>{@code bench}: an OpenAI-compatible backend on the fake upstream, tokens in one burst;
 *   <li>{@code bench-d<ms>} for each {@code --paced-delays} value: the same upstream through its
 *       {@code /d/<ms>} prefix, one token every {@code ms} milliseconds;
 *   <li>{@code bench-mock}: the data plane's built-in MOCK backend, no upstream at all (the
 *       gateway's own cost, for reference);
 *   <li>{@code bench-static}, with {@code --static-upstream}: an upstream that answers every call
 *       with the same completion (nginx, a fraction of the fake upstream's CPU per call, which
 *       leaves the core it shares with the load generator free enough for open-loop latency at
 *       half the gateway's saturation).
 * </ul>
 *
 * <p>The control plane idles once the config is applied; the data plane serves it as in production
 * (discovery stream, atomic swap). Prints {@code READY grpc://127.0.0.1:PORT} and writes the port
 * to {@code --port-file}; with {@code --auth api-key} it creates a consumer granted every model and
 * writes its API key to {@code --api-key-file}. Runs until terminated (SIGTERM) or {@code
 * --max-time}, then removes its directory. Prometheus metrics are on by default, as in production:
 * their cost is part of what is measured.
 */
@Command(
    name = "bench-gateway",
    mixinStandardHelpOptions = true,
    description =
        "Sluice control plane + data plane in one JVM, configured against the fake upstream.")
public final class BenchGateway implements Callable<Integer> {
  @Option(
      names = "--upstream",
      required = true,
      description = "Fake upstream base URL without /v1, e.g. http://127.0.0.1:9001.")
  String upstream = "";

  @Option(
      names = "--upstream-h2c",
      description =
          "Reach the fake upstream over HTTP/2 with prior knowledge (h2c): its streams share one"
              + " connection, as they would to a provider offering HTTP/2.")
  boolean upstreamH2c;

  @Option(
      names = "--static-upstream",
      description =
          "Base URL (without /v1) of an upstream that answers every chat call with the same"
              + " completion, such as nginx serving the fake upstream's reply: model bench-static.")
  String staticUpstream = "";

  @Option(
      names = "--port",
      description = "Data-plane gRPC port; 0 picks one (default: ${DEFAULT-VALUE}).")
  int port = 0;

  @Option(
      names = "--transport",
      description = "Event-loop I/O of the data plane: NIO or EPOLL (default: the best available).")
  dev.sluice.dataplane.@Nullable IoTransport transport;

  @Option(
      names = "--max-calls-in-flight",
      description =
          "Refuse new calls while this many are in flight on the data plane (0: no bound;"
              + " default: ${DEFAULT-VALUE}).")
  int maxCallsInFlight = 0;

  @Option(names = "--port-file", description = "Write the data-plane port here once serving.")
  @Nullable Path portFile;

  @Option(
      names = "--paced-delays",
      split = ",",
      description = "Per-token delays in ms of the paced models (default: 20,200).")
  List<Integer> pacedDelays = new ArrayList<>(List.of(20, 200));

  @Option(
      names = "--auth",
      description = "none (anonymous calls) | api-key (default: ${DEFAULT-VALUE}).")
  String auth = "none";

  @Option(names = "--api-key-file", description = "With --auth api-key: write the key here.")
  @Nullable Path apiKeyFile;

  @Option(
      names = "--metrics",
      negatable = true,
      description =
          "Serve Prometheus metrics (on a free loopback port), as production does (default: on).")
  boolean metrics = true;

  @Option(
      names = "--max-time",
      converter = DurationConverter.class,
      description = "Exit after this long, a safety net for scripts (default: 2h).")
  Duration maxTime = Duration.ofHours(2);

  public static void main(String[] args) {
    // As bin/sluice does: the gateway under test runs with the launcher's process defaults.
    NettyProcessDefaults.apply();
    System.exit(new CommandLine(new BenchGateway()).execute(args));
  }

  @Override
  public Integer call() throws Exception {
    Path dir = Files.createTempDirectory("sluice-bench-gateway-");
    String adminToken = "bench-" + UUID.randomUUID();
    boolean anonymous =
        switch (auth) {
          case "none" -> true;
          case "api-key" -> false;
          default ->
              throw new IllegalArgumentException(
                  "--auth: " + auth + " (expected: none or api-key)");
        };
    CountDownLatch stop = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(stop::countDown, "bench-gateway-stop"));
    // The control plane leaves its store to the caller: both close here, the plane first.
    try (ConfigStore store = ConfigStore.embedded(dir.resolve("store"));
        ControlPlane cp =
            ControlPlane.builder()
                .listenAddress(new InetSocketAddress("127.0.0.1", 0))
                .store(store)
                .adminTokens(Map.of("sluice-bench", adminToken))
                .controlPlaneId("bench-cp")
                .build()) {
      cp.start();
      if (!cp.awaitReady(Duration.ofSeconds(30))) {
        System.err.println("the control plane built no snapshot within 30 s");
        return 1;
      }
      Configured configured = configure(cp.port(), adminToken, anonymous);
      DataPlane.Builder builder =
          DataPlane.builder()
              .listenAddress(new InetSocketAddress("127.0.0.1", port))
              .controlPlaneTargets(List.of("127.0.0.1:" + cp.port()))
              .nodeId("bench-dp")
              .snapshotCacheFile(dir.resolve("snapshot.bin"))
              .allowAnonymous(anonymous)
              // The scripts stop the gateway after the last run; nothing is in flight to drain.
              .drainTimeout(Duration.ofSeconds(1))
              .maxCallsInFlight(maxCallsInFlight);
      if (transport != null) {
        builder.transport(transport);
      }
      if (metrics) {
        builder.metricsAddress(new InetSocketAddress("127.0.0.1", 0));
      }
      try (DataPlane dp = builder.build()) {
        dp.start();
        if (!dp.awaitConfig(Duration.ofSeconds(30)) || !awaitVersion(dp, configured.version())) {
          System.err.println(
              "the data plane did not serve config version "
                  + configured.version()
                  + " within 30 s");
          return 1;
        }
        if (portFile != null) {
          Files.writeString(portFile, Integer.toString(dp.port()), US_ASCII);
        }
        String key = configured.apiKey();
        if (apiKeyFile != null && key != null) {
          Files.writeString(apiKeyFile, key, US_ASCII);
        }
        System.out.println(
            "READY grpc://127.0.0.1:"
                + dp.port()
                + (metrics ? " metrics http://127.0.0.1:" + dp.metricsPort() + "/metrics" : ""));
        stop.await(maxTime.toMillis(), TimeUnit.MILLISECONDS);
      }
    } finally {
      deleteRecursively(dir);
    }
    return 0;
  }

  /** The config version the gateway must serve, and the API key with {@code --auth api-key}. */
  private record Configured(long version, @Nullable String apiKey) {}

  /**
   * Waits until the data plane serves {@code version} (its version info is {@code
   * <epoch>.<version>}): the API key is created in a second config version, after the models.
   */
  private static boolean awaitVersion(DataPlane dp, long version) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (System.nanoTime() < deadline) {
      String served = dp.configVersion();
      if (served != null) {
        try {
          if (Long.parseLong(served.substring(served.lastIndexOf('.') + 1)) >= version) {
            return true;
          }
        } catch (NumberFormatException e) {
          return true; // an unexpected format: do not block the benchmark on it
        }
      }
      Thread.sleep(20);
    }
    return false;
  }

  /** Applies the benchmark config. */
  private Configured configure(int cpPort, String adminToken, boolean anonymous)
      throws InterruptedException {
    try (LoopbackAdmin admin = LoopbackAdmin.connect(cpPort, adminToken)) {
      ApplyChangesRequest.Builder req =
          ApplyChangesRequest.newBuilder()
              .setAuthor("sluice-bench")
              .setReason("data-plane benchmark");
      String base =
          upstream.endsWith("/") ? upstream.substring(0, upstream.length() - 1) : upstream;
      addModel(req, "bench", openAiCompatible("upstream", base + "/v1", upstreamH2c));
      for (int d : pacedDelays) {
        addModel(
            req,
            "bench-d" + d,
            openAiCompatible("upstream-d" + d, base + "/d/" + d + "/v1", upstreamH2c));
      }
      if (!staticUpstream.isEmpty()) {
        String fixed =
            staticUpstream.endsWith("/")
                ? staticUpstream.substring(0, staticUpstream.length() - 1)
                : staticUpstream;
        addModel(req, "bench-static", openAiCompatible("upstream-static", fixed + "/v1", false));
      }
      addModel(
          req,
          "bench-mock",
          Backend.newBuilder()
              .setName("mock")
              .setKind(BackendKind.BACKEND_KIND_MOCK)
              .setMock(MockSettings.newBuilder().setTokensPerResponse(16))
              .build());
      if (!anonymous) {
        req.addChanges(
            Change.newBuilder()
                .setUpsert(
                    Resource.newBuilder()
                        .setConsumer(Consumer.newBuilder().setName("bench").addModels("*"))));
      }
      long version =
          admin.within(Duration.ofSeconds(30)).applyChanges(req.build())
              .getConfigVersion();
      if (anonymous) {
        return new Configured(version, null);
      }
      var created =
          admin
              .within(Duration.ofSeconds(30))
              .createApiKey(
                  CreateApiKeyRequest.newBuilder()
                      .setConsumer("bench")
                      .setName("bench-key")
                      .build());
      return new Configured(created.getConfigVersion(), created.getKey());
    }
  }

  private static Backend openAiCompatible(String name, String baseUrl, boolean h2c) {
    return Backend.newBuilder()
        .setH2C(h2c)
        .setName(name)
        .setKind(BackendKind.BACKEND_KIND_OPENAI_COMPATIBLE)
        .setBaseUrl(baseUrl)
        .build();
  }

  private static void addModel(ApplyChangesRequest.Builder req, String model, Backend backend) {
    req.addChanges(Change.newBuilder().setUpsert(Resource.newBuilder().setBackend(backend)));
    req.addChanges(
        Change.newBuilder()
            .setUpsert(
                Resource.newBuilder()
                    .setModel(
                        Model.newBuilder()
                            .setName(model)
                            .addVersions(
                                ModelVersion.newBuilder()
                                    .setName("v1")
                                    .setUpstreamModel("mock-model")
                                    .addBackends(
                                        BackendTarget.newBuilder().setBackend(backend.getName())))
                            .setDefaultVersion("v1"))));
  }

  private static void deleteRecursively(Path dir) throws IOException {
    if (!Files.exists(dir)) {
      return;
    }
    try (Stream<Path> walk = Files.walk(dir)) {
      walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    }
  }
}
