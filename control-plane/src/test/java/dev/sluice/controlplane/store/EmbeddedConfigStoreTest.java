package dev.sluice.controlplane.store;

import static dev.sluice.controlplane.Fixtures.await;
import static dev.sluice.controlplane.Fixtures.mockBackend;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.common.collect.ImmutableList;
import com.google.common.collect.ImmutableMap;
import dev.sluice.admin.v1.ChangeRecord;
import dev.sluice.config.v1.Resource;
import dev.sluice.config.v1.ResourceKind;
import dev.sluice.grpc.ApiException;
import io.grpc.Status;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

@Timeout(60)
class EmbeddedConfigStoreTest {
  private static final ResourceKey A = new ResourceKey(ResourceKind.RESOURCE_KIND_BACKEND, "a");
  private static final ResourceKey B = new ResourceKey(ResourceKind.RESOURCE_KIND_BACKEND, "b");

  @TempDir Path dir;
  private ConfigStore store;

  @AfterEach
  void closeStore() {
    if (store != null) {
      store.close();
    }
  }

  @Test
  void aFreshStoreIsEmptyAtVersionZero() {
    store = ConfigStore.embedded(dir);

    StoredConfig config = await(store.read());

    assertThat(config.version()).isZero();
    assertThat(config.resources()).isEmpty();
    assertThat(store.isWritable()).isTrue();
  }

  @Test
  void versionsStartAtOneAndGrowByOnePerCommit() {
    store = ConfigStore.embedded(dir);

    CommitOutcome first = await(store.commit(upsert(0, mockBackend("a"))));
    CommitOutcome second = await(store.commit(upsert(1, mockBackend("b"))));

    assertThat(first).isInstanceOfSatisfying(
        CommitOutcome.Committed.class, c -> assertThat(c.record().getConfigVersion()).isEqualTo(1));
    assertThat(second).isInstanceOfSatisfying(
        CommitOutcome.Committed.class, c -> assertThat(c.record().getConfigVersion()).isEqualTo(2));
    StoredConfig config = await(store.read());
    assertThat(config.version()).isEqualTo(2);
    assertThat(Resources.version(config.resources().get(A))).isEqualTo(1);
    assertThat(Resources.version(config.resources().get(B))).isEqualTo(2);
  }

  @Test
  void theStoreFillsInVersionAndCommitTimeButKeepsTheCallersRecord() {
    store = ConfigStore.embedded(dir);

    CommitOutcome outcome = await(store.commit(upsert(0, mockBackend("a"))));

    ChangeRecord record = ((CommitOutcome.Committed) outcome).record();
    assertThat(record.getAuthor()).isEqualTo("alice");
    assertThat(record.getPrincipal()).isEqualTo("ci");
    assertThat(record.getReason()).isEqualTo("test");
    assertThat(record.getCommitTime().getSeconds()).isPositive();
  }

  @Test
  void aStaleHeadWritesNothing() {
    store = ConfigStore.embedded(dir);
    await(store.commit(upsert(0, mockBackend("a"))));

    CommitOutcome outcome = await(store.commit(upsert(0, mockBackend("b"))));

    assertThat(outcome).isEqualTo(new CommitOutcome.HeadMoved(1));
    assertThat(await(store.read()).resources()).containsOnlyKeys(A);
  }

  @Test
  void aStaleResourceVersionIsAConflictNamingOnlyTheMismatchedResources() {
    store = ConfigStore.embedded(dir);
    await(store.commit(upsert(0, mockBackend("a"))));
    await(store.commit(upsert(1, mockBackend("b"))));

    Commit commit =
        new Commit(
            2,
            ImmutableList.of(mockBackend("a", "new"), mockBackend("b", "new")),
            ImmutableList.of(),
            ImmutableMap.of(A, 1L, B, 1L),
            record("r-1"));
    CommitOutcome outcome = await(store.commit(commit));

    assertThat(outcome).isEqualTo(new CommitOutcome.Conflict(2, ImmutableMap.of(B, 2L)));
    assertThat(await(store.read()).version()).isEqualTo(2);
  }

