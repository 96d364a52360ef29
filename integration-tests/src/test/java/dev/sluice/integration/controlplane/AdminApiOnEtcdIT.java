package dev.sluice.integration.controlplane;

import static dev.sluice.integration.controlplane.Cluster.eventually;
import static dev.sluice.integration.controlplane.Configs.MOCK;
import static dev.sluice.integration.controlplane.Configs.chatModel;
import static dev.sluice.integration.controlplane.Configs.mockBackend;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;
import static org.assertj.core.groups.Tuple.tuple;

import com.google.rpc.BadRequest;
import dev.sluice.admin.v1.ApplyChangesRequest;
import dev.sluice.admin.v1.ApplyChangesResponse;
import dev.sluice.admin.v1.ChangeRecord;
import dev.sluice.admin.v1.ChangeType;
import dev.sluice.admin.v1.GetConfigSnapshotRequest;
import dev.sluice.admin.v1.GetResourceRequest;
import dev.sluice.admin.v1.ListHistoryRequest;
import dev.sluice.admin.v1.ResourceChange;
import dev.sluice.admin.v1.VersionConflict;
import dev.sluice.config.v1.Resource;
import dev.sluice.config.v1.ResourceKind;
import dev.sluice.integration.controlplane.Cluster.Node;
import dev.sluice.integration.controlplane.Cluster.Replica;
import dev.sluice.testing.etcd.EtcdExtension;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The admin API's write guarantees over the wire, on a real etcd: optimistic concurrency between
 * writers racing through two replicas, and whole-config validation that names the offending field
 * and writes nothing.
 */
@Timeout(60)
class AdminApiOnEtcdIT {
  @RegisterExtension static final EtcdExtension etcd = EtcdExtension.create();

  private static final int WRITERS = 8;

  private Cluster cluster;
  private Replica first;
  private Replica second;

  @BeforeEach
  void startTwoReplicas() throws Exception {
    cluster = Cluster.on(etcd);
    first = cluster.replica("cp-a");
    second = cluster.replica("cp-b");
  }

  @AfterEach
  void stopEverything() throws Exception {
    cluster.close();
  }

  @Test
  void ofWritersRacingWithTheSameExpectedVersionExactlyOneCommitsAndTheOthersAreToldTheNewVersion()
      throws Exception {
    long base = first.apply(mockBackend(MOCK));
    eventually(
        "both replicas see version " + base,
        () -> atLeast(first, base) && atLeast(second, base));
    int historyBefore = history(first).size();

    List<Outcome> outcomes = race(base);

    List<Outcome> winners = outcomes.stream().filter(o -> o.response != null).toList();
    List<Outcome> losers = outcomes.stream().filter(o -> o.failure != null).toList();
    assertThat(winners).as("writers that committed").hasSize(1);
    Outcome winner = winners.get(0);
    long committed = winner.response.getConfigVersion();
    assertThat(committed).isGreaterThan(base);
    assertThat(losers).hasSize(WRITERS - 1);
    for (Outcome loser : losers) {
      StatusRuntimeException e = loser.failure;
      assertThat(e.getStatus().getCode()).as("writer %s", loser.writer).isEqualTo(Status.Code.ABORTED);
      assertThat(Cluster.reason(e)).as("writer %s", loser.writer).isEqualTo("VERSION_CONFLICT");
      assertThat(Cluster.detail(e, VersionConflict.class))
          .as("writer %s is told the version that won", loser.writer)
          .hasValueSatisfying(c -> assertThat(c.getConfigVersion()).isEqualTo(committed));
    }
    // Nothing lost, nothing doubled: the stored resource is the winner's, written once.
    Resource stored =
        second
            .admin()
            .getResource(
                GetResourceRequest.newBuilder()
                    .setRef(Configs.ref(ResourceKind.RESOURCE_KIND_BACKEND, "contested"))
                    .build())
            .getResource();
    assertThat(stored.getBackend().getDescription()).isEqualTo(winner.writer);
    assertThat(stored.getBackend().getVersion()).isEqualTo(committed);
    List<ChangeRecord> history = history(second);
    assertThat(history).hasSize(historyBefore + 1);
    ChangeRecord record = history.get(0);
    assertThat(record.getConfigVersion()).isEqualTo(committed);
    assertThat(record.getRequestId()).isEqualTo(winner.writer);
    assertThat(record.getAuthor()).isEqualTo(winner.writer);
    assertThat(record.getPrincipal()).isEqualTo(Cluster.PRINCIPAL);
    assertThat(record.getChangesList())
        .extracting(ResourceChange::getChangeType, c -> c.getRef().getName())
        .containsExactly(tuple(ChangeType.CHANGE_TYPE_ADDED, "contested"));
    assertThat(first.admin().getConfigSnapshot(GetConfigSnapshotRequest.getDefaultInstance())
            .getSnapshot()
            .getVersion())
        .isEqualTo(committed);
  }

