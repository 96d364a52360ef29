package dev.sluice.integration.controlplane;

import static dev.sluice.integration.controlplane.Cluster.eventually;
import static dev.sluice.integration.controlplane.Configs.MOCK;
import static dev.sluice.integration.controlplane.Configs.chatModel;
import static dev.sluice.integration.controlplane.Configs.geminiBackend;
import static dev.sluice.integration.controlplane.Configs.mockBackend;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;
import static org.assertj.core.groups.Tuple.tuple;

import com.google.rpc.BadRequest;
import com.google.rpc.Code;
import dev.sluice.admin.v1.ApplyChangesRequest;
import dev.sluice.admin.v1.Change;
import dev.sluice.admin.v1.ChangeRecord;
import dev.sluice.admin.v1.ChangeType;
import dev.sluice.admin.v1.GetConfigSnapshotRequest;
import dev.sluice.admin.v1.ListHistoryRequest;
import dev.sluice.admin.v1.NodeStatus;
import dev.sluice.admin.v1.NodeSyncState;
import dev.sluice.admin.v1.ResourceChange;
import dev.sluice.admin.v1.RollbackRequest;
import dev.sluice.admin.v1.RollbackResponse;
import dev.sluice.admin.v1.WaitForFleetVersionResponse;
import dev.sluice.config.v1.BackendKind;
import dev.sluice.config.v1.ConfigSnapshot;
import dev.sluice.config.v1.Resource;
import dev.sluice.config.v1.ResourceKind;
import dev.sluice.controlplane.snapshot.Snapshot;
import dev.sluice.dataplane.provider.ProviderRegistry;
import dev.sluice.dataplane.provider.SecretResolver;
import dev.sluice.dataplane.routing.ProviderLookup;
import dev.sluice.integration.controlplane.Cluster.Node;
import dev.sluice.integration.controlplane.Cluster.Replica;
import dev.sluice.testing.etcd.EtcdExtension;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioSocketChannel;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A config version's way from the admin API to serving data planes on a real etcd: a version the
 * data plane refuses (NACK) and one the control plane refuses first, a rollback, and two replicas
 * that must hand out the same content and report the same fleet.
 */
@Timeout(60)
class ConfigRolloutIT {
  @RegisterExtension static final EtcdExtension etcd = EtcdExtension.create();

  private Cluster cluster;

  @BeforeEach
  void createCluster() throws Exception {
    cluster = Cluster.on(etcd);
  }

  @AfterEach
  void stopEverything() throws Exception {
    cluster.close();
  }

  /**
   * Version skew, as during an upgrade: the control plane accepts a GEMINI backend, which this data
   * plane's build cannot call (it is started without a GEMINI adapter). The node must refuse the
   * whole version (NACK) rather than serve it and fail that backend's calls later, keep serving the
   * last good version in full, and show up in ERROR with its reason in the fleet status, until the
   * operator moves the model off that backend.
   */
  @Test
  void aVersionTheDataPlaneRefusesIsReportedAsErrorWhileItKeepsServingTheLastGoodOne()
      throws Exception {
    Replica cp = cluster.replica("cp-a");
    long good = cp.apply(mockBackend(MOCK), chatModel("chat", MOCK));
    Node node =
        cluster.start(
            cluster
                .dataPlane("dp-nack", cp)
                .providers(buildWithout(BackendKind.BACKEND_KIND_GEMINI)));
    node.awaitVersion(good);

    long refused = cp.apply(geminiBackend("gemini"), chatModel("fresh", "gemini"));

    NodeStatus error =
        eventually(
            "the fleet status shows dp-nack in ERROR",
            () -> cp.fleetNode("dp-nack").orElseThrow(),
            n -> n.getState() == NodeSyncState.NODE_SYNC_STATE_ERROR);
    assertThat(error.getRejectedVersion()).isEqualTo(refused);
    assertThat(error.getAppliedVersion()).isEqualTo(good);
    assertThat(error.getSentVersion()).isEqualTo(refused);
    assertThat(error.getErrorDetail().getCode()).isEqualTo(Code.INVALID_ARGUMENT_VALUE);
    assertThat(error.getErrorDetail().getMessage())
        .isEqualTo(
            "backend gemini: kind: BACKEND_KIND_GEMINI is not supported by this data plane build");
    WaitForFleetVersionResponse wait = cp.waitForFleetVersion(refused);
    assertThat(wait.getConverged()).isFalse();
    assertThat(wait.getLaggingNodesList())
        .singleElement()
        .satisfies(n -> assertThat(n.getState()).isEqualTo(NodeSyncState.NODE_SYNC_STATE_ERROR));
    // The data plane still serves the last good version, in full.
    assertThat(node.configVersion()).isEqualTo(good);
    assertThat(node.chat("chat").getModel()).isEqualTo("chat");
    StatusRuntimeException notYet =
        catchThrowableOfType(StatusRuntimeException.class, () -> node.chat("fresh"));
    assertThat(notYet.getStatus().getCode()).isEqualTo(Status.Code.NOT_FOUND);

    long fixed =
        cp.apply(
                Configs.upserts(chatModel("fresh", MOCK))
                    .addChanges(
                        Change.newBuilder()
                            .setDelete(Configs.ref(ResourceKind.RESOURCE_KIND_BACKEND, "gemini")))
                    .build())
            .getConfigVersion();

    cp.assertFleetConverged(fixed, 1);
    assertThat(node.configVersion()).isEqualTo(fixed);
    assertThat(node.chat("fresh").getModel()).isEqualTo("fresh");
    NodeStatus synced = cp.fleetNode("dp-nack").orElseThrow();
    assertThat(synced.getState()).isEqualTo(NodeSyncState.NODE_SYNC_STATE_SYNCED);
    assertThat(synced.getAppliedVersion()).isEqualTo(fixed);
  }