  @Test
  void expectedVersionZeroMeansTheResourceMustNotExist() {
    store = ConfigStore.embedded(dir);
    await(store.commit(upsert(0, mockBackend("a"))));

    Commit create =
        new Commit(
            1,
            ImmutableList.of(mockBackend("a", "again")),
            ImmutableList.of(),
            ImmutableMap.of(A, 0L),
            record(""));

    assertThat(await(store.commit(create)))
        .isEqualTo(new CommitOutcome.Conflict(1, ImmutableMap.of(A, 1L)));
  }

  @Test
  void aConflictWinsOverAMovedHead() {
    store = ConfigStore.embedded(dir);
    await(store.commit(upsert(0, mockBackend("a"))));

    Commit commit =
        new Commit(
            0,
            ImmutableList.of(mockBackend("a", "x")),
            ImmutableList.of(),
            ImmutableMap.of(A, 7L),
            record(""));

    assertThat(await(store.commit(commit))).isInstanceOf(CommitOutcome.Conflict.class);
  }

  @Test
  void deletesRemoveResources() {
    store = ConfigStore.embedded(dir);
    await(store.commit(upsert(0, mockBackend("a"))));

    await(
        store.commit(
            new Commit(1, ImmutableList.of(), ImmutableList.of(A), ImmutableMap.of(), record(""))));

    StoredConfig config = await(store.read());
    assertThat(config.version()).isEqualTo(2);
    assertThat(config.resources()).isEmpty();
  }

