package dev.sluice.controlplane.discovery;

import static dev.sluice.controlplane.ControlPlaneExtension.reason;
import static dev.sluice.controlplane.Fixtures.mockBackend;
import static dev.sluice.controlplane.Fixtures.model;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import com.google.protobuf.util.Durations;
import dev.sluice.admin.v1.ApplyChangesRequest;
import dev.sluice.admin.v1.Change;
import dev.sluice.admin.v1.GetFleetStatusRequest;
import dev.sluice.admin.v1.GetFleetStatusResponse;
import dev.sluice.admin.v1.NodeSelector;
import dev.sluice.admin.v1.NodeStateCount;
import dev.sluice.admin.v1.NodeStatus;
import dev.sluice.admin.v1.NodeSyncState;
import dev.sluice.admin.v1.WaitForFleetVersionRequest;
import dev.sluice.admin.v1.WaitForFleetVersionResponse;
import dev.sluice.config.v1.Resource;
import dev.sluice.controlplane.ControlPlaneExtension;
import dev.sluice.controlplane.snapshot.Snapshot;
import dev.sluice.controlplane.snapshot.VersionInfo;
import dev.sluice.discovery.v1.ConfigSource;
import dev.sluice.discovery.v1.DiscoveryServiceGrpc;
import dev.sluice.discovery.v1.LeaseQuotaRequest;
import dev.sluice.discovery.v1.Node;
import dev.sluice.discovery.v1.StreamConfigRequest;
import dev.sluice.discovery.v1.StreamConfigResponse;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

@Timeout(60)
class DiscoveryServiceTest {
  private static final Duration QUIET = Duration.ofMillis(400);

  @RegisterExtension final ControlPlaneExtension cp = ControlPlaneExtension.create();

  private final List<TestNode> nodes = new java.util.ArrayList<>();

  @AfterEach
  void disconnectNodes() {
    nodes.forEach(TestNode::cancel);
  }

  @Test
  void aNewNodeGetsTheNewestSnapshotAtOnce() throws Exception {
    long version = applyAndPublish(mockBackend("mock"), model("chat", "mock"));

    TestNode node = connect("dp-1");
    StreamConfigResponse response = node.next();

    Snapshot published = cp.controlPlane().snapshots().current();
    assertThat(response.getVersionInfo()).isEqualTo(VersionInfo.format(published.epoch(), version));
    assertThat(response.getNonce()).isNotEmpty();
    assertThat(response.getControlPlaneId()).isEqualTo("cp-test");
    assertThat(response.getSnapshot().getVersion()).isEqualTo(version);
    assertThat(response.getSnapshot().getResourcesCount()).isEqualTo(2);
    assertThat(response.getSnapshot().getDigest()).isEqualTo(published.digest());
  }

  @Test
  void anAckMakesTheNodeSynced() throws Exception {
    long version = applyAndPublish(mockBackend("mock"));
    TestNode node = connect("dp-1");

    node.ack(node.next());

    NodeStatus status = awaitNodeState("dp-1", NodeSyncState.NODE_SYNC_STATE_SYNCED);
    assertThat(status.getAppliedVersion()).isEqualTo(version);
    assertThat(status.getSentVersion()).isEqualTo(version);
    assertThat(status.getConfigSource()).isEqualTo(ConfigSource.CONFIG_SOURCE_CONTROL_PLANE);
    assertThat(status.getControlPlaneId()).isEqualTo("cp-test");
    assertThat(status.hasLastSeenTime()).isTrue();
    assertThat(waitFor(version, Duration.ofSeconds(5)).getConverged()).isTrue();
  }

  @Test
  void aNackIsRecordedAsErrorAndTheRejectedVersionIsNeverResent() throws Exception {
    applyAndPublish(mockBackend("mock"));
    TestNode node = connect("dp-1");
    StreamConfigResponse first = node.next();
    node.ack(first);
    long rejected = applyAndPublish(mockBackend("mock", "breaks the node"));
    StreamConfigResponse second = node.next();

    node.nack(second, first.getVersionInfo(), "backend/mock: cannot warm");

    NodeStatus status = awaitNodeState("dp-1", NodeSyncState.NODE_SYNC_STATE_ERROR);
    assertThat(status.getRejectedVersion()).isEqualTo(rejected);
    assertThat(status.getAppliedVersion()).isEqualTo(first.getSnapshot().getVersion());
    assertThat(status.getErrorDetail().getMessage()).isEqualTo("backend/mock: cannot warm");
    // A stale nonce only refreshes liveness; nothing is resent.
    node.send(StreamConfigRequest.newBuilder().setResponseNonce(first.getNonce()).build());
    node.expectNothingFor(QUIET);
    WaitForFleetVersionResponse wait = waitFor(rejected, Duration.ofSeconds(30));
    assertThat(wait.getConverged()).isFalse();
    assertThat(wait.getLaggingNodesList())
        .extracting(NodeStatus::getState)
        .containsExactly(NodeSyncState.NODE_SYNC_STATE_ERROR);
  }

