package dev.sluice.controlplane;

import static dev.sluice.controlplane.Fixtures.mockBackend;
import static dev.sluice.controlplane.Fixtures.model;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;
import static org.assertj.core.groups.Tuple.tuple;

import com.google.protobuf.util.Durations;
import dev.sluice.admin.v1.AdminServiceGrpc;
import dev.sluice.admin.v1.ApplyChangesRequest;
import dev.sluice.admin.v1.ApplyChangesResponse;
import dev.sluice.admin.v1.Change;
import dev.sluice.admin.v1.ChangeRecord;
import dev.sluice.admin.v1.GetFleetStatusRequest;
import dev.sluice.admin.v1.GetResourceRequest;
import dev.sluice.admin.v1.ListHistoryRequest;
import dev.sluice.admin.v1.NodeStateCount;
import dev.sluice.admin.v1.NodeStatus;
import dev.sluice.admin.v1.NodeSyncState;
import dev.sluice.admin.v1.RollbackRequest;
import dev.sluice.admin.v1.RollbackResponse;
import dev.sluice.admin.v1.WaitForFleetVersionRequest;
import dev.sluice.admin.v1.WaitForFleetVersionResponse;
import dev.sluice.config.v1.Resource;
import dev.sluice.config.v1.ResourceKind;
import dev.sluice.controlplane.snapshot.Snapshot;
import dev.sluice.controlplane.store.ConfigStore;
import dev.sluice.controlplane.store.etcd.EtcdConfigStore;
import dev.sluice.controlplane.store.etcd.EtcdStoreOptions;
import dev.sluice.discovery.v1.ConfigSource;
import dev.sluice.discovery.v1.DiscoveryServiceGrpc;
import dev.sluice.discovery.v1.Node;
import dev.sluice.discovery.v1.StreamConfigRequest;
import dev.sluice.discovery.v1.StreamConfigResponse;
import dev.sluice.testing.etcd.EtcdExtension;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.MetadataUtils;
import io.grpc.stub.StreamObserver;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The control plane on its production store: two replicas, each with its own etcd client, over
 * one real etcd (active-active), each test under a fresh key prefix.
 */
@Timeout(120)
class ControlPlaneOnEtcdTest {
  @RegisterExtension static final EtcdExtension etcd = EtcdExtension.create();

  private final List<AutoCloseable> toClose = new ArrayList<>();
  private Replica first;
  private Replica second;

