package dev.sluice.controlplane.store;

import static dev.sluice.controlplane.Fixtures.await;
import static dev.sluice.controlplane.store.StoreTesting.awaitLatch;
import static dev.sluice.controlplane.store.StoreTesting.backend;
import static dev.sluice.controlplane.store.StoreTesting.change;
import static dev.sluice.controlplane.store.StoreTesting.committed;
import static dev.sluice.controlplane.store.StoreTesting.eventually;
import static dev.sluice.controlplane.store.StoreTesting.failure;
import static dev.sluice.controlplane.store.StoreTesting.next;
import static dev.sluice.controlplane.store.StoreTesting.version;
import static dev.sluice.controlplane.store.StoreTesting.versions;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.common.collect.ImmutableMap;
import com.google.protobuf.util.Timestamps;
import dev.sluice.admin.v1.ChangeRecord;
import dev.sluice.admin.v1.ChangeType;
import dev.sluice.admin.v1.FleetStatusRecord;
import dev.sluice.admin.v1.NodeStatus;
import dev.sluice.admin.v1.NodeSyncState;
import dev.sluice.config.v1.ResourceKind;
import dev.sluice.discovery.v1.Node;
import dev.sluice.grpc.ApiException;
import io.grpc.Status;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * What every {@link ConfigStore} does, whatever keeps its data. A subclass supplies a new, empty
 * store per test; this class closes it.
 *
 * <p>Versions are compared only by order and equality: the embedded store counts 1, 2, 3 while
 * etcd's revisions skip numbers, and both are right.
 */
@Timeout(60)
public abstract class ConfigStoreContractTest {
  protected static final ResourceKey A = new ResourceKey(ResourceKind.RESOURCE_KIND_BACKEND, "a");
  protected static final ResourceKey B = new ResourceKey(ResourceKind.RESOURCE_KIND_BACKEND, "b");
  protected static final ResourceKey C = new ResourceKey(ResourceKind.RESOURCE_KIND_BACKEND, "c");

  protected ConfigStore store;

  /** A new store with nothing in it. */
  protected abstract ConfigStore newStore() throws Exception;

  @BeforeEach
  void openStore() throws Exception {
    store = newStore();
  }

  private final List<ConfigStore.Subscription> subscriptions = new ArrayList<>();

  @AfterEach
  void closeStore() {
    subscriptions.forEach(ConfigStore.Subscription::close);
    if (store != null) {
      store.close();
    }
  }

  @Test
  void anEmptyStoreReadsAsVersionZeroWithNoResources() {
    StoredConfig config = await(store.read());

    assertThat(config.version()).isZero();
    assertThat(config.resources()).isEmpty();
  }

  @Test
  void aCommitWritesItsResourcesAtTheNewVersion() {
    ChangeRecord record =
        committed(
            store.commit(
                change(0).upsert(backend("a", "one")).upsert(backend("b", "one")).build()));

    StoredConfig config = await(store.read());
    assertThat(record.getConfigVersion()).isPositive();
    assertThat(config.version()).isEqualTo(record.getConfigVersion());
    assertThat(config.resources()).containsOnlyKeys(A, B);
    assertThat(config.resources().get(A))
        .isEqualTo(Resources.withVersion(backend("a", "one"), record.getConfigVersion()));
    assertThat(Resources.version(config.resources().get(B))).isEqualTo(record.getConfigVersion());
  }

  @Test
  void theStoreFillsInVersionAndCommitTimeAndKeepsEverythingElseOfTheRecord() {
    ChangeRecord given =
        ChangeRecord.newBuilder()
            .setAuthor("alice")
            .setPrincipal("token:ci")
            .setReason("first backend")
            .setRequestId("req-1")
            .setRollbackToVersion(0)
            .addChanges(change(A, ChangeType.CHANGE_TYPE_ADDED))
            .build();

    ChangeRecord record =
        committed(store.commit(change(0).upsert(backend("a", "one")).record(given).build()));

    assertThat(record.getConfigVersion()).isPositive();
    assertThat(record.hasCommitTime()).isTrue();
    assertThat(record.toBuilder().clearConfigVersion().clearCommitTime().build()).isEqualTo(given);
  }