  @Test
  void aNewerVersionIsSentAfterANack() throws Exception {
    applyAndPublish(mockBackend("mock"));
    TestNode node = connect("dp-1");
    StreamConfigResponse first = node.next();
    node.ack(first);
    applyAndPublish(mockBackend("mock", "bad"));
    node.nack(node.next(), first.getVersionInfo(), "rejected");

    long fixed = applyAndPublish(mockBackend("mock", "fixed"));
    StreamConfigResponse third = node.next();
    node.ack(third);

    assertThat(third.getSnapshot().getVersion()).isEqualTo(fixed);
    NodeStatus status = awaitNodeState("dp-1", NodeSyncState.NODE_SYNC_STATE_SYNCED);
    assertThat(status.getAppliedVersion()).isEqualTo(fixed);
  }

  @Test
  void aLaggingNodeGetsOnlyTheNewestVersion() throws Exception {
    applyAndPublish(mockBackend("mock"));
    TestNode node = connect("dp-1");
    StreamConfigResponse first = node.next();
    applyAndPublish(mockBackend("mock", "2"));
    applyAndPublish(mockBackend("mock", "3"));
    long newest = applyAndPublish(mockBackend("mock", "4"));

    // At most one unacknowledged response: nothing more until the ACK.
    node.expectNothingFor(QUIET);
    assertThat(nodeStatus("dp-1").getState()).isEqualTo(NodeSyncState.NODE_SYNC_STATE_STALE);
    node.ack(first);
    StreamConfigResponse next = node.next();

    assertThat(next.getSnapshot().getVersion()).isEqualTo(newest);
    assertThat(next.getNonce()).isNotEqualTo(first.getNonce());
  }

  @Test
  void aNodeReconnectingWithTheSameDigestGetsNoSnapshot() throws Exception {
    applyAndPublish(mockBackend("mock"));
    TestNode first = connect("dp-1");
    StreamConfigResponse served = first.next();
    first.ack(served);
    first.disconnect();

    TestNode again =
        track(
            TestNode.connect(
                cp.discovery(),
                Node.newBuilder().setId("dp-1").build(),
                served.getVersionInfo(),
                served.getSnapshot().getDigest()));
    StreamConfigResponse response = again.next();

    assertThat(response.hasSnapshot()).isFalse();
    assertThat(response.getVersionInfo()).isEqualTo(served.getVersionInfo());
    again.ack(response);
    awaitNodeState("dp-1", NodeSyncState.NODE_SYNC_STATE_SYNCED);
  }

  @Test
  void aNodeReportingTheSameVersionWithAnotherDigestGetsTheFullSnapshot() throws Exception {
    applyAndPublish(mockBackend("mock"));
    String versionInfo = cp.controlPlane().snapshots().current().versionInfo();

    TestNode node =
        track(
            TestNode.connect(
                cp.discovery(), Node.newBuilder().setId("dp-1").build(), versionInfo, "bogus"));

    assertThat(node.next().hasSnapshot()).isTrue();
  }

  @Test
  void aNodeAheadOfThisReplicaIsNeverSentAnOlderVersion() throws Exception {
    applyAndPublish(mockBackend("mock"));
    long epoch = cp.controlPlane().snapshots().current().epoch();

    TestNode node =
        track(
            TestNode.connect(
                cp.discovery(),
                Node.newBuilder().setId("dp-1").build(),
                VersionInfo.format(epoch, 42),
                "digest-from-another-replica"));

    node.expectNothingFor(QUIET);
  }

  @Test
  void aNodeFromAnotherEpochGetsAFullSnapshotEvenIfItsVersionIsHigher() throws Exception {
    long version = applyAndPublish(mockBackend("mock"));
    long epoch = cp.controlPlane().snapshots().current().epoch();

    TestNode node =
        track(
            TestNode.connect(
                cp.discovery(),
                Node.newBuilder().setId("dp-1").build(),
                VersionInfo.format(epoch ^ 1, 42),
                "old"));

    assertThat(node.next().getSnapshot().getVersion()).isEqualTo(version);
  }

  @Test
  void theEmptyConfigOfAFreshStoreIsNeverPushedOverANodesConfig() throws Exception {
    TestNode withConfig =
        track(
            TestNode.connect(
                cp.discovery(), Node.newBuilder().setId("dp-1").build(), "abc.5", "cached"));
    TestNode without = connect("dp-2");

    assertThat(without.next().getSnapshot().getVersion()).isZero();
    withConfig.expectNothingFor(QUIET);
  }