  private record Replica(ControlPlane controlPlane, ManagedChannel channel) {
    AdminServiceGrpc.AdminServiceBlockingStub admin() {
      Metadata headers = new Metadata();
      headers.put(
          Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER),
          "Bearer " + ControlPlaneExtension.ADMIN_TOKEN);
      return AdminServiceGrpc.newBlockingStub(channel)
          .withDeadlineAfter(20, TimeUnit.SECONDS)
          .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers));
    }

    Snapshot snapshot() {
      return controlPlane.snapshots().current();
    }
  }

  @BeforeEach
  void startReplicas() throws Exception {
    String prefix = "/sluice-cp-test/" + UUID.randomUUID() + "/";
    first = replica("cp-a", prefix);
    second = replica("cp-b", prefix);
  }

  @AfterEach
  void stopAll() throws Exception {
    for (int i = toClose.size() - 1; i >= 0; i--) {
      toClose.get(i).close();
    }
  }

  @Test
  void aChangeAppliedThroughOneReplicaReachesBothWithTheSameDigest() throws Exception {
    long version = apply(first, mockBackend("mock"), model("chat", "mock")).getConfigVersion();

    waitUntil(() -> atLeast(first, version) && atLeast(second, version));

    assertThat(second.snapshot().version()).isEqualTo(first.snapshot().version());
    assertThat(second.snapshot().digest()).isEqualTo(first.snapshot().digest());
    assertThat(second.snapshot().versionInfo()).isEqualTo(first.snapshot().versionInfo());
    Resource read =
        second
            .admin()
            .getResource(
                GetResourceRequest.newBuilder()
                    .setRef(Fixtures.ref(ResourceKind.RESOURCE_KIND_MODEL, "chat"))
                    .build())
            .getResource();
    assertThat(read.getModel().getVersion()).isEqualTo(version);
  }

  @Test
  void aNodeMovingToTheOtherReplicaResumesWithoutAResend() throws Exception {
    long version = apply(first, mockBackend("mock")).getConfigVersion();
    waitUntil(() -> atLeast(first, version) && atLeast(second, version));
    BlockingQueue<StreamConfigResponse> fromFirst = new LinkedBlockingQueue<>();
    StreamObserver<StreamConfigRequest> toFirst = open(first, fromFirst);
    toFirst.onNext(
        StreamConfigRequest.newBuilder().setNode(Node.newBuilder().setId("dp-1")).build());
    StreamConfigResponse full = fromFirst.poll(20, TimeUnit.SECONDS);
    assertThat(full).isNotNull();
    assertThat(full.hasSnapshot()).isTrue();
    toFirst.onCompleted();

    BlockingQueue<StreamConfigResponse> fromSecond = new LinkedBlockingQueue<>();
    StreamObserver<StreamConfigRequest> toSecond = open(second, fromSecond);
    toSecond.onNext(
        StreamConfigRequest.newBuilder()
            .setNode(Node.newBuilder().setId("dp-1"))
            .setVersionInfo(full.getVersionInfo())
            .setAppliedDigest(full.getSnapshot().getDigest())
            .build());
    StreamConfigResponse resumed = fromSecond.poll(20, TimeUnit.SECONDS);

    assertThat(resumed).isNotNull();
    assertThat(resumed.hasSnapshot()).isFalse();
    assertThat(resumed.getVersionInfo()).isEqualTo(full.getVersionInfo());
    assertThat(resumed.getControlPlaneId()).isEqualTo("cp-b");
    toSecond.onCompleted();
  }

  @Test
  void writersRacingThroughBothReplicasEachCommitExactlyOnce() throws Exception {
    int writers = 6;
    ExecutorService pool = Executors.newFixedThreadPool(writers);
    try {
      List<Future<Long>> results = new ArrayList<>();
      for (int i = 0; i < writers; i++) {
        Replica replica = i % 2 == 0 ? first : second;
        Resource backend = mockBackend("backend-" + i);
        results.add(pool.submit(() -> apply(replica, backend).getConfigVersion()));
      }
      List<Long> versions = new ArrayList<>();
      for (Future<Long> result : results) {
        versions.add(result.get(60, TimeUnit.SECONDS));
      }

      assertThat(versions).doesNotHaveDuplicates();
      assertThat(first.admin().listHistory(ListHistoryRequest.getDefaultInstance()).getChangesList())
          .hasSize(writers);
    } finally {
      pool.shutdownNow();
    }
  }

  @Test
  void staleVersionsAbortRetriesAreIdempotentAndRollbackMovesForward() {
    long v1 = apply(first, mockBackend("mock")).getConfigVersion();
    ApplyChangesRequest change =
        ApplyChangesRequest.newBuilder()
            .addChanges(
                Change.newBuilder().setUpsert(mockBackend("mock", "v2")).setExpectedVersion(v1))
            .setRequestId("change-2")
            .setAuthor("alice")
            .build();
    ApplyChangesResponse applied = first.admin().applyChanges(change);

    ApplyChangesResponse retried = second.admin().applyChanges(change);
    StatusRuntimeException stale =
        catchThrowableOfType(
            StatusRuntimeException.class,
            () ->
                second
                    .admin()
                    .applyChanges(
                        change.toBuilder().setRequestId("change-3").build()));
    RollbackResponse rollback =
        second.admin().rollback(RollbackRequest.newBuilder().setToVersion(v1).build());

    assertThat(retried).isEqualTo(applied);
    assertThat(stale.getStatus().getCode()).isEqualTo(Status.Code.ABORTED);
    assertThat(rollback.getConfigVersion()).isGreaterThan(applied.getConfigVersion());
    List<ChangeRecord> history =
        first.admin().listHistory(ListHistoryRequest.getDefaultInstance()).getChangesList();
    assertThat(history).hasSize(3);
    assertThat(history.get(0).getRollbackToVersion()).isEqualTo(v1);
    assertThat(history.get(1).getAuthor()).isEqualTo("alice");
    assertThat(history.get(1).getPrincipal()).isEqualTo(ControlPlaneExtension.PRINCIPAL);
  }

  /**
   * admin_service.proto: GetFleetStatus reports the nodes "merged from all control-plane replicas".
   * Each replica holds the stream of one node; an operator asking either sees both, each as the
   * replica holding it reported it.
   */
  @Test
  void fleetStatusOnEitherReplicaListsTheNodesOfBoth() throws Exception {
    long version = apply(first, mockBackend("mock")).getConfigVersion();
    waitUntil(() -> atLeast(first, version) && atLeast(second, version));
    connectAndAck(first, "dp-a");
    connectAndAck(second, "dp-b");

    waitUntil(() -> nodeIds(first).equals(List.of("dp-a", "dp-b")));
    waitUntil(() -> nodeIds(second).equals(List.of("dp-a", "dp-b")));
    waitUntil(
        () ->
            fleet(first).stream()
                .allMatch(n -> n.getState() == NodeSyncState.NODE_SYNC_STATE_SYNCED));

    assertThat(fleet(first))
        .extracting(
            n -> n.getNode().getId(), NodeStatus::getControlPlaneId, NodeStatus::getAppliedVersion)
        .containsExactly(tuple("dp-a", "cp-a", version), tuple("dp-b", "cp-b", version));
    assertThat(
            first
                .admin()
                .getFleetStatus(GetFleetStatusRequest.getDefaultInstance())
                .getStateCountsList())
        .containsExactly(
            NodeStateCount.newBuilder()
                .setState(NodeSyncState.NODE_SYNC_STATE_SYNCED)
                .setNodeCount(2)
                .build());
  }

  /** WaitForFleetVersion on one replica waits for, and reports, the nodes of the other too. */
  @Test
  void waitForFleetVersionOnOneReplicaReportsANodeOfTheOtherThatRejectedTheVersion()
      throws Exception {
    long good = apply(first, mockBackend("mock")).getConfigVersion();
    waitUntil(() -> atLeast(first, good) && atLeast(second, good));
    NodeStream onFirst = connectAndAck(first, "dp-a");
    NodeStream onSecond = connectAndAck(second, "dp-b");
    waitUntil(() -> nodeIds(first).equals(List.of("dp-a", "dp-b")));

    long refused = apply(second, mockBackend("mock", "refused by dp-b")).getConfigVersion();
    onFirst.ack(onFirst.next(refused));
    onSecond.nack(onSecond.next(refused), good, "backend mock: not on this build");
    waitUntil(
        () ->
            first.controlPlane().fleet().nodes().stream()
                .anyMatch(n -> n.served() != null && n.served().version() == refused));
    WaitForFleetVersionResponse wait =
        first
            .admin()
            .waitForFleetVersion(
                WaitForFleetVersionRequest.newBuilder()
                    .setConfigVersion(refused)
                    .setTimeout(Durations.fromSeconds(15))
                    .build());

    assertThat(wait.getConverged()).isFalse();
    assertThat(wait.getSelectedNodeCount()).isEqualTo(2);
    assertThat(wait.getLaggingNodesList())
        .extracting(n -> n.getNode().getId(), NodeStatus::getState, NodeStatus::getRejectedVersion)
        .containsExactly(tuple("dp-b", NodeSyncState.NODE_SYNC_STATE_ERROR, refused));
    assertThat(wait.getLaggingNodes(0).getErrorDetail().getMessage())
        .isEqualTo("backend mock: not on this build");
  }

  /** A replica that stops withdraws its record: the other no longer reports its nodes. */
  @Test
  void theNodesOfAStoppedReplicaLeaveTheOthersFleetStatus() throws Exception {
    long version = apply(first, mockBackend("mock")).getConfigVersion();
    waitUntil(() -> atLeast(first, version) && atLeast(second, version));
    connectAndAck(first, "dp-a");
    connectAndAck(second, "dp-b");
    waitUntil(() -> nodeIds(first).equals(List.of("dp-a", "dp-b")));

    second.controlPlane().close();

    waitUntil(() -> nodeIds(first).equals(List.of("dp-a")));
  }

  // ---- helpers

  /** A hand-driven data-plane stream: its responses, and the ACKs and NACKs sent on it. */
  private record NodeStream(
      StreamObserver<StreamConfigRequest> requests, BlockingQueue<StreamConfigResponse> responses) {
    /** The next response, which must carry {@code version}. */
    StreamConfigResponse next(long version) throws InterruptedException {
      StreamConfigResponse response = responses.poll(20, TimeUnit.SECONDS);
      assertThat(response).as("a response within 20 s").isNotNull();
      assertThat(response.getVersionInfo()).endsWith("." + version);
      return response;
    }

    void ack(StreamConfigResponse response) {
      requests.onNext(
          StreamConfigRequest.newBuilder()
              .setVersionInfo(response.getVersionInfo())
              .setResponseNonce(response.getNonce())
              .setAppliedDigest(response.getSnapshot().getDigest())
              .setConfigSource(ConfigSource.CONFIG_SOURCE_CONTROL_PLANE)
              .build());
    }

    void nack(StreamConfigResponse response, long servedVersion, String why) {
      String epoch = response.getVersionInfo().substring(0, response.getVersionInfo().indexOf('.'));
      requests.onNext(
          StreamConfigRequest.newBuilder()
              .setVersionInfo(epoch + "." + servedVersion)
              .setResponseNonce(response.getNonce())
              .setConfigSource(ConfigSource.CONFIG_SOURCE_CONTROL_PLANE)
              .setErrorDetail(
                  com.google.rpc.Status.newBuilder()
                      .setCode(Status.Code.INVALID_ARGUMENT.value())
                      .setMessage(why))
              .build());
    }
  }

  /** Connects node {@code nodeId} to {@code replica} and ACKs the snapshot it gets first. */
  private NodeStream connectAndAck(Replica replica, String nodeId) throws InterruptedException {
    BlockingQueue<StreamConfigResponse> responses = new LinkedBlockingQueue<>();
    StreamObserver<StreamConfigRequest> requests = open(replica, responses);
    toClose.add(requests::onCompleted);
    requests.onNext(
        StreamConfigRequest.newBuilder().setNode(Node.newBuilder().setId(nodeId)).build());
    NodeStream stream = new NodeStream(requests, responses);
    stream.ack(stream.next(replica.snapshot().version()));
    return stream;
  }

  private static List<NodeStatus> fleet(Replica replica) {
    return replica
        .admin()
        .getFleetStatus(GetFleetStatusRequest.getDefaultInstance())
        .getNodesList();
  }

  private static List<String> nodeIds(Replica replica) {
    return fleet(replica).stream().map(n -> n.getNode().getId()).toList();
  }

  private Replica replica(String id, String prefix) throws Exception {
    ConfigStore store =
        EtcdConfigStore.connect(
            EtcdStoreOptions.builder(List.of(etcd.clientEndpoint())).keyPrefix(prefix).build());
    toClose.add(store);
    ControlPlane cp =
        ControlPlane.builder()
            .listenAddress(new InetSocketAddress("127.0.0.1", 0))
            .store(store)
            .adminTokens(Map.of(ControlPlaneExtension.PRINCIPAL, ControlPlaneExtension.ADMIN_TOKEN))
            .controlPlaneId(id)
            .debounce(Duration.ofMillis(10), Duration.ofMillis(50))
            .build();
    toClose.add(cp);
    cp.start();
    assertThat(cp.awaitReady(Duration.ofSeconds(30))).isTrue();
    ManagedChannel channel =
        NettyChannelBuilder.forAddress("127.0.0.1", cp.port()).usePlaintext().build();
    toClose.add(() -> channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS));
    waitUntil(store::isWritable);
    return new Replica(cp, channel);
  }

  private static ApplyChangesResponse apply(Replica replica, Resource... resources) {
    ApplyChangesRequest.Builder request = ApplyChangesRequest.newBuilder();
    for (Resource resource : resources) {
      request.addChanges(Change.newBuilder().setUpsert(resource));
    }
    return replica.admin().applyChanges(request.build());
  }

  private static boolean atLeast(Replica replica, long version) {
    Snapshot s = replica.snapshot();
    return s != null && s.version() >= version;
  }

  private StreamObserver<StreamConfigRequest> open(
      Replica replica, BlockingQueue<StreamConfigResponse> responses) {
    return DiscoveryServiceGrpc.newStub(replica.channel())
        .streamConfig(
            new StreamObserver<>() {
              @Override
              public void onNext(StreamConfigResponse value) {
                responses.add(value);
              }

              @Override
              public void onError(Throwable t) {}

              @Override
              public void onCompleted() {}
            });
  }

  private static void waitUntil(BooleanSupplier condition) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("condition not reached within 30 s");
      }
      Thread.sleep(10);
    }
  }
}