  @Test
  void everyCommitGetsAHigherVersionAndOnlyTouchedResourcesMove() {
    long v1 = version(store.commit(change(0).upsert(backend("a", "one")).build()));
    long v2 = version(store.commit(change(v1).upsert(backend("b", "one")).build()));
    long v3 = version(store.commit(change(v2).upsert(backend("a", "two")).build()));

    StoredConfig config = await(store.read());
    assertThat(v2).isGreaterThan(v1);
    assertThat(v3).isGreaterThan(v2);
    assertThat(config.version()).isEqualTo(v3);
    assertThat(Resources.version(config.resources().get(A))).isEqualTo(v3);
    assertThat(Resources.version(config.resources().get(B))).isEqualTo(v2);
    assertThat(config.resources().get(A).getBackend().getDescription()).isEqualTo("two");
  }

  @Test
  void aCommitAgainstAStaleHeadIsHeadMovedAndWritesNothing() {
    long v1 = version(store.commit(change(0).upsert(backend("a", "one")).build()));
    StoredConfig before = await(store.read());

    CommitOutcome outcome = await(store.commit(change(0).upsert(backend("b", "one")).build()));

    assertThat(outcome).isEqualTo(new CommitOutcome.HeadMoved(v1));
    assertThat(await(store.read())).isEqualTo(before);
  }

  @Test
  void aCommitAgainstAVersionTheStoreNeverHadIsHeadMovedAndWritesNothing() {
    long v1 = version(store.commit(change(0).upsert(backend("a", "one")).build()));
    StoredConfig before = await(store.read());

    CommitOutcome outcome =
        await(store.commit(change(v1 + 1_000).upsert(backend("b", "one")).build()));

    assertThat(outcome).isEqualTo(new CommitOutcome.HeadMoved(v1));
    assertThat(await(store.read())).isEqualTo(before);
  }

  @Test
  void aStaleResourceVersionIsAConflictNamingOnlyTheMismatchedResources() {
    long v1 =
        version(
            store.commit(
                change(0).upsert(backend("a", "one")).upsert(backend("b", "one")).build()));
    long v2 = version(store.commit(change(v1).upsert(backend("a", "two")).build()));
    StoredConfig before = await(store.read());

    CommitOutcome outcome =
        await(
            store.commit(
                change(v2)
                    .upsert(backend("a", "three"))
                    .upsert(backend("b", "two"))
                    .expect(A, v1)
                    .expect(B, v1)
                    .build()));

    assertThat(outcome).isEqualTo(new CommitOutcome.Conflict(v2, ImmutableMap.of(A, v2)));
    assertThat(await(store.read())).isEqualTo(before);
  }

  @Test
  void expectingVersionZeroMeansTheResourceMustNotExist() {
    long v1 = version(store.commit(change(0).upsert(backend("a", "one")).build()));

    CommitOutcome clash =
        await(store.commit(change(v1).upsert(backend("a", "again")).expect(A, 0).build()));
    CommitOutcome create =
        await(store.commit(change(v1).upsert(backend("b", "new")).expect(B, 0).build()));

    assertThat(clash).isEqualTo(new CommitOutcome.Conflict(v1, ImmutableMap.of(A, v1)));
    assertThat(create).isInstanceOf(CommitOutcome.Committed.class);
  }

  @Test
  void expectingAVersionOfAMissingResourceIsAConflictAtVersionZero() {
    long v1 = version(store.commit(change(0).upsert(backend("a", "one")).build()));

    CommitOutcome outcome =
        await(store.commit(change(v1).upsert(backend("c", "one")).expect(C, v1).build()));

    assertThat(outcome).isEqualTo(new CommitOutcome.Conflict(v1, ImmutableMap.of(C, 0L)));
  }

  @Test
  void aConflictWinsOverAMovedHead() {
    long v1 = version(store.commit(change(0).upsert(backend("a", "one")).build()));
    long v2 = version(store.commit(change(v1).upsert(backend("a", "two")).build()));

    CommitOutcome outcome =
        await(store.commit(change(v1).upsert(backend("a", "three")).expect(A, v1).build()));

    assertThat(outcome).isEqualTo(new CommitOutcome.Conflict(v2, ImmutableMap.of(A, v2)));
  }

  @Test
  void aDeleteRemovesTheResourceAtANewVersion() {
    long v1 =
        version(
            store.commit(
                change(0).upsert(backend("a", "one")).upsert(backend("b", "one")).build()));

    long v2 = version(store.commit(change(v1).delete(A).expect(A, v1).build()));

    StoredConfig config = await(store.read());
    assertThat(v2).isGreaterThan(v1);
    assertThat(config.version()).isEqualTo(v2);
    assertThat(config.resources()).containsOnlyKeys(B);
  }

