package dev.sluice.integration.controlplane;

import static dev.sluice.integration.controlplane.Cluster.WAIT;
import static dev.sluice.integration.controlplane.Cluster.eventually;
import static dev.sluice.integration.controlplane.Configs.MOCK;
import static dev.sluice.integration.controlplane.Configs.chatModel;
import static dev.sluice.integration.controlplane.Configs.mockBackend;
import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;
import static org.assertj.core.groups.Tuple.tuple;

import dev.sluice.admin.v1.AdminServiceGrpc;
import dev.sluice.admin.v1.ApplyChangesRequest;
import dev.sluice.admin.v1.ChangeRecord;
import dev.sluice.admin.v1.ListHistoryRequest;
import dev.sluice.admin.v1.NodeSyncState;
import dev.sluice.admin.v1.WaitForFleetVersionResponse;
import dev.sluice.controlplane.discovery.NodeReport;
import dev.sluice.discovery.v1.DiscoveryServiceGrpc;
import dev.sluice.integration.controlplane.Cluster.Node;
import dev.sluice.integration.controlplane.Cluster.Replica;
import dev.sluice.testing.etcd.EtcdExtension;
import dev.sluice.testing.net.TcpProxy;
import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The control plane while etcd fails under it: etcd killed and restarted (the whole store gone),
 * and one replica cut off from etcd while its watch history is compacted away. Data planes must
 * keep serving throughout, and the control plane must come back by itself.
 */
@Timeout(60)
class EtcdOutageIT {
  @RegisterExtension static final EtcdExtension etcd = EtcdExtension.create();

  private static final String ADMIN = AdminServiceGrpc.SERVICE_NAME;
  private static final String DISCOVERY = DiscoveryServiceGrpc.SERVICE_NAME;

  private Cluster cluster;

  @BeforeEach
  void createCluster() throws Exception {
    cluster = Cluster.on(etcd);
  }

  @AfterEach
  void stopEverything() throws Exception {
    // Whatever this test did to etcd, the stores close against a live one and the next test
    // finds it running.
    etcd.start();
    cluster.close();
  }