  @Test
  void anEmptyCommitIsRefused() {
    store = ConfigStore.embedded(dir);

    assertThatThrownBy(
            () ->
                await(
                    store.commit(
                        new Commit(
                            0,
                            ImmutableList.of(),
                            ImmutableList.of(),
                            ImmutableMap.of(),
                            record("")))))
        .isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void readAtReturnsEachEarlierConfig() {
    store = ConfigStore.embedded(dir);
    await(store.commit(upsert(0, mockBackend("a"))));
    await(store.commit(upsert(1, mockBackend("a", "changed"))));
    await(store.commit(upsert(2, mockBackend("b"))));

    StoredConfig v1 = await(store.readAt(1));
    StoredConfig v2 = await(store.readAt(2));

    assertThat(v1.version()).isEqualTo(1);
    assertThat(v1.resources()).containsOnlyKeys(A);
    assertThat(v1.resources().get(A).getBackend().getDescription()).isEmpty();
    assertThat(v2.resources().get(A).getBackend().getDescription()).isEqualTo("changed");
    assertThat(await(store.readAt(0)).resources()).isEmpty();
  }

  @Test
  void readAtAnUncommittedVersionIsNotFound() {
    store = ConfigStore.embedded(dir);
    await(store.commit(upsert(0, mockBackend("a"))));

    assertThatThrownBy(() -> await(store.readAt(5)))
        .isInstanceOfSatisfying(
            ApiException.class,
            e -> {
              assertThat(e.code()).isEqualTo(Status.Code.NOT_FOUND);
              assertThat(e.reason()).isEqualTo("VERSION_NOT_FOUND");
            });
  }

  @Test
  void historyIsNewestFirstAndPagesByVersion() {
    store = ConfigStore.embedded(dir);
    for (int i = 0; i < 5; i++) {
      await(store.commit(upsert(i, mockBackend("a", "rev" + i))));
    }

    List<ChangeRecord> firstPage = await(store.history(0, 2));
    List<ChangeRecord> nextPage = await(store.history(4, 10));

    assertThat(firstPage).extracting(ChangeRecord::getConfigVersion).containsExactly(5L, 4L);
    assertThat(nextPage).extracting(ChangeRecord::getConfigVersion).containsExactly(3L, 2L, 1L);
  }

  @Test
  void aRestartKeepsConfigHistoryRequestIdsAndEpoch() {
    store = ConfigStore.embedded(dir);
    await(store.commit(upsert(0, mockBackend("a"), "req-1")));
    await(store.commit(upsert(1, mockBackend("b"), "req-2")));
    StoredConfig before = await(store.read());
    store.close();

    store = ConfigStore.embedded(dir);

    assertThat(await(store.read())).isEqualTo(before);
    assertThat(await(store.history(0, 10))).hasSize(2);
    assertThat(await(store.findByRequestId("req-1")))
        .hasValueSatisfying(r -> assertThat(r.getConfigVersion()).isEqualTo(1));
    CommitOutcome next = await(store.commit(upsert(2, mockBackend("c"))));
    assertThat(((CommitOutcome.Committed) next).record().getConfigVersion()).isEqualTo(3);
  }

  @Test
  void aNewDirectoryIsANewEpoch() {
    ConfigStore first = ConfigStore.embedded(dir.resolve("one"));
    ConfigStore second = ConfigStore.embedded(dir.resolve("two"));
    try {
      assertThat(await(first.read()).epoch()).isNotEqualTo(await(second.read()).epoch());
    } finally {
      first.close();
      second.close();
    }
  }

  @Test
  void findByRequestIdIgnoresTheEmptyId() {
    store = ConfigStore.embedded(dir);
    await(store.commit(upsert(0, mockBackend("a"))));

    assertThat(await(store.findByRequestId(""))).isEmpty();
    assertThat(await(store.findByRequestId("unknown"))).isEmpty();
  }

  @Test
  void aSecondStoreCannotOpenTheSameDirectory() {
    store = ConfigStore.embedded(dir);

    assertThatThrownBy(() -> ConfigStore.embedded(dir))
        .isInstanceOf(UncheckedIOException.class)
        .hasMessageContaining(dir.toString());
  }

  @Test
  void aTornLastFrameIsCutOffAndEarlierChangesSurvive() throws IOException {
    store = ConfigStore.embedded(dir);
    await(store.commit(upsert(0, mockBackend("a"))));
    store.close();
    // A crash in the middle of an append: a frame header promising more bytes than follow.
    try (FileChannel ch =
        FileChannel.open(dir.resolve(EmbeddedLog.FILE_NAME), StandardOpenOption.APPEND)) {
      ch.write(ByteBuffer.wrap(new byte[] {0, 0, 1, 0, 1, 2, 3, 4, 3, 9, 9}));
    }

    store = ConfigStore.embedded(dir);

    assertThat(await(store.read()).resources()).containsOnlyKeys(A);
    CommitOutcome next = await(store.commit(upsert(1, mockBackend("b"))));
    assertThat(next).isInstanceOf(CommitOutcome.Committed.class);
    store.close();
    store = ConfigStore.embedded(dir);
    assertThat(await(store.read()).resources()).containsOnlyKeys(A, B);
  }

  @Test
  void damageBeforeTheLastFrameRefusesToOpenRatherThanLoseChanges() throws IOException {
    store = ConfigStore.embedded(dir);
    await(store.commit(upsert(0, mockBackend("a"))));
    await(store.commit(upsert(1, mockBackend("b"))));
    store.close();
    store = null;
    Path file = dir.resolve(EmbeddedLog.FILE_NAME);
    byte[] bytes = Files.readAllBytes(file);
    // Flip a byte inside the base frame, which is followed by two entries.
    bytes[30] ^= 0x55;
    Files.write(file, bytes);

    assertThatThrownBy(() -> ConfigStore.embedded(dir))
        .isInstanceOf(UncheckedIOException.class)
        .hasRootCauseMessage(
            file + " is damaged: checksum mismatch at byte offset " + offsetOfBaseFrame(bytes));
  }

  @Test
  void compactionFoldsOldChangesIntoTheBaseAndKeepsRecentOnes() {
    store =
        EmbeddedConfigStore.open(
            dir, new EmbeddedConfigStore.Options(2, Duration.ofMinutes(1), new TickingClock()));
    for (int i = 0; i < 20; i++) {
      await(store.commit(upsert(i, mockBackend("a", "rev" + i))));
    }

    assertThatThrownBy(() -> await(store.readAt(1)))
        .isInstanceOfSatisfying(
            ApiException.class,
            e -> {
              assertThat(e.code()).isEqualTo(Status.Code.FAILED_PRECONDITION);
              assertThat(e.reason()).isEqualTo("VERSION_COMPACTED");
            });
    assertThat(await(store.readAt(19)).resources().get(A).getBackend().getDescription())
        .isEqualTo("rev18");
    assertThat(await(store.history(0, 100)).size()).isLessThan(20).isGreaterThanOrEqualTo(2);

    store.close();
    store = ConfigStore.embedded(dir);
    assertThat(await(store.read()).version()).isEqualTo(20);
    assertThat(await(store.readAt(20)).resources().get(A).getBackend().getDescription())
        .isEqualTo("rev19");
    CommitOutcome next = await(store.commit(upsert(20, mockBackend("b"))));
    assertThat(((CommitOutcome.Committed) next).record().getConfigVersion()).isEqualTo(21);
  }

  @Test
  void aWatchSeesTheCurrentConfigAndThenOnlyIncreasingVersions() throws InterruptedException {
    store = ConfigStore.embedded(dir);
    await(store.commit(upsert(0, mockBackend("a"))));
    List<Long> seen = new CopyOnWriteArrayList<>();
    CountDownLatch reachedLast = new CountDownLatch(1);

    ConfigStore.Subscription subscription =
        store.watch(
            config -> {
              seen.add(config.version());
              if (config.version() == 11) {
                reachedLast.countDown();
              }
            });
    for (int i = 1; i <= 10; i++) {
      await(store.commit(upsert(i, mockBackend("a", "rev" + i))));
    }

    assertThat(reachedLast.await(10, TimeUnit.SECONDS)).isTrue();
    assertThat(seen.get(0)).isGreaterThanOrEqualTo(1);
    assertThat(seen).isSorted().doesNotHaveDuplicates().endsWith(11L);
    subscription.close();
  }

  @Test
  void aClosedStoreFailsCallsAsUnavailable() {
    store = ConfigStore.embedded(dir);
    store.close();

    assertThat(store.isWritable()).isFalse();
    assertThatThrownBy(() -> await(store.read()))
        .isInstanceOfSatisfying(
            ApiException.class,
            e -> {
              assertThat(e.code()).isEqualTo(Status.Code.UNAVAILABLE);
              assertThat(e.reason()).isEqualTo("STORE_UNAVAILABLE");
            });
  }

  // ---- helpers

  /** A clock that moves one minute per reading, so every commit is older than the last. */
  private static final class TickingClock extends Clock {
    private final java.util.concurrent.atomic.AtomicLong minutes = new java.util.concurrent.atomic.AtomicLong();

    @Override
    public java.time.ZoneId getZone() {
      return java.time.ZoneOffset.UTC;
    }

    @Override
    public Clock withZone(java.time.ZoneId zone) {
      return this;
    }

    @Override
    public java.time.Instant instant() {
      return java.time.Instant.ofEpochSecond(1_700_000_000L + 60 * minutes.incrementAndGet());
    }
  }

  private static int offsetOfBaseFrame(byte[] bytes) {
    int headerLength = ByteBuffer.wrap(bytes, 0, 4).getInt();
    return 8 + headerLength;
  }

  private static Commit upsert(long expectedHead, Resource resource) {
    return upsert(expectedHead, resource, "");
  }

  private static Commit upsert(long expectedHead, Resource resource, String requestId) {
    return new Commit(
        expectedHead, ImmutableList.of(resource), ImmutableList.of(), ImmutableMap.of(), record(requestId));
  }

  private static ChangeRecord record(String requestId) {
    return ChangeRecord.newBuilder()
        .setAuthor("alice")
        .setPrincipal("ci")
        .setReason("test")
        .setRequestId(requestId)
        .build();
  }
}