  @Test
  void findByRequestIdFindsTheCommittedRecord() {
    ChangeRecord record =
        committed(store.commit(change(0).upsert(backend("a", "one")).requestId("req-42").build()));

    assertThat(await(store.findByRequestId("req-42"))).contains(record);
    assertThat(await(store.findByRequestId("req-43"))).isEmpty();
    assertThat(await(store.findByRequestId(""))).isEmpty();
  }

  @Test
  void historyListsChangesNewestFirstWithWhoWhyAndWhat() {
    ChangeRecord first =
        committed(
            store.commit(
                change(0)
                    .upsert(backend("a", "one"))
                    .by("alice", "add a")
                    .requestId("r1")
                    .build()));
    ChangeRecord second =
        committed(
            store.commit(
                change(first.getConfigVersion())
                    .upsert(backend("b", "one"))
                    .by("bob", "add b")
                    .requestId("r2")
                    .build()));
    ChangeRecord third =
        committed(
            store.commit(
                change(second.getConfigVersion()).delete(A).by("carol", "drop a").build()));

    List<ChangeRecord> history = await(store.history(0, 10));

    assertThat(history).containsExactly(third, second, first);
    assertThat(history.get(0).getAuthor()).isEqualTo("carol");
    assertThat(history.get(0).getReason()).isEqualTo("drop a");
    assertThat(history.get(0).getChangesList())
        .containsExactly(change(A, ChangeType.CHANGE_TYPE_DELETED));
    assertThat(history.get(1).getRequestId()).isEqualTo("r2");
    assertThat(history.get(2).getChangesList())
        .containsExactly(change(A, ChangeType.CHANGE_TYPE_ADDED));
  }

  @Test
  void historyPagesBackwardsByVersion() {
    long v1 = version(store.commit(change(0).upsert(backend("a", "1")).build()));
    long v2 = version(store.commit(change(v1).upsert(backend("a", "2")).build()));
    long v3 = version(store.commit(change(v2).upsert(backend("a", "3")).build()));
    long v4 = version(store.commit(change(v3).upsert(backend("a", "4")).build()));

    assertThat(versions(await(store.history(0, 2)))).containsExactly(v4, v3);
    assertThat(versions(await(store.history(v3, 2)))).containsExactly(v2, v1);
    assertThat(versions(await(store.history(v3 + 1, 1)))).containsExactly(v3);
    assertThat(versions(await(store.history(v1, 5)))).isEmpty();
  }

  @Test
  void readAtReturnsTheConfigExactlyAsItWasAtEachVersion() {
    long v1 = version(store.commit(change(0).upsert(backend("a", "one")).build()));
    StoredConfig atV1 = await(store.read());
    long v2 =
        version(
            store.commit(
                change(v1).upsert(backend("a", "two")).upsert(backend("b", "one")).build()));
    StoredConfig atV2 = await(store.read());
    long v3 = version(store.commit(change(v2).delete(B).build()));

    assertThat(await(store.readAt(v1))).isEqualTo(atV1);
    assertThat(await(store.readAt(v2))).isEqualTo(atV2);
    assertThat(await(store.readAt(v3))).isEqualTo(await(store.read()));
    assertThat(await(store.readAt(v3)).resources()).containsOnlyKeys(A);
  }

  @Test
  void readAtAVersionNeverCommittedIsNotFound() {
    long v1 = version(store.commit(change(0).upsert(backend("a", "one")).build()));

    ApiException error = failure(store.readAt(v1 + 1_000));

    assertThat(error.code()).isEqualTo(Status.Code.NOT_FOUND);
    assertThat(error.reason()).isEqualTo("VERSION_NOT_FOUND");
  }

  @Test
  void aWatchDeliversTheCurrentConfigAndThenEveryNewerOneInOrder() throws Exception {
    long v1 = version(store.commit(change(0).upsert(backend("a", "one")).build()));
    BlockingQueue<StoredConfig> deliveries = new LinkedBlockingQueue<>();

    ConfigStore.Subscription subscription = store.watch(deliveries::add);
    try {
      StoredConfig initial = next(deliveries, config -> true);
      long v2 = version(store.commit(change(v1).upsert(backend("b", "one")).build()));
      long v3 = version(store.commit(change(v2).delete(A).build()));
      List<StoredConfig> seen = new ArrayList<>();
      seen.add(initial);
      seen.add(next(deliveries, config -> config.version() == v3, seen));

      assertThat(initial.version()).isEqualTo(v1);
      assertThat(initial.resources()).containsOnlyKeys(A);
      assertThat(seen).extracting(StoredConfig::version).isSorted().doesNotHaveDuplicates();
      assertThat(seen.get(seen.size() - 1)).isEqualTo(await(store.read()));
      assertThat(seen.get(seen.size() - 1).resources()).containsOnlyKeys(B);
    } finally {
      subscription.close();
    }
  }