  @Test
  void whileEtcdIsDownTheControlPlaneServesItsLastSnapshotRefusesWritesAndThenRecoversByItself()
      throws Exception {
    Replica cp = cluster.replica("cp-a");
    long before = cp.apply(mockBackend(MOCK), chatModel("chat", MOCK));
    Node connectedBefore = cluster.start(cluster.dataPlane("dp-before", cp));
    connectedBefore.awaitVersion(before);
    String lastSnapshot = connectedBefore.versionInfo();
    ApplyChangesRequest change =
        Configs.upserts(chatModel("after-outage", MOCK)).setRequestId("change-during-outage").build();

    etcd.kill();

    eventually(
        "the admin service reports NOT_SERVING", () -> cp.health(ADMIN) == ServingStatus.NOT_SERVING);
    StatusRuntimeException refused =
        catchThrowableOfType(StatusRuntimeException.class, () -> cp.apply(change));
    assertThat(refused.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    assertThat(Cluster.reason(refused)).isEqualTo("STORE_UNAVAILABLE");
    assertThat(cp.health("")).isEqualTo(ServingStatus.SERVING);
    assertThat(cp.health(DISCOVERY)).isEqualTo(ServingStatus.SERVING);
    // The data plane connected before the outage keeps serving the last snapshot ...
    assertThat(connectedBefore.chat("chat").getModel()).isEqualTo("chat");
    assertThat(connectedBefore.versionInfo()).isEqualTo(lastSnapshot);
    // ... and one that connects only now still gets it.
    Node connectedDuring = cluster.start(cluster.dataPlane("dp-during", cp));
    assertThat(connectedDuring.dataPlane.awaitConfig(WAIT)).isTrue();
    assertThat(connectedDuring.versionInfo()).isEqualTo(lastSnapshot);
    assertThat(connectedDuring.chat("chat").getModel()).isEqualTo("chat");
    assertThat(cp.controlPlane.fleet().nodes())
        .extracting(NodeReport::nodeId, r -> r.status().getState())
        .contains(tuple("dp-during", NodeSyncState.NODE_SYNC_STATE_SYNCED));

    etcd.start();

    eventually(
        "the admin service reports SERVING again", () -> cp.health(ADMIN) == ServingStatus.SERVING);
    // The operator retries the change whose outcome was unknown, with the same request id.
    long after = cp.apply(change).getConfigVersion();
    assertThat(after).isGreaterThan(before);
    WaitForFleetVersionResponse fleet = cp.waitForFleetVersion(after);
    assertThat(fleet.getConverged()).as("fleet: %s", fleet).isTrue();
    assertThat(fleet.getSelectedNodeCount()).isEqualTo(2);
    assertThat(connectedBefore.chat("after-outage").getModel()).isEqualTo("after-outage");
    assertThat(connectedDuring.chat("after-outage").getModel()).isEqualTo("after-outage");
    List<ChangeRecord> history =
        cp.admin().listHistory(ListHistoryRequest.getDefaultInstance()).getChangesList();
    assertThat(history)
        .filteredOn(r -> r.getRequestId().equals("change-during-outage"))
        .as("the change refused during the outage is not written; its retry is, once")
        .singleElement()
        .satisfies(r -> assertThat(r.getConfigVersion()).isEqualTo(after));
  }

  @Test
  void aReplicaCutOffWhileItsWatchHistoryIsCompactedResyncsAndItsDataPlaneGetsTheNewestVersion()
      throws Exception {
    TcpProxy link = cluster.closeLater(TcpProxy.to(etcd.clientEndpoint()));
    SimpleMeterRegistry readerMeters = new SimpleMeterRegistry();
    Replica writer = cluster.replica("cp-writer");
    Replica reader =
        cluster.replica(
            "cp-reader", spec -> spec.etcdEndpoint(link.endpoint()).storeMeters(readerMeters));
    long first = writer.apply(mockBackend(MOCK), chatModel("chat", MOCK));
    Node node = cluster.start(cluster.dataPlane("dp-1", reader));
    node.awaitVersion(first);

    link.cut();
    eventually(
        "cp-reader notices it lost etcd", () -> reader.health(ADMIN) == ServingStatus.NOT_SERVING);
    long newest = first;
    for (int i = 0; i < 5; i++) {
      newest = writer.apply(chatModel("model-" + i, MOCK));
    }
    long compactedTo = compactEtcd();
    assertThat(node.configVersion()).as("served while cp-reader is cut off").isEqualTo(first);
    link.heal();

    node.awaitVersion(newest);
    assertThat(node.configVersion()).isEqualTo(newest);
    assertThat(node.chat("model-4").getModel()).isEqualTo("model-4");
    assertThat(reader.snapshot().version()).isEqualTo(newest);
    assertThat(reader.snapshot().digest()).isEqualTo(writer.snapshot().digest());
    assertThat(resyncs(readerMeters, "compacted"))
        .as("resyncs of cp-reader after etcd compacted to revision %s", compactedTo)
        .isEqualTo(1);
    eventually(
        "cp-reader reports dp-1 SYNCED",
        () -> reader.fleetNode("dp-1").orElseThrow().getState(),
        state -> state == NodeSyncState.NODE_SYNC_STATE_SYNCED);
  }

  /** Compacts etcd's whole history up to its current revision; returns that revision. */
  private static long compactEtcd() throws Exception {
    try (Client client = Client.builder().endpoints(etcd.clientEndpoint()).build()) {
      long revision =
          client
              .getKVClient()
              .get(ByteSequence.from("/", UTF_8))
              .get(10, TimeUnit.SECONDS)
              .getHeader()
              .getRevision();
      client.getKVClient().compact(revision).get(10, TimeUnit.SECONDS);
      return revision;
    }
  }

  private static double resyncs(SimpleMeterRegistry meters, String reason) {
    Counter counter =
        meters.find("sluice.store.mirror.resyncs").tag("reason", reason).counter();
    return counter == null ? 0 : counter.count();
  }
}