  /**
   * The control plane refuses what every data plane would refuse: a model whose alias is its own
   * name (model.proto: aliases are unique across all model names and aliases). Nothing is written,
   * so the fleet never sees it.
   */
  @Test
  void aModelAliasEqualToItsOwnNameIsRefusedByTheControlPlaneBeforeAnyDataPlaneSeesIt()
      throws Exception {
    Replica cp = cluster.replica("cp-a");
    long good = cp.apply(mockBackend(MOCK), chatModel("chat", MOCK));
    Node node = cluster.start(cluster.dataPlane("dp-1", cp));
    node.awaitVersion(good);

    StatusRuntimeException refused =
        catchThrowableOfType(
            StatusRuntimeException.class,
            () -> cp.apply(chatModel("chat", MOCK, /* alias = its own name */ "chat")));

    assertThat(refused.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
    assertThat(Cluster.detail(refused, BadRequest.class).orElseThrow().getFieldViolationsList())
        .extracting(BadRequest.FieldViolation::getField)
        .containsExactly("changes[0].upsert.model.aliases[0]");
    assertThat(cp.snapshot().version()).isEqualTo(good);
    cp.assertFleetConverged(good, 1);
    assertThat(cp.fleetNode("dp-1").orElseThrow().getState())
        .isEqualTo(NodeSyncState.NODE_SYNC_STATE_SYNCED);
  }

  /**
   * The adapters of a data-plane build that lacks {@code missing}: every other kind is served by
   * the real adapters, on event loops closed with the cluster.
   */
  private ProviderLookup buildWithout(BackendKind missing) {
    EventLoopGroup loops = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
    cluster.closeLater(
        () -> loops.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly());
    ProviderRegistry registry =
        cluster.closeLater(
            ProviderRegistry.create(
                loops, NioSocketChannel.class, SecretResolver.fromEnvironment()));
    return kind -> kind == missing || !registry.supports(kind) ? null : registry.forKind(kind);
  }

  @Test
  void aRollbackRestoresTheOldContentAsANewVersionThatTheDataPlaneServes() throws Exception {
    Replica cp = cluster.replica("cp-a");
    long v1 = cp.apply(mockBackend(MOCK), chatModel("chat", MOCK), chatModel("legacy", MOCK));
    Node node = cluster.start(cluster.dataPlane("dp-1", cp));
    node.awaitVersion(v1);
    long v2 =
        cp.apply(
            ApplyChangesRequest.newBuilder()
                .addChanges(Change.newBuilder().setDelete(Configs.modelRef("legacy")))
                .addChanges(Change.newBuilder().setUpsert(mockBackend(MOCK, "edited in v2")))
                .build())
            .getConfigVersion();
    cp.assertFleetConverged(v2, 1);
    StatusRuntimeException removed =
        catchThrowableOfType(StatusRuntimeException.class, () -> node.chat("legacy"));
    assertThat(removed.getStatus().getCode()).isEqualTo(Status.Code.NOT_FOUND);

    RollbackResponse rollback =
        cp.admin()
            .rollback(
                RollbackRequest.newBuilder()
                    .setToVersion(v1)
                    .setExpectedConfigVersion(v2)
                    .setRequestId("rollback-1")
                    .setAuthor("on-call")
                    .setReason("v2 broke the legacy clients")
                    .build());

    long v3 = rollback.getConfigVersion();
    assertThat(v3).as("versions never go backwards").isGreaterThan(v2);
    assertThat(content(cp, v3)).isEqualTo(content(cp, v1));
    cp.assertFleetConverged(v3, 1);
    assertThat(node.configVersion()).isEqualTo(v3);
    assertThat(node.chat("legacy").getModel()).isEqualTo("legacy");
    ChangeRecord record =
        cp.admin().listHistory(ListHistoryRequest.getDefaultInstance()).getChanges(0);
    assertThat(record.getConfigVersion()).isEqualTo(v3);
    assertThat(record.getRollbackToVersion()).isEqualTo(v1);
    assertThat(record.getAuthor()).isEqualTo("on-call");
    assertThat(record.getReason()).isEqualTo("v2 broke the legacy clients");
    assertThat(record.getPrincipal()).isEqualTo(Cluster.PRINCIPAL);
    assertThat(record.getChangesList())
        .extracting(c -> c.getRef().getName(), ResourceChange::getChangeType)
        .containsExactlyInAnyOrder(
            tuple("legacy", ChangeType.CHANGE_TYPE_ADDED),
            tuple(MOCK, ChangeType.CHANGE_TYPE_MODIFIED));
  }

  @Test
  void twoReplicasConvergeOnTheSameVersionAndDigestWithDataPlanesOnEach() throws Exception {
    Replica a = cluster.replica("cp-a");
    Replica b = cluster.replica("cp-b");
    Node onA = cluster.start(cluster.dataPlane("dp-a", a));
    Node onB = cluster.start(cluster.dataPlane("dp-b", b));
    a.awaitConnected("dp-a");
    b.awaitConnected("dp-b");
    // Each replica's fleet includes the other's node once that replica published it.
    a.awaitFleetListing("dp-a", "dp-b");
    b.awaitFleetListing("dp-a", "dp-b");

    a.apply(mockBackend(MOCK), chatModel("chat", MOCK));
    long latest = b.apply(chatModel("second", MOCK));

    WaitForFleetVersionResponse atA = a.waitForFleetVersion(latest);
    WaitForFleetVersionResponse atB = b.waitForFleetVersion(latest);
    assertThat(atA.getConverged()).as("fleet of cp-a: %s", atA).isTrue();
    assertThat(atA.getSelectedNodeCount()).as("nodes cp-a waited for").isEqualTo(2);
    assertThat(atB.getConverged()).as("fleet of cp-b: %s", atB).isTrue();
    assertThat(atB.getSelectedNodeCount()).as("nodes cp-b waited for").isEqualTo(2);
    Snapshot snapshotA = a.snapshot();
    Snapshot snapshotB = b.snapshot();
    assertThat(snapshotA.version()).isEqualTo(latest);
    assertThat(snapshotB.version()).isEqualTo(latest);
    assertThat(snapshotA.digest()).isEqualTo(snapshotB.digest());
    assertThat(snapshotA.versionInfo()).isEqualTo(snapshotB.versionInfo());
    assertThat(onA.versionInfo()).isEqualTo(snapshotA.versionInfo());
    assertThat(onB.versionInfo()).isEqualTo(snapshotA.versionInfo());
    assertThat(onA.chat("second").getModel()).isEqualTo("second");
    assertThat(onB.chat("second").getModel()).isEqualTo("second");
    assertThat(a.fleetNode("dp-a").orElseThrow())
        .satisfies(
            n -> {
              assertThat(n.getState()).isEqualTo(NodeSyncState.NODE_SYNC_STATE_SYNCED);
              assertThat(n.getAppliedVersion()).isEqualTo(latest);
              assertThat(n.getControlPlaneId()).isEqualTo("cp-a");
            });
    assertThat(b.fleetNode("dp-b").orElseThrow())
        .satisfies(
            n -> {
              assertThat(n.getState()).isEqualTo(NodeSyncState.NODE_SYNC_STATE_SYNCED);
              assertThat(n.getAppliedVersion()).isEqualTo(latest);
              assertThat(n.getControlPlaneId()).isEqualTo("cp-b");
            });
  }

  /**
   * admin_service.proto: GetFleetStatus "reports the config status of data-plane nodes, merged
   * from all control-plane replicas". An operator asking either replica must see the whole fleet.
   */
  @Test
  void fleetStatusFromEitherReplicaListsTheNodesOfBoth() throws Exception {
    Replica a = cluster.replica("cp-a");
    Replica b = cluster.replica("cp-b");
    cluster.start(cluster.dataPlane("dp-a", a));
    cluster.start(cluster.dataPlane("dp-b", b));
    a.awaitConnected("dp-a");
    b.awaitConnected("dp-b");
    long version = a.apply(mockBackend(MOCK), chatModel("chat", MOCK));

    List<NodeStatus> fromA = a.awaitFleetListing("dp-a", "dp-b");
    List<NodeStatus> fromB = b.awaitFleetListing("dp-a", "dp-b");
    a.assertFleetConverged(version, 2);
    b.assertFleetConverged(version, 2);

    assertThat(fromA)
        .as("GetFleetStatus on cp-a")
        .extracting(n -> n.getNode().getId(), NodeStatus::getControlPlaneId)
        .containsExactly(tuple("dp-a", "cp-a"), tuple("dp-b", "cp-b"));
    assertThat(fromB)
        .as("GetFleetStatus on cp-b")
        .extracting(n -> n.getNode().getId(), NodeStatus::getControlPlaneId)
        .containsExactly(tuple("dp-a", "cp-a"), tuple("dp-b", "cp-b"));
    List<NodeStatus> synced =
        eventually(
            "cp-a reports both nodes SYNCED on version " + version,
            a::fleetStatus,
            nodes ->
                nodes.stream()
                    .allMatch(
                        n ->
                            n.getState() == NodeSyncState.NODE_SYNC_STATE_SYNCED
                                && n.getAppliedVersion() == version));
    assertThat(synced).hasSize(2);
  }

  /**
   * A replica that goes away takes its record with it: the other replica stops reporting the nodes
   * it held, and reports them again, as its own, once they reconnected to it.
   */
  @Test
  void whenAReplicaStopsItsNodesAreReportedByTheReplicaTheyMoveTo() throws Exception {
    Replica a = cluster.replica("cp-a");
    Replica b = cluster.replica("cp-b");
    long version = a.apply(mockBackend(MOCK), chatModel("chat", MOCK));
    cluster.start(cluster.dataPlane("dp-1", a, b));
    a.awaitConnected("dp-1");
    assertThat(b.awaitFleetListing("dp-1").get(0).getControlPlaneId()).isEqualTo("cp-a");

    a.stop();

    NodeStatus moved =
        eventually(
            "cp-b reports dp-1 on its own stream",
            () -> b.fleetNode("dp-1").orElseThrow(),
            n ->
                n.getControlPlaneId().equals("cp-b")
                    && n.getState() == NodeSyncState.NODE_SYNC_STATE_SYNCED);
    assertThat(moved.getAppliedVersion()).isEqualTo(version);
    assertThat(b.fleetStatus()).hasSize(1);
    b.assertFleetConverged(version, 1);
  }

  /** A config version's resources without their output-only versions. */
  private static List<Resource> content(Replica replica, long version) {
    ConfigSnapshot snapshot =
        replica
            .admin()
            .getConfigSnapshot(GetConfigSnapshotRequest.newBuilder().setConfigVersion(version).build())
            .getSnapshot();
    assertThat(snapshot.getVersion()).isEqualTo(version);
    return snapshot.getResourcesList().stream().map(Configs::content).toList();
  }
}