  @Test
  void aWatchOnAnEmptyStoreStartsWithTheEmptyConfig() throws Exception {
    BlockingQueue<StoredConfig> deliveries = new LinkedBlockingQueue<>();

    ConfigStore.Subscription subscription = store.watch(deliveries::add);
    try {
      StoredConfig initial = next(deliveries, config -> true);
      long v1 = version(store.commit(change(0).upsert(backend("a", "one")).build()));
      StoredConfig after = next(deliveries, config -> config.version() == v1);

      assertThat(initial.version()).isZero();
      assertThat(initial.resources()).isEmpty();
      assertThat(after.resources()).containsOnlyKeys(A);
    } finally {
      subscription.close();
    }
  }

  @Test
  void aClosedSubscriptionHearsNothingMore() throws Exception {
    BlockingQueue<StoredConfig> closedOne = new LinkedBlockingQueue<>();
    BlockingQueue<StoredConfig> openOne = new LinkedBlockingQueue<>();
    ConfigStore.Subscription toClose = store.watch(closedOne::add);
    ConfigStore.Subscription stays = store.watch(openOne::add);
    try {
      next(closedOne, config -> true);
      next(openOne, config -> true);

      toClose.close();
      long v1 = version(store.commit(change(0).upsert(backend("a", "one")).build()));
      next(openOne, config -> config.version() == v1);

      assertThat(closedOne).isEmpty();
    } finally {
      stays.close();
    }
  }

  @Test
  void concurrentCommitsOnTheSameHeadLetExactlyOneWin() throws Exception {
    long v1 = version(store.commit(change(0).upsert(backend("a", "one")).build()));
    int writers = 8;
    ExecutorService pool = Executors.newFixedThreadPool(writers);
    try {
      CountDownLatch start = new CountDownLatch(1);
      List<CompletableFuture<CommitOutcome>> outcomes = new ArrayList<>();
      for (int i = 0; i < writers; i++) {
        Commit commit = change(v1).upsert(backend("a", "writer-" + i)).expect(A, v1).build();
        outcomes.add(
            CompletableFuture.supplyAsync(
                    () -> {
                      awaitLatch(start);
                      return store.commit(commit);
                    },
                    pool)
                .thenCompose(f -> f));
      }
      start.countDown();

      List<CommitOutcome> results = outcomes.stream().map(f -> await(f)).toList();

      List<CommitOutcome> winners =
          results.stream().filter(CommitOutcome.Committed.class::isInstance).toList();
      assertThat(winners).hasSize(1);
      long winner = ((CommitOutcome.Committed) winners.get(0)).record().getConfigVersion();
      assertThat(results)
          .filteredOn(outcome -> !(outcome instanceof CommitOutcome.Committed))
          .hasSize(writers - 1)
          .allSatisfy(
              outcome ->
                  assertThat(outcome)
                      .isIn(
                          new CommitOutcome.Conflict(winner, ImmutableMap.of(A, winner)),
                          new CommitOutcome.HeadMoved(winner)));
      assertThat(await(store.read()).version()).isEqualTo(winner);
    } finally {
      pool.shutdownNow();
      assertThat(pool.awaitTermination(10, TimeUnit.SECONDS)).isTrue();
    }
  }

  @Test
  void aStoreWithAReachableBackendIsWritable() throws InterruptedException {
    eventually("the store is writable", store::isWritable);

    assertThat(store.isWritable()).isTrue();
  }

  @Test
  void aClosedStoreFailsCallsAsUnavailable() {
    store.close();

    assertThat(failure(store.read()).code()).isEqualTo(Status.Code.UNAVAILABLE);
    assertThat(failure(store.commit(change(0).upsert(backend("a", "one")).build())).code())
        .isEqualTo(Status.Code.UNAVAILABLE);
    assertThat(failure(store.publishFleetStatus("cp-a", fleetStatus("dp-1", 1))).code())
        .isEqualTo(Status.Code.UNAVAILABLE);
    assertThat(store.isWritable()).isFalse();
  }