  @Test
  void aStreamWithoutAValidNodeIdIsRejected() throws Exception {
    TestNode node = connect("not a valid id!");

    Status status = node.awaitEnd();

    assertThat(status.getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
    assertThat(status.getDescription()).contains("node.id");
  }

  @Test
  void aDisconnectedNodeIsReportedAsDisconnected() throws Exception {
    applyAndPublish(mockBackend("mock"));
    TestNode node = connect("dp-1");
    node.ack(node.next());
    awaitNodeState("dp-1", NodeSyncState.NODE_SYNC_STATE_SYNCED);

    node.cancel();

    awaitNodeState("dp-1", NodeSyncState.NODE_SYNC_STATE_DISCONNECTED);
    assertThat(waitFor(1, Duration.ofSeconds(1)).getSelectedNodeCount()).isZero();
  }

  @Test
  void waitForFleetVersionReturnsOnceEveryNodeAcks() throws Exception {
    applyAndPublish(mockBackend("mock"));
    TestNode a = connect("dp-a");
    TestNode b = connect("dp-b");
    StreamConfigResponse toA = a.next();
    StreamConfigResponse toB = b.next();
    var pending =
        new java.util.concurrent.CompletableFuture<WaitForFleetVersionResponse>();
    cp.adminAsync()
        .waitForFleetVersion(
            WaitForFleetVersionRequest.newBuilder()
                .setConfigVersion(toA.getSnapshot().getVersion())
                .setTimeout(Durations.fromSeconds(30))
                .build(),
            new io.grpc.stub.StreamObserver<>() {
              @Override
              public void onNext(WaitForFleetVersionResponse value) {
                pending.complete(value);
              }

              @Override
              public void onError(Throwable t) {
                pending.completeExceptionally(t);
              }

              @Override
              public void onCompleted() {}
            });

    a.ack(toA);
    Thread.sleep(QUIET.toMillis());
    assertThat(pending).isNotDone();
    b.ack(toB);

    WaitForFleetVersionResponse response = pending.get(10, TimeUnit.SECONDS);
    assertThat(response.getConverged()).isTrue();
    assertThat(response.getSelectedNodeCount()).isEqualTo(2);
    assertThat(response.getConvergedNodeCount()).isEqualTo(2);
  }

  @Test
  void waitForFleetVersionTimesOutWithTheLaggingNodes() throws Exception {
    long version = applyAndPublish(mockBackend("mock"));
    TestNode node = connect("dp-1");
    node.next();

    WaitForFleetVersionResponse response = waitFor(version, Duration.ofMillis(300));

    assertThat(response.getConverged()).isFalse();
    assertThat(response.getLaggingNodesList()).extracting(s -> s.getNode().getId()).containsExactly("dp-1");
  }

  @Test
  void aWaitWithAMinimumNodeCountDoesNotConvergeOnAnEmptyFleetButOnceANodeServesTheVersion()
      throws Exception {
    long version = applyAndPublish(mockBackend("mock"));
    WaitForFleetVersionRequest atLeastOne =
        WaitForFleetVersionRequest.newBuilder()
            .setConfigVersion(version)
            .setMinNodeCount(1)
            .setTimeout(Durations.fromSeconds(30))
            .build();

    WaitForFleetVersionResponse empty =
        cp.admin()
            .waitForFleetVersion(atLeastOne.toBuilder().setTimeout(Durations.fromMillis(300)).build());
    var pending =
        java.util.concurrent.CompletableFuture.supplyAsync(
            () -> cp.admin().waitForFleetVersion(atLeastOne));
    TestNode node = connect("dp-1");
    node.ack(node.next());

    assertThat(waitFor(version, Duration.ofMillis(300)).getConverged()).isTrue();
    assertThat(empty.getConverged()).isFalse();
    assertThat(empty.getSelectedNodeCount()).isZero();
    WaitForFleetVersionResponse served = pending.get(10, TimeUnit.SECONDS);
    assertThat(served.getConverged()).isTrue();
    assertThat(served.getConvergedNodeCount()).isEqualTo(1);
  }

  @Test
  void aNegativeMinimumNodeCountIsInvalid() {
    StatusRuntimeException e =
        catchThrowableOfType(
            StatusRuntimeException.class,
            () ->
                cp.admin()
                    .waitForFleetVersion(
                        WaitForFleetVersionRequest.newBuilder()
                            .setConfigVersion(1)
                            .setMinNodeCount(-1)
                            .build()));

    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
    assertThat(e.getStatus().getDescription()).contains("min_node_count");
  }

  @Test
  void waitForAVersionAboveTheCurrentOneIsOutOfRange() {
    StatusRuntimeException e =
        catchThrowableOfType(StatusRuntimeException.class, () -> waitFor(5, Duration.ofSeconds(1)));

    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.OUT_OF_RANGE);
  }