  @Test
  void anInvalidChangeSetIsRejectedWithTheFieldPathOfEachProblemAndNothingIsWritten()
      throws Exception {
    long before = first.apply(mockBackend(MOCK), chatModel("chat", MOCK));
    Node node = cluster.start(cluster.dataPlane("dp-1", first));
    node.awaitVersion(before);
    int historyBefore = history(first).size();

    ApplyChangesRequest invalid =
        Configs.upserts(
                // Valid on its own, but it must not be written without the rest.
                mockBackend("spare"),
                chatModel("broken", "no-such-backend"))
            .setRequestId("invalid-1")
            .build();
    StatusRuntimeException rejected =
        catchThrowableOfType(StatusRuntimeException.class, () -> second.apply(invalid));

    assertThat(rejected.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
    assertThat(Cluster.reason(rejected)).isEqualTo("INVALID_CONFIG");
    assertThat(Cluster.detail(rejected, BadRequest.class))
        .hasValueSatisfying(
            badRequest ->
                assertThat(badRequest.getFieldViolationsList())
                    .anySatisfy(
                        v -> {
                          assertThat(v.getField())
                              .isEqualTo("changes[1].upsert.model.versions[0].backends[0].backend");
                          assertThat(v.getDescription()).contains("no-such-backend");
                        })
                    .allSatisfy(v -> assertThat(v.getField()).startsWith("changes[1].")));
    assertThat(rejected.getStatus().getDescription())
        .contains("changes[1].upsert.model.versions[0].backends[0].backend");
    // Nothing written: no new version, no history record, neither resource stored, and the data
    // plane still serves what it served.
    assertThat(
            second.admin().getConfigSnapshot(GetConfigSnapshotRequest.getDefaultInstance())
                .getSnapshot()
                .getVersion())
        .isEqualTo(before);
    assertThat(history(second)).hasSize(historyBefore);
    StatusRuntimeException notStored =
        catchThrowableOfType(
            StatusRuntimeException.class,
            () ->
                second
                    .admin()
                    .getResource(
                        GetResourceRequest.newBuilder()
                            .setRef(Configs.ref(ResourceKind.RESOURCE_KIND_BACKEND, "spare"))
                            .build()));
    assertThat(notStored.getStatus().getCode()).isEqualTo(Status.Code.NOT_FOUND);
    assertThat(first.snapshot().version()).isEqualTo(before);
    assertThat(node.configVersion()).isEqualTo(before);
    assertThat(node.chat("chat").getBackend()).isEqualTo(MOCK);
  }

  // ---- helpers

  private record Outcome(
      String writer,
      @Nullable ApplyChangesResponse response,
      @Nullable StatusRuntimeException failure) {}

  /**
   * Starts {@link #WRITERS} writers at once, half through each replica, each upserting its own
   * revision of backend {@code contested} on the condition that the config is still at {@code
   * base}.
   */
  private List<Outcome> race(long base) throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(WRITERS);
    try {
      CyclicBarrier start = new CyclicBarrier(WRITERS);
      List<Future<Outcome>> futures = new ArrayList<>();
      for (int i = 0; i < WRITERS; i++) {
        Replica replica = i % 2 == 0 ? first : second;
        String writer = "writer-" + i;
        ApplyChangesRequest request =
            Configs.upserts(mockBackend("contested", writer))
                .setExpectedConfigVersion(base)
                .setRequestId(writer)
                .setAuthor(writer)
                .build();
        futures.add(
            pool.submit(
                () -> {
                  start.await(10, TimeUnit.SECONDS);
                  try {
                    return new Outcome(writer, replica.apply(request), null);
                  } catch (StatusRuntimeException e) {
                    return new Outcome(writer, null, e);
                  }
                }));
      }
      List<Outcome> outcomes = new ArrayList<>();
      for (Future<Outcome> future : futures) {
        outcomes.add(future.get(40, TimeUnit.SECONDS));
      }
      return outcomes;
    } finally {
      pool.shutdownNow();
      pool.awaitTermination(10, TimeUnit.SECONDS);
    }
  }

  private static boolean atLeast(Replica replica, long version) {
    return replica.snapshot() != null && replica.snapshot().version() >= version;
  }

  private static List<ChangeRecord> history(Replica replica) {
    return replica.admin().listHistory(ListHistoryRequest.getDefaultInstance()).getChangesList();
  }
}
