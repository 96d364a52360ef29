package dev.sluice.bench.load;

import com.google.protobuf.util.Durations;
import dev.sluice.admin.v1.ApplyChangesRequest;
import dev.sluice.admin.v1.Change;
import dev.sluice.bench.internal.LoopbackAdmin;
import dev.sluice.config.v1.Backend;
import dev.sluice.config.v1.BackendKind;
import dev.sluice.config.v1.BackendTarget;
import dev.sluice.config.v1.MockSettings;
import dev.sluice.config.v1.Model;
import dev.sluice.config.v1.ModelVersion;
import dev.sluice.config.v1.Resource;
import dev.sluice.controlplane.ControlPlane;
import dev.sluice.controlplane.store.ConfigStore;
import dev.sluice.dataplane.DataPlane;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * A real Sluice gateway in this JVM, as {@code BenchGateway} runs it (control plane on an embedded
 * store, data plane fed by discovery), with built-in MOCK models only, so no upstream is needed:
 *
 * <ul>
 *   <li>{@code mock}: {@link #TOKENS} tokens per response, at once;
 *   <li>{@code mock-slow}: the same after a 300 ms time to first token, to hold calls open.
 * </ul>
 *
 * Anonymous calls are allowed; an API key that is presented is still verified.
 */
final class GatewayFixture implements AutoCloseable {
  static final int TOKENS = 8;

  private final ConfigStore store;
  private final ControlPlane controlPlane;
  private final DataPlane dataPlane;

  GatewayFixture(Path dir, int maxConcurrentCallsPerConnection) throws Exception {
    String adminToken = "test-admin-token";
    store = ConfigStore.embedded(dir.resolve("store"));
    controlPlane =
        ControlPlane.builder()
            .listenAddress(new InetSocketAddress("127.0.0.1", 0))
            .store(store)
            .adminTokens(Map.of("test", adminToken))
            .controlPlaneId("test-cp")
            .build();
    controlPlane.start();
    if (!controlPlane.awaitReady(Duration.ofSeconds(30))) {
      close();
      throw new IllegalStateException("the control plane built no snapshot within 30 s");
    }
    long version = configure(controlPlane.port(), adminToken);
    dataPlane =
        DataPlane.builder()
            .listenAddress(new InetSocketAddress("127.0.0.1", 0))
            .controlPlaneTargets(List.of("127.0.0.1:" + controlPlane.port()))
            .nodeId("test-dp")
            .snapshotCacheFile(dir.resolve("snapshot.bin"))
            .allowAnonymous(true)
            .eventLoopThreads(1)
            .maxConcurrentCallsPerConnection(maxConcurrentCallsPerConnection)
            .drainTimeout(Duration.ofSeconds(1))
            .build();
    dataPlane.start();
    if (!dataPlane.awaitConfig(Duration.ofSeconds(30)) || !awaitVersion(version)) {
      close();
      throw new IllegalStateException("the data plane did not serve version " + version);
    }
  }

  /** Waits until the data plane serves {@code version} (its version info ends in it). */
  private boolean awaitVersion(long version) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (System.nanoTime() < deadline) {
      String served = dataPlane.configVersion();
      if (served != null
          && Long.parseLong(served.substring(served.lastIndexOf('.') + 1)) >= version) {
        return true;
      }
      Thread.sleep(20);
    }
    return false;
  }

  InetSocketAddress address() {
    return new InetSocketAddress("127.0.0.1", dataPlane.port());
  }

  /** Applies the models; returns the config version that carries them. */
  private static long configure(int cpPort, String adminToken) throws InterruptedException {
    try (LoopbackAdmin admin = LoopbackAdmin.connect(cpPort, adminToken)) {
      ApplyChangesRequest.Builder req =
          ApplyChangesRequest.newBuilder().setAuthor("test").setReason("raw gRPC client test");
      addModel(req, "mock", MockSettings.newBuilder().setTokensPerResponse(TOKENS).build());
      addModel(
          req,
          "mock-slow",
          MockSettings.newBuilder()
              .setTokensPerResponse(TOKENS)
              .setTimeToFirstToken(Durations.fromMillis(300))
              .build());
      return admin.within(Duration.ofSeconds(30)).applyChanges(req.build()).getConfigVersion();
    }
  }

  private static void addModel(ApplyChangesRequest.Builder req, String name, MockSettings mock) {
    Backend backend =
        Backend.newBuilder()
            .setName(name + "-backend")
            .setKind(BackendKind.BACKEND_KIND_MOCK)
            .setMock(mock)
            .build();
    req.addChanges(Change.newBuilder().setUpsert(Resource.newBuilder().setBackend(backend)));
    req.addChanges(
        Change.newBuilder()
            .setUpsert(
                Resource.newBuilder()
                    .setModel(
                        Model.newBuilder()
                            .setName(name)
                            .addVersions(
                                ModelVersion.newBuilder()
                                    .setName("v1")
                                    .setUpstreamModel("mock-model")
                                    .addBackends(
                                        BackendTarget.newBuilder().setBackend(backend.getName())))
                            .setDefaultVersion("v1"))));
  }

  @Override
  @SuppressWarnings("ConstantConditions") // fields are null when the constructor failed half-way
  public void close() throws Exception {
    if (dataPlane != null) {
      dataPlane.close();
    }
    if (controlPlane != null) {
      controlPlane.close();
    }
    store.close();
  }
}
