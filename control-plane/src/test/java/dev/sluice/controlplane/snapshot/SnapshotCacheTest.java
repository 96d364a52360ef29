package dev.sluice.controlplane.snapshot;

import static dev.sluice.controlplane.Fixtures.await;
import static dev.sluice.controlplane.Fixtures.mockBackend;
import static dev.sluice.controlplane.Fixtures.model;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.common.collect.ImmutableList;
import com.google.common.collect.ImmutableMap;
import dev.sluice.admin.v1.ChangeRecord;
import dev.sluice.config.v1.Resource;
import dev.sluice.controlplane.store.Commit;
import dev.sluice.controlplane.store.CommitOutcome;
import dev.sluice.controlplane.store.ConfigStore;
import dev.sluice.controlplane.validation.ConfigValidator;
import dev.sluice.controlplane.validation.Violation;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

@Timeout(60)
class SnapshotCacheTest {
  @TempDir Path dir;
  private ConfigStore store;
  private SnapshotCache cache;

  @AfterEach
  void tearDown() {
    if (cache != null) {
      cache.close();
    }
    if (store != null) {
      store.close();
    }
  }

  @Test
  void theFirstConfigIsPublishedWithoutWaitingForTheQuietPeriod() throws InterruptedException {
    store = ConfigStore.embedded(dir);
    commit(0, mockBackend("a"));

    cache = start(new SnapshotCache.Debounce(Duration.ofMinutes(5), Duration.ofMinutes(5)));

    assertThat(cache.awaitFirst(Duration.ofSeconds(10))).isTrue();
    Snapshot snapshot = cache.current();
    assertThat(snapshot.version()).isEqualTo(1);
    assertThat(snapshot.resources()).containsExactly(await(store.read()).resources().values().asList().get(0));
    assertThat(snapshot.versionInfo()).isEqualTo(VersionInfo.format(snapshot.epoch(), 1));
    assertThat(snapshot.digest()).hasSize(64).isEqualTo(Snapshot.digest(snapshot.proto()));
  }

  @Test
  void aBurstOfChangesBecomesOneSnapshot() throws InterruptedException {
    store = ConfigStore.embedded(dir);
    cache = start(new SnapshotCache.Debounce(Duration.ofSeconds(2), Duration.ofSeconds(20)));
    assertThat(cache.awaitFirst(Duration.ofSeconds(10))).isTrue();
    BlockingQueue<Long> published = new LinkedBlockingQueue<>();
    cache.addListener(s -> published.add(s.version()));

    for (int i = 0; i < 5; i++) {
      commit(i, mockBackend("a", "rev" + i));
    }

    assertThat(published.poll(20, TimeUnit.SECONDS)).isEqualTo(5);
    assertThat(published.poll(2500, TimeUnit.MILLISECONDS)).isNull();
  }

  @Test
  void aBusyStoreStillGetsSnapshotsWhileChangesKeepComing() throws InterruptedException {
    store = ConfigStore.embedded(dir);
    cache = start(new SnapshotCache.Debounce(Duration.ofMillis(500), Duration.ofSeconds(1)));
    assertThat(cache.awaitFirst(Duration.ofSeconds(10))).isTrue();
    BlockingQueue<Long> published = new LinkedBlockingQueue<>();
    cache.addListener(s -> published.add(s.version()));

    // A change every 100 ms never leaves the store quiet for 500 ms.
    for (int i = 0; i < 30; i++) {
      commit(i, mockBackend("a", "rev" + i));
      Thread.sleep(100);
    }

    assertThat(published.poll(20, TimeUnit.SECONDS)).isLessThan(30);
  }

  @Test
  void anInvalidConfigKeepsTheLastGoodSnapshot() throws InterruptedException {
    store = ConfigStore.embedded(dir);
    commit(0, mockBackend("a"));
    cache = start(new SnapshotCache.Debounce(Duration.ofMillis(10), Duration.ofMillis(50)));
    assertThat(cache.awaitFirst(Duration.ofSeconds(10))).isTrue();
    List<Long> published = new CopyOnWriteArrayList<>();
    cache.addListener(s -> published.add(s.version()));

    // Written behind the admin API's back: the model's backend does not exist.
    commit(1, model("chat", "missing"));
    waitUntil(() -> cache.failedBuilds() == 1);

    assertThat(cache.current().version()).isEqualTo(1);
    assertThat(cache.lastFailure())
        .extracting(Violation::path)
        .containsExactly("model/chat.versions[0].backends[0].backend");
    assertThat(published).isEmpty();

    commit(2, mockBackend("missing"));
    waitUntil(() -> cache.current().version() == 3);
    assertThat(cache.lastFailure()).isEmpty();
    assertThat(published).containsExactly(3L);
  }

  @Test
  void equalContentHasAnEqualDigestAndAnyChangeChangesIt() {
    Resource labelled = mockBackend("a");
    Resource oneOrder =
        labelled.toBuilder()
            .setBackend(labelled.getBackend().toBuilder().putLabels("x", "1").putLabels("y", "2"))
            .build();
    Resource otherOrder =
        labelled.toBuilder()
            .setBackend(labelled.getBackend().toBuilder().putLabels("y", "2").putLabels("x", "1"))
            .build();

    String a = digestOf(7, oneOrder);
    String b = digestOf(7, otherOrder);
    String c = digestOf(7, mockBackend("a", "changed"));
    String d = digestOf(8, oneOrder);

    assertThat(a).isEqualTo(b);
    assertThat(c).isNotEqualTo(a);
    assertThat(d).isNotEqualTo(a);
  }

  // ---- helpers

  private static String digestOf(long version, Resource resource) {
    return Snapshot.digest(
        dev.sluice.config.v1.ConfigSnapshot.newBuilder()
            .setVersion(version)
            .addResources(resource)
            .build());
  }

  private SnapshotCache start(SnapshotCache.Debounce debounce) {
    return SnapshotCache.watching(store, ConfigValidator.create(), debounce, Clock.systemUTC());
  }

  private void commit(long head, Resource resource) {
    CommitOutcome outcome =
        await(
            store.commit(
                new Commit(
                    head,
                    ImmutableList.of(resource),
                    ImmutableList.of(),
                    ImmutableMap.of(),
                    ChangeRecord.getDefaultInstance())));
    assertThat(outcome).isInstanceOf(CommitOutcome.Committed.class);
  }

  private static void waitUntil(java.util.function.BooleanSupplier condition)
      throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("condition not reached within 20 s");
      }
      Thread.sleep(10);
    }
  }
}