  @Test
  void fleetStatusSelectsAndCountsNodes() throws Exception {
    applyAndPublish(mockBackend("mock"));
    TestNode east = track(TestNode.connect(cp.discovery(), node("dp-east", "east"), "", ""));
    TestNode west = track(TestNode.connect(cp.discovery(), node("dp-west", "west"), "", ""));
    east.ack(east.next());
    west.next();
    awaitNodeState("dp-east", NodeSyncState.NODE_SYNC_STATE_SYNCED);

    GetFleetStatusResponse all = cp.admin().getFleetStatus(GetFleetStatusRequest.getDefaultInstance());
    GetFleetStatusResponse eastOnly =
        cp.admin()
            .getFleetStatus(
                GetFleetStatusRequest.newBuilder()
                    .setSelector(NodeSelector.newBuilder().setCluster("east"))
                    .build());
    GetFleetStatusResponse firstPage =
        cp.admin().getFleetStatus(GetFleetStatusRequest.newBuilder().setPageSize(1).build());
    GetFleetStatusResponse secondPage =
        cp.admin()
            .getFleetStatus(
                GetFleetStatusRequest.newBuilder()
                    .setPageSize(1)
                    .setPageToken(firstPage.getNextPageToken())
                    .build());

    assertThat(all.getNodesList()).extracting(s -> s.getNode().getId()).containsExactly("dp-east", "dp-west");
    assertThat(all.getStateCountsList())
        .containsExactlyInAnyOrder(
            NodeStateCount.newBuilder()
                .setState(NodeSyncState.NODE_SYNC_STATE_SYNCED)
                .setNodeCount(1)
                .build(),
            NodeStateCount.newBuilder()
                .setState(NodeSyncState.NODE_SYNC_STATE_STALE)
                .setNodeCount(1)
                .build());
    assertThat(eastOnly.getNodesList()).extracting(s -> s.getNode().getId()).containsExactly("dp-east");
    assertThat(firstPage.getNodesList()).extracting(s -> s.getNode().getId()).containsExactly("dp-east");
    assertThat(secondPage.getNodesList()).extracting(s -> s.getNode().getId()).containsExactly("dp-west");
    assertThat(secondPage.getNextPageToken()).isEmpty();
  }

  @Test
  void closingTheControlPlaneEndsStreamsWithUnavailable() throws Exception {
    applyAndPublish(mockBackend("mock"));
    TestNode node = connect("dp-1");
    node.next();

    cp.controlPlane().close();

    assertThat(node.awaitEnd().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
  }

  @Test
  void leaseQuotaRejectsARequestWithoutANode() {
    StatusRuntimeException e =
        catchThrowableOfType(
            StatusRuntimeException.class,
            () ->
                DiscoveryServiceGrpc.newBlockingStub(cp.channel())
                    .withDeadlineAfter(10, TimeUnit.SECONDS)
                    .leaseQuota(LeaseQuotaRequest.getDefaultInstance()));

    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
  }

  // ---- helpers

  private TestNode connect(String id) {
    return track(TestNode.connect(cp.discovery(), id));
  }

  private TestNode track(TestNode node) {
    nodes.add(node);
    return node;
  }

  private static Node node(String id, String cluster) {
    return Node.newBuilder().setId(id).setCluster(cluster).build();
  }

  /** Applies the resources and waits until their version is the published snapshot. */
  private long applyAndPublish(Resource... resources) throws InterruptedException {
    ApplyChangesRequest.Builder request = ApplyChangesRequest.newBuilder();
    for (Resource resource : resources) {
      request.addChanges(Change.newBuilder().setUpsert(resource));
    }
    long version = cp.admin().applyChanges(request.build()).getConfigVersion();
    waitUntil(
        () -> {
          Snapshot s = cp.controlPlane().snapshots().current();
          return s != null && s.version() >= version;
        });
    return version;
  }

  private WaitForFleetVersionResponse waitFor(long version, Duration timeout) {
    return cp.admin()
        .waitForFleetVersion(
            WaitForFleetVersionRequest.newBuilder()
                .setConfigVersion(version)
                .setTimeout(Durations.fromMillis(timeout.toMillis()))
                .build());
  }

  private NodeStatus nodeStatus(String id) {
    return cp.admin().getFleetStatus(GetFleetStatusRequest.getDefaultInstance()).getNodesList().stream()
        .filter(s -> s.getNode().getId().equals(id))
        .findFirst()
        .orElseThrow(() -> new AssertionError("no status for node " + id));
  }

  private NodeStatus awaitNodeState(String id, NodeSyncState state) throws InterruptedException {
    waitUntil(
        () ->
            cp.controlPlane().fleet().nodes().stream()
                .anyMatch(n -> n.nodeId().equals(id) && n.status().getState() == state));
    return nodeStatus(id);
  }

  private static void waitUntil(BooleanSupplier condition) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("condition not reached within 20 s");
      }
      Thread.sleep(5);
    }
  }
}
