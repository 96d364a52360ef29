package dev.sluice.dataplane.config;

import static dev.sluice.dataplane.testing.TestConfigs.backend;
import static dev.sluice.dataplane.testing.TestConfigs.model;
import static dev.sluice.dataplane.testing.TestConfigs.snapshot;
import static dev.sluice.dataplane.testing.TestConfigs.versionInfo;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import com.google.rpc.Code;
import dev.sluice.config.v1.Backend;
import dev.sluice.config.v1.BackendKind;
import dev.sluice.config.v1.ConfigSnapshot;
import dev.sluice.config.v1.Route;
import dev.sluice.config.v1.RouteDestination;
import dev.sluice.config.v1.SecretRef;
import dev.sluice.dataplane.routing.ProviderLookup;
import dev.sluice.dataplane.testing.FakeControlPlane;
import dev.sluice.dataplane.testing.TestConfigs;
import dev.sluice.discovery.v1.ConfigSource;
import dev.sluice.discovery.v1.DiscoveryServiceGrpc;
import dev.sluice.discovery.v1.LeaseQuotaRequest;
import dev.sluice.discovery.v1.Node;
import dev.sluice.discovery.v1.StreamConfigRequest;
import io.grpc.ManagedChannelBuilder;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DiscoveryClientTest {
  private static final Duration WAIT = Duration.ofSeconds(10);

  @TempDir Path dir;

  private final List<AutoCloseable> closeables = new ArrayList<>();

  @AfterEach
  void closeEverything() throws Exception {
    for (int i = closeables.size() - 1; i >= 0; i--) {
      closeables.get(i).close();
    }
  }

  private static final ConfigSnapshot V1 = snapshot(1, backend("b1"), model("m1", "b1"));
  private static final ConfigSnapshot V2 =
      snapshot(2, backend("b1"), model("m1", "b1"), model("m2", "b1"));

  /** Routes to a model that does not exist: a node must refuse to serve it. */
  private static final ConfigSnapshot BROKEN =
      snapshot(
          3,
          backend("b1"),
          model("m1", "b1"),
          Route.newBuilder()
              .setName("r1")
              .addDestinations(RouteDestination.newBuilder().setModel("missing"))
              .build());

  private FakeControlPlane controlPlane(String id) throws IOException {
    FakeControlPlane cp = new FakeControlPlane(id);
    closeables.add(cp);
    return cp;
  }

  private DiscoveryClient client(ServingConfig serving, List<String> targets, Path cacheFile) {
    return client(serving, targets, cacheFile, TestConfigs.EVERY_KIND);
  }

  private DiscoveryClient client(
      ServingConfig serving, List<String> targets, Path cacheFile, ProviderLookup providers) {
    DiscoveryClient client =
        DiscoveryClient.builder()
            .targets(targets)
            .node(Node.newBuilder().setId("dp-test").build())
            .serving(serving)
            .cacheFile(cacheFile)
            .providers(providers)
            .channelFactory(
                target -> ManagedChannelBuilder.forTarget(target).usePlaintext().build())
            .reconnectBackoff(Duration.ofMillis(20), Duration.ofMillis(100))
            .initialFetchTimeout(Duration.ofSeconds(30))
            .build();
    closeables.add(client);
    client.start();
    return client;
  }

  @Test
  void firstRequestIdentifiesTheNodeAndReportsNoConfig() throws Exception {
    FakeControlPlane cp = controlPlane("cp1");
    client(new ServingConfig(), List.of(cp.target()), dir.resolve("cache"));

    StreamConfigRequest first = cp.nextRequest(WAIT);

    assertThat(first.getNode().getId()).isEqualTo("dp-test");
    assertThat(first.getVersionInfo()).isEmpty();
    assertThat(first.getResponseNonce()).isEmpty();
    assertThat(first.getAppliedDigest()).isEmpty();
    assertThat(first.getConfigSource()).isEqualTo(ConfigSource.CONFIG_SOURCE_NONE);
  }

  @Test
  void acknowledgesASnapshotOnlyOnceItIsServed() throws Exception {
    FakeControlPlane cp = controlPlane("cp1");
    ServingConfig serving = new ServingConfig();
    AtomicReference<RuntimeConfig> servedBeforeAck = new AtomicReference<>();
    client(serving, List.of(cp.target()), dir.resolve("cache"));
    cp.nextRequest(WAIT);

    String nonce = cp.send(versionInfo(1), V1);
    StreamConfigRequest ack = cp.nextRequest(WAIT);
    servedBeforeAck.set(serving.current());

    assertThat(ack.getResponseNonce()).isEqualTo(nonce);
    assertThat(ack.getVersionInfo()).isEqualTo(versionInfo(1));
    assertThat(ack.getAppliedDigest()).isEqualTo(V1.getDigest());
    assertThat(ack.hasErrorDetail()).isFalse();
    assertThat(ack.getConfigSource()).isEqualTo(ConfigSource.CONFIG_SOURCE_CONTROL_PLANE);
    assertThat(servedBeforeAck.get().versionInfo()).isEqualTo(versionInfo(1));
    assertThat(servedBeforeAck.get().routes().model("m1")).isNotNull();
  }

  @Test
  void nackKeepsTheLastGoodConfig() throws Exception {
    FakeControlPlane cp = controlPlane("cp1");
    ServingConfig serving = new ServingConfig();
    client(serving, List.of(cp.target()), dir.resolve("cache"));
    cp.nextRequest(WAIT);
    cp.send(versionInfo(1), V1);
    cp.nextRequest(WAIT);

    String nonce = cp.send(versionInfo(3), BROKEN);
    StreamConfigRequest nack = cp.nextRequest(WAIT);

    assertThat(nack.getResponseNonce()).isEqualTo(nonce);
    assertThat(nack.hasErrorDetail()).isTrue();
    assertThat(nack.getErrorDetail().getCode()).isEqualTo(Code.INVALID_ARGUMENT_VALUE);
    assertThat(nack.getErrorDetail().getMessage()).contains("route r1").contains("missing");
    assertThat(nack.getVersionInfo()).isEqualTo(versionInfo(1));
    assertThat(nack.getAppliedDigest()).isEqualTo(V1.getDigest());
    assertThat(serving.current().versionInfo()).isEqualTo(versionInfo(1));
  }

  @Test
  void nacksASnapshotWhoseRouteNamesAnUnknownRateLimitPolicy() throws Exception {
    FakeControlPlane cp = controlPlane("cp1");
    ServingConfig serving = new ServingConfig();
    client(serving, List.of(cp.target()), dir.resolve("cache"));
    cp.nextRequest(WAIT);
    cp.send(versionInfo(1), V1);
    cp.nextRequest(WAIT);

    cp.send(
        versionInfo(4),
        snapshot(
            4,
            backend("b1"),
            model("m1", "b1"),
            Route.newBuilder().setName("r1").addRateLimitPolicies("ghost").build()));
    StreamConfigRequest nack = cp.nextRequest(WAIT);

    assertThat(nack.getErrorDetail().getCode()).isEqualTo(Code.INVALID_ARGUMENT_VALUE);
    assertThat(nack.getErrorDetail().getMessage())
        .isEqualTo("route r1: rate_limit_policies[0]: ghost is not a RateLimitPolicy");
    assertThat(nack.getVersionInfo()).isEqualTo(versionInfo(1));
    assertThat(serving.current().versionInfo()).isEqualTo(versionInfo(1));
  }

  /**
   * Version skew: a newer control plane accepts a backend kind this build has no adapter for. The
   * node refuses the whole snapshot (NACK) and keeps serving the last good one, rather than serving
   * it and failing that backend's calls later.
   */
  @Test
  void nacksASnapshotWithABackendKindThisBuildCannotCallAndKeepsTheLastGoodConfig()
      throws Exception {
    FakeControlPlane cp = controlPlane("cp1");
    ServingConfig serving = new ServingConfig();
    client(
        serving,
        List.of(cp.target()),
        dir.resolve("cache"),
        TestConfigs.everyKindExcept(BackendKind.BACKEND_KIND_GEMINI));
    cp.nextRequest(WAIT);
    cp.send(versionInfo(1), V1);
    cp.nextRequest(WAIT);

    cp.send(
        versionInfo(5),
        snapshot(
            5,
            backend("b1"),
            model("m1", "b1"),
            Backend.newBuilder()
                .setName("gemini")
                .setKind(BackendKind.BACKEND_KIND_GEMINI)
                .setApiKey(SecretRef.newBuilder().setEnvVar("GEMINI_API_KEY"))
                .build(),
            model("m2", "gemini")));
    StreamConfigRequest nack = cp.nextRequest(WAIT);

    assertThat(nack.getErrorDetail().getCode()).isEqualTo(Code.INVALID_ARGUMENT_VALUE);
    assertThat(nack.getErrorDetail().getMessage())
        .isEqualTo(
            "backend gemini: kind: BACKEND_KIND_GEMINI is not supported by this data plane build");
    assertThat(nack.getVersionInfo()).isEqualTo(versionInfo(1));
    assertThat(serving.current().versionInfo()).isEqualTo(versionInfo(1));
    assertThat(serving.current().routes().model("m2")).isNull();
  }

  @Test
  void nacksAVersionOlderThanTheOneServed() throws Exception {
    FakeControlPlane cp = controlPlane("cp1");
    ServingConfig serving = new ServingConfig();
    client(serving, List.of(cp.target()), dir.resolve("cache"));
    cp.nextRequest(WAIT);
    cp.send(versionInfo(2), V2);
    cp.nextRequest(WAIT);

    cp.send(versionInfo(1), V1);
    StreamConfigRequest nack = cp.nextRequest(WAIT);

    assertThat(nack.getErrorDetail().getCode()).isEqualTo(Code.FAILED_PRECONDITION_VALUE);
    assertThat(nack.getVersionInfo()).isEqualTo(versionInfo(2));
    assertThat(serving.current().versionInfo()).isEqualTo(versionInfo(2));
  }

  @Test
  void appliesNewerVersionsOnTheSameStream() throws Exception {
    FakeControlPlane cp = controlPlane("cp1");
    ServingConfig serving = new ServingConfig();
    client(serving, List.of(cp.target()), dir.resolve("cache"));
    cp.nextRequest(WAIT);
    cp.send(versionInfo(1), V1);
    cp.nextRequest(WAIT);

    cp.send(versionInfo(2), V2);
    StreamConfigRequest ack = cp.nextRequest(WAIT);

    assertThat(ack.getVersionInfo()).isEqualTo(versionInfo(2));
    assertThat(serving.current().routes().model("m2")).isNotNull();
  }

  @Test
  void connectsToTheNextTargetWhenTheFirstIsDown() throws Exception {
    FakeControlPlane cp = controlPlane("cp2");
    ServingConfig serving = new ServingConfig();
    client(serving, List.of(deadTarget(), cp.target()), dir.resolve("cache"));

    cp.nextRequest(WAIT);
    cp.send(versionInfo(1), V1);

    assertThat(cp.nextRequest(WAIT).getVersionInfo()).isEqualTo(versionInfo(1));
    assertThat(serving.current().versionInfo()).isEqualTo(versionInfo(1));
  }

  @Test
  void reconnectsToAnotherReplicaAndResumesWithoutAResend() throws Exception {
    FakeControlPlane cp1 = controlPlane("cp1");
    FakeControlPlane cp2 = controlPlane("cp2");
    ServingConfig serving = new ServingConfig();
    client(serving, List.of(cp1.target(), cp2.target()), dir.resolve("cache"));
    cp1.nextRequest(WAIT);
    cp1.send(versionInfo(1), V1);
    cp1.nextRequest(WAIT);

    cp1.close();
    StreamConfigRequest resumed = cp2.nextRequest(WAIT);
    String nonce = cp2.send(versionInfo(1), null);
    StreamConfigRequest ack = cp2.nextRequest(WAIT);

    assertThat(resumed.getNode().getId()).isEqualTo("dp-test");
    assertThat(resumed.getVersionInfo()).isEqualTo(versionInfo(1));
    assertThat(resumed.getAppliedDigest()).isEqualTo(V1.getDigest());
    assertThat(resumed.getConfigSource()).isEqualTo(ConfigSource.CONFIG_SOURCE_CONTROL_PLANE);
    assertThat(ack.getResponseNonce()).isEqualTo(nonce);
    assertThat(ack.getVersionInfo()).isEqualTo(versionInfo(1));
    assertThat(ack.hasErrorDetail()).isFalse();
    assertThat(serving.current().versionInfo()).isEqualTo(versionInfo(1));
  }

  @Test
  void otherCallsToTheControlPlaneFollowTheConfigStreamToAnotherReplica() throws Exception {
    FakeControlPlane cp1 = controlPlane("cp1");
    FakeControlPlane cp2 = controlPlane("cp2");
    DiscoveryClient client =
        client(new ServingConfig(), List.of(cp1.target(), cp2.target()), dir.resolve("cache"));
    LeaseQuotaRequest lease =
        LeaseQuotaRequest.newBuilder().setNode(Node.newBuilder().setId("dp-test")).build();
    cp1.nextRequest(WAIT);

    StatusRuntimeException toCp1 = leaseQuota(client, lease);
    cp1.close();
    cp2.nextRequest(WAIT);
    StatusRuntimeException toCp2 = leaseQuota(client, lease);

    assertThat(cp1.nextLeaseRequest(WAIT)).isEqualTo(lease);
    assertThat(cp2.nextLeaseRequest(WAIT)).isEqualTo(lease);
    assertThat(toCp1.getStatus().getDescription()).isEqualTo("cp1 leases no shares");
    assertThat(toCp2.getStatus().getDescription()).isEqualTo("cp2 leases no shares");
  }

  private static StatusRuntimeException leaseQuota(DiscoveryClient client, LeaseQuotaRequest r) {
    return catchThrowableOfType(
        StatusRuntimeException.class,
        () ->
            DiscoveryServiceGrpc.newBlockingStub(client.channel())
                .withDeadlineAfter(WAIT.toMillis(), TimeUnit.MILLISECONDS)
                .leaseQuota(r));
  }

  @Test
  void keepsServingItsConfigWhileNoControlPlaneIsReachable() throws Exception {
    FakeControlPlane cp = controlPlane("cp1");
    ServingConfig serving = new ServingConfig();
    client(serving, List.of(cp.target()), dir.resolve("cache"));
    cp.nextRequest(WAIT);
    cp.send(versionInfo(1), V1);
    cp.nextRequest(WAIT);

    cp.close();
    Thread.sleep(300); // several reconnect attempts fail meanwhile

    assertThat(serving.current().versionInfo()).isEqualTo(versionInfo(1));
  }

  @Test
  void bootsFromTheCacheFileWhenNoControlPlaneAnswers() throws Exception {
    Path cache = dir.resolve("state/config.bin");
    FakeControlPlane cp = controlPlane("cp1");
    ServingConfig first = new ServingConfig();
    DiscoveryClient firstClient = client(first, List.of(cp.target()), cache);
    cp.nextRequest(WAIT);
    cp.send(versionInfo(2), V2);
    cp.nextRequest(WAIT);
    firstClient.close();
    cp.close();

    ServingConfig restarted = new ServingConfig();
    client(restarted, List.of(deadTarget()), cache);

    assertThat(restarted.awaitFirst(WAIT)).isTrue();
    assertThat(restarted.current().versionInfo()).isEqualTo(versionInfo(2));
    assertThat(restarted.current().digest()).isEqualTo(V2.getDigest());
    assertThat(restarted.current().source()).isEqualTo(ConfigSource.CONFIG_SOURCE_FILE_CACHE);
    assertThat(restarted.current().routes().model("m2")).isNotNull();
  }

  @Test
  void reportsTheCachedVersionSoAnUnchangedNodeGetsNoResend() throws Exception {
    Path cache = dir.resolve("config.bin");
    new SnapshotFile(cache).write(versionInfo(1), V1);
    FakeControlPlane cp = controlPlane("cp1");
    ServingConfig serving = new ServingConfig();
    client(serving, List.of(cp.target()), cache);

    StreamConfigRequest first = cp.nextRequest(WAIT);
    cp.send(versionInfo(1), null);
    StreamConfigRequest ack = cp.nextRequest(WAIT);

    assertThat(first.getVersionInfo()).isEqualTo(versionInfo(1));
    assertThat(first.getAppliedDigest()).isEqualTo(V1.getDigest());
    assertThat(first.getConfigSource()).isEqualTo(ConfigSource.CONFIG_SOURCE_FILE_CACHE);
    assertThat(ack.getVersionInfo()).isEqualTo(versionInfo(1));
    assertThat(ack.hasErrorDetail()).isFalse();
    assertThat(serving.current().source()).isEqualTo(ConfigSource.CONFIG_SOURCE_CONTROL_PLANE);
  }

  @Test
  void asksForAFullSnapshotWhenTheControlPlaneAssumesContentTheNodeLacks() throws Exception {
    FakeControlPlane cp = controlPlane("cp1");
    ServingConfig serving = new ServingConfig();
    client(serving, List.of(cp.target()), dir.resolve("cache"));
    cp.nextRequest(WAIT);

    cp.send(versionInfo(5), null);
    StreamConfigRequest reopened = cp.nextRequest(WAIT);

    assertThat(reopened.hasNode()).isTrue();
    assertThat(reopened.getVersionInfo()).isEmpty();
    assertThat(cp.streamsOpened()).isEqualTo(2);
    assertThat(serving.current()).isNull();
  }

  @Test
  void savesEveryAppliedSnapshotToTheCacheFile() throws Exception {
    Path cache = dir.resolve("config.bin");
    FakeControlPlane cp = controlPlane("cp1");
    client(new ServingConfig(), List.of(cp.target()), cache);
    cp.nextRequest(WAIT);
    cp.send(versionInfo(1), V1);
    cp.nextRequest(WAIT);
    cp.send(versionInfo(3), BROKEN);
    cp.nextRequest(WAIT);

    var saved = new SnapshotFile(cache).read();

    assertThat(saved.getVersionInfo()).isEqualTo(versionInfo(1));
    assertThat(saved.getSnapshot()).isEqualTo(V1);
    assertThat(Files.list(dir)).containsExactly(cache);
  }

  /** An address where nothing listens. */
  private static String deadTarget() throws IOException {
    try (ServerSocket socket = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      return "127.0.0.1:" + socket.getLocalPort();
    }
  }
}