  // ---- quota allocator election

  @Test
  void theFirstCampaignerLeadsAndALaterOneFollowsItAtItsAddress() throws Exception {
    ElectionTesting.Heard first = new ElectionTesting.Heard();
    ElectionTesting.Heard second = new ElectionTesting.Heard();
    Candidate a = new Candidate("cp-a", "10.0.0.1:50052");

    subscriptions.add(store.campaignForQuotaAllocator(a, first::accept));
    Leadership.Leading leading = first.nextLeading();
    subscriptions.add(
        store.campaignForQuotaAllocator(new Candidate("cp-b", "10.0.0.2:50052"), second::accept));
    Leadership.Following following = second.nextFollowing();

    assertThat(leading.self()).isEqualTo(a);
    assertThat(leading.holds()).isTrue();
    assertThat(following.leader()).isEqualTo(a);
    assertThat(following.term()).isEqualTo(leading.term());
  }

  @Test
  void whenTheLeaderResignsTheNextCampaignerLeadsWithANewTerm() throws Exception {
    ElectionTesting.Heard first = new ElectionTesting.Heard();
    ElectionTesting.Heard second = new ElectionTesting.Heard();
    ConfigStore.Subscription leader =
        store.campaignForQuotaAllocator(new Candidate("cp-a", "10.0.0.1:50052"), first::accept);
    long firstTerm = first.nextLeading().term();
    subscriptions.add(
        store.campaignForQuotaAllocator(new Candidate("cp-b", "10.0.0.2:50052"), second::accept));
    second.nextFollowing();

    leader.close();
    Leadership.Leading taken = second.nextLeading();

    assertThat(taken.self().controlPlaneId()).isEqualTo("cp-b");
    assertThat(taken.term()).isNotEqualTo(firstTerm);
  }

  @Test
  void aWatcherLearnsWhoLeadsAndNeverLeadsItself() throws Exception {
    ElectionTesting.Heard watcher = new ElectionTesting.Heard();
    subscriptions.add(store.watchQuotaAllocator(watcher::accept));
    Leadership before = watcher.nextVacant();
    Candidate a = new Candidate("cp-a", "[fd00::1]:50052");

    subscriptions.add(store.campaignForQuotaAllocator(a, view -> {}));
    Leadership.Following following = watcher.nextFollowing();

    assertThat(before).isEqualTo(Leadership.vacant());
    assertThat(following.leader()).isEqualTo(a);
    assertThat(watcher.all()).noneMatch(Leadership.Leading.class::isInstance);
  }

  // ---- fleet status

  @Test
  void everyReplicasPublishedFleetStatusIsWatchedUnderItsId() throws Exception {
    BlockingQueue<Map<String, FleetStatusRecord>> deliveries = watchFleetStatus();
    FleetStatusRecord ofA = fleetStatus("dp-1", 7);
    FleetStatusRecord ofB = fleetStatus("dp-2", 7);

    await(store.publishFleetStatus("cp-a", ofA));
    await(store.publishFleetStatus("cp-b", ofB));

    Map<String, FleetStatusRecord> records = nextStatus(deliveries, r -> r.size() == 2);
    assertThat(records).containsExactlyInAnyOrderEntriesOf(Map.of("cp-a", ofA, "cp-b", ofB));
  }

  @Test
  void aReplicasNewerRecordReplacesItsPreviousOne() throws Exception {
    BlockingQueue<Map<String, FleetStatusRecord>> deliveries = watchFleetStatus();
    await(store.publishFleetStatus("cp-a", fleetStatus("dp-1", 7)));
    FleetStatusRecord newer = fleetStatus("dp-1", 8);

    await(store.publishFleetStatus("cp-a", newer));

    assertThat(nextStatus(deliveries, r -> newer.equals(r.get("cp-a")))).containsOnlyKeys("cp-a");
  }

  @Test
  void aWithdrawnRecordIsGoneAndWithdrawingTwiceIsHarmless() throws Exception {
    BlockingQueue<Map<String, FleetStatusRecord>> deliveries = watchFleetStatus();
    await(store.publishFleetStatus("cp-a", fleetStatus("dp-1", 7)));
    await(store.publishFleetStatus("cp-b", fleetStatus("dp-2", 7)));
    nextStatus(deliveries, r -> r.size() == 2);

    await(store.withdrawFleetStatus("cp-a"));
    await(store.withdrawFleetStatus("cp-a"));
    await(store.withdrawFleetStatus("cp-never-published"));

    assertThat(nextStatus(deliveries, r -> !r.containsKey("cp-a"))).containsOnlyKeys("cp-b");
  }

