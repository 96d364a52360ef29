package dev.sluice.controlplane;

import static dev.sluice.controlplane.Fixtures.mockBackend;
import static dev.sluice.controlplane.Fixtures.model;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import dev.sluice.admin.v1.AdminServiceGrpc;
import dev.sluice.admin.v1.ApplyChangesRequest;
import dev.sluice.admin.v1.ApplyChangesResponse;
import dev.sluice.admin.v1.Change;
import dev.sluice.admin.v1.ChangeRecord;
import dev.sluice.admin.v1.GetResourceRequest;
import dev.sluice.admin.v1.ListHistoryRequest;
import dev.sluice.admin.v1.RollbackRequest;
import dev.sluice.admin.v1.RollbackResponse;
import dev.sluice.config.v1.Resource;
import dev.sluice.config.v1.ResourceKind;
import dev.sluice.controlplane.snapshot.Snapshot;
import dev.sluice.controlplane.store.ConfigStore;
import dev.sluice.controlplane.store.etcd.EtcdConfigStore;
import dev.sluice.controlplane.store.etcd.EtcdStoreOptions;
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
    toFirst.onNext(StreamConfigRequest.newBuilder().setNode(Node.newBuilder().setId("dp-1")).build());
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
            .addChanges(Change.newBuilder().setUpsert(mockBackend("mock", "v2")).setExpectedVersion(v1))
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

  // ---- helpers

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
    ManagedChannel channel = NettyChannelBuilder.forAddress("127.0.0.1", cp.port()).usePlaintext().build();
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
