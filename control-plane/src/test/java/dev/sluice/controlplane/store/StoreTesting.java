package dev.sluice.controlplane.store;

import static dev.sluice.controlplane.Fixtures.await;
import static dev.sluice.controlplane.Fixtures.mockBackend;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import com.google.common.collect.ImmutableList;
import com.google.common.collect.ImmutableMap;
import dev.sluice.admin.v1.ChangeRecord;
import dev.sluice.admin.v1.ChangeType;
import dev.sluice.admin.v1.ResourceChange;
import dev.sluice.config.v1.Resource;
import dev.sluice.grpc.ApiException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.function.Predicate;

/** Helpers for tests of {@link ConfigStore}s: commits, outcomes, failures and watch deliveries. */
public final class StoreTesting {
  /** How long a test waits for something a store does by itself. */
  public static final Duration WAIT = Duration.ofSeconds(20);

  private StoreTesting() {}

  /** Waits a bounded time for {@code condition}; fails the test with {@code what} otherwise. */
  public static void eventually(String what, BooleanSupplier condition)
      throws InterruptedException {
    long deadline = System.nanoTime() + WAIT.toNanos();
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        fail("not within " + WAIT + ": " + what);
      }
      Thread.sleep(20);
    }
  }

  /** A MOCK backend; the description tells revisions apart. */
  public static Resource backend(String name, String description) {
    return mockBackend(name, description);
  }

  /** One entry of a change record's {@code changes}. */
  public static ResourceChange change(ResourceKey key, ChangeType type) {
    return ResourceChange.newBuilder().setRef(key.toRef()).setChangeType(type).build();
  }

  /** Starts a commit validated against {@code expectedHead}. */
  public static CommitBuilder change(long expectedHead) {
    return new CommitBuilder(expectedHead);
  }

  /** The record of a commit that must have succeeded. */
  public static ChangeRecord committed(CompletableFuture<CommitOutcome> commit) {
    CommitOutcome outcome = await(commit);
    if (outcome instanceof CommitOutcome.Committed committed) {
      return committed.record();
    }
    return fail("expected the commit to succeed, but it ended as " + outcome);
  }

  /** The version a commit that must have succeeded created. */
  public static long version(CompletableFuture<CommitOutcome> commit) {
    return committed(commit).getConfigVersion();
  }

  /** The {@link ApiException} {@code future} fails with. */
  public static ApiException failure(CompletableFuture<?> future) {
    Throwable thrown = org.assertj.core.api.Assertions.catchThrowable(() -> await(future));
    assertThat(thrown).isInstanceOf(ApiException.class);
    return (ApiException) thrown;
  }

  /** The first delivery matching {@code wanted}, waiting a bounded time. */
  public static StoredConfig next(
      BlockingQueue<StoredConfig> deliveries, Predicate<StoredConfig> wanted)
      throws InterruptedException {
    return next(deliveries, wanted, new ArrayList<>());
  }

  /**
   * Like {@link #next(BlockingQueue, Predicate)}, adding every delivery it skips to {@code seen}.
   */
  public static StoredConfig next(
      BlockingQueue<StoredConfig> deliveries,
      Predicate<StoredConfig> wanted,
      List<StoredConfig> seen)
      throws InterruptedException {
    long deadline = System.nanoTime() + WAIT.toNanos();
    while (true) {
      long left = deadline - System.nanoTime();
      StoredConfig config = deliveries.poll(Math.max(left, 0), TimeUnit.NANOSECONDS);
      if (config == null) {
        return fail("no matching config delivered within " + WAIT + "; saw " + versionsOf(seen));
      }
      if (wanted.test(config)) {
        return config;
      }
      seen.add(config);
    }
  }

  public static List<Long> versionsOf(List<StoredConfig> configs) {
    return configs.stream().map(StoredConfig::version).toList();
  }

  public static List<Long> versions(List<ChangeRecord> records) {
    return records.stream().map(ChangeRecord::getConfigVersion).toList();
  }

  /** Waits a bounded time for {@code latch}, for starting racing threads together. */
  public static void awaitLatch(CountDownLatch latch) {
    try {
      if (!latch.await(10, TimeUnit.SECONDS)) {
        throw new IllegalStateException("start signal never came");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  /** Builds a {@link Commit} whose record lists one change per upsert and delete. */
  public static final class CommitBuilder {
    private final long expectedHead;
    private final List<Resource> upserts = new ArrayList<>();
    private final List<ResourceKey> deletes = new ArrayList<>();
    private final Map<ResourceKey, Long> expected = new LinkedHashMap<>();
    private ChangeRecord.Builder record =
        ChangeRecord.newBuilder().setAuthor("tester").setReason("contract test");
    private boolean recordGiven;

    private CommitBuilder(long expectedHead) {
      this.expectedHead = expectedHead;
    }

    public CommitBuilder upsert(Resource resource) {
      upserts.add(resource);
      return this;
    }

    public CommitBuilder delete(ResourceKey key) {
      deletes.add(key);
      return this;
    }

    public CommitBuilder expect(ResourceKey key, long version) {
      expected.put(key, version);
      return this;
    }

    public CommitBuilder by(String author, String reason) {
      record.setAuthor(author).setReason(reason);
      return this;
    }

    public CommitBuilder requestId(String requestId) {
      record.setRequestId(requestId);
      return this;
    }

    /** Uses {@code given} as the record as it is, changes included. */
    public CommitBuilder record(ChangeRecord given) {
      record = given.toBuilder();
      recordGiven = true;
      return this;
    }

    public Commit build() {
      if (!recordGiven) {
        List<ResourceChange> changes = new ArrayList<>();
        upserts.forEach(
            r ->
                changes.add(
                    change(
                        ResourceKey.of(r),
                        expected.getOrDefault(ResourceKey.of(r), -1L) > 0
                            ? ChangeType.CHANGE_TYPE_MODIFIED
                            : ChangeType.CHANGE_TYPE_ADDED)));
        deletes.forEach(k -> changes.add(change(k, ChangeType.CHANGE_TYPE_DELETED)));
        changes.sort((x, y) -> ResourceKey.of(x.getRef()).compareTo(ResourceKey.of(y.getRef())));
        record.clearChanges().addAllChanges(changes);
      }
      return new Commit(
          expectedHead,
          ImmutableList.copyOf(upserts),
          ImmutableList.copyOf(deletes),
          ImmutableMap.copyOf(expected),
          record.build());
    }
  }
}