  @Test
  void aFleetStatusWatchStartsWithTheRecordsPublishedBeforeIt() throws Exception {
    FleetStatusRecord ofA = fleetStatus("dp-1", 7);
    await(store.publishFleetStatus("cp-a", ofA));

    BlockingQueue<Map<String, FleetStatusRecord>> deliveries = watchFleetStatus();

    assertThat(nextStatus(deliveries, r -> !r.isEmpty())).isEqualTo(Map.of("cp-a", ofA));
  }

  /**
   * Status records are live state: publishing one must not create a config version, or every
   * replica would rebuild and resend its snapshot to every data plane about once a second.
   */
  @Test
  void fleetStatusIsNotConfigItCreatesNoVersionAndWakesNoConfigWatcher() throws Exception {
    long v1 = version(store.commit(change(0).upsert(backend("a", "one")).build()));
    BlockingQueue<StoredConfig> configs = new LinkedBlockingQueue<>();
    ConfigStore.Subscription configWatch = store.watch(configs::add);
    BlockingQueue<Map<String, FleetStatusRecord>> statuses = watchFleetStatus();
    try {
      next(configs, config -> config.version() == v1);

      for (int version = 1; version <= 3; version++) {
        await(store.publishFleetStatus("cp-a", fleetStatus("dp-1", version)));
      }
      nextStatus(statuses, r -> fleetStatus("dp-1", 3).equals(r.get("cp-a")));
      StoredConfig read = await(store.read());
      long v2 = version(store.commit(change(v1).upsert(backend("b", "one")).build()));
      List<StoredConfig> between = new ArrayList<>();
      next(configs, config -> config.version() == v2, between);

      assertThat(read.version()).isEqualTo(v1);
      assertThat(between).as("config deliveries caused by status writes").isEmpty();
      assertThat(await(store.history(0, 10)))
          .extracting(ChangeRecord::getConfigVersion)
          .containsExactly(v2, v1);
    } finally {
      configWatch.close();
    }
  }

  @Test
  void aReplicaIdThatCannotNameARecordIsRefused() {
    assertThatThrownBy(() -> store.publishFleetStatus("cp/a", fleetStatus("dp-1", 1)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("controlPlaneId");
    assertThatThrownBy(() -> store.withdrawFleetStatus(""))
        .isInstanceOf(IllegalArgumentException.class);
  }

  /** A replica's record naming one node that serves {@code version} of epoch 1a. */
  protected static FleetStatusRecord fleetStatus(String nodeId, long version) {
    return FleetStatusRecord.newBuilder()
        .setUpdateTime(Timestamps.fromMillis(1_700_000_000_000L + version))
        .addEntries(
            FleetStatusRecord.Entry.newBuilder()
                .setStatus(
                    NodeStatus.newBuilder()
                        .setNode(Node.newBuilder().setId(nodeId))
                        .setState(NodeSyncState.NODE_SYNC_STATE_SYNCED)
                        .setAppliedVersion(version))
                .setAppliedVersionInfo("1a." + version))
        .build();
  }

  private BlockingQueue<Map<String, FleetStatusRecord>> watchFleetStatus() {
    BlockingQueue<Map<String, FleetStatusRecord>> deliveries = new LinkedBlockingQueue<>();
    ConfigStore.Subscription subscription = store.watchFleetStatus(deliveries::add);
    subscriptions.add(subscription);
    return deliveries;
  }

  /** The first fleet-status delivery matching {@code wanted}, waiting a bounded time. */
  protected static Map<String, FleetStatusRecord> nextStatus(
      BlockingQueue<Map<String, FleetStatusRecord>> deliveries,
      Predicate<Map<String, FleetStatusRecord>> wanted)
      throws InterruptedException {
    long deadline = System.nanoTime() + StoreTesting.WAIT.toNanos();
    Map<String, FleetStatusRecord> last = null;
    while (true) {
      long left = deadline - System.nanoTime();
      Map<String, FleetStatusRecord> records =
          deliveries.poll(Math.max(left, 0), TimeUnit.NANOSECONDS);
      if (records == null) {
        throw new AssertionError(
            "no matching fleet status delivered within " + StoreTesting.WAIT + "; last: " + last);
      }
      if (wanted.test(records)) {
        return records;
      }
      last = records;
    }
  }
}
