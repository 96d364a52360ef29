package dev.sluice.controlplane.store;

import dev.sluice.admin.v1.ChangeRecord;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;

/**
 * The durable home of the config: every resource with its version, the config version (head),
 * and the history of committed changes.
 *
 * <p>The store knows nothing about validation: callers validate a whole candidate config and then
 * {@link #commit} it with compare-and-set on the head version, so every committed change was
 * validated against exactly the state it lands on. Versions are positive and never go backwards;
 * a rollback is a new commit.
 *
 * <p>Every method returns at once; futures complete on the store's own threads (never on an etcd
 * client event loop), and every remote call inside has a deadline: a future never hangs. A store
 * that cannot reach its backend fails futures with an {@link dev.sluice.grpc.ApiException} of code
 * {@code UNAVAILABLE} (reason {@code STORE_UNAVAILABLE}); a commit whose outcome is unknown (a
 * timeout after sending) fails with reason {@code STORE_OUTCOME_UNKNOWN}, and a retry with the same
 * request id resolves it through {@link #findByRequestId}.
 */
public interface ConfigStore extends AutoCloseable {
  /** The whole config as of the newest committed version (a linearizable read). */
  CompletableFuture<StoredConfig> read();

  /**
   * The whole config as it was right after version {@code version} was committed, for rollback.
   * Fails with {@code FAILED_PRECONDITION} (reason {@code VERSION_COMPACTED}) when the store no
   * longer has it, and {@code NOT_FOUND} (reason {@code VERSION_NOT_FOUND}) when no such config
   * version was ever committed.
   */
  CompletableFuture<StoredConfig> readAt(long version);

  /**
   * Atomically applies {@code commit} if the head is still at {@link Commit#expectedHeadVersion()}
   * and every per-resource expectation holds; otherwise writes nothing. The change record (with
   * its request id) is written in the same transaction. Per-resource expectations are checked
   * first: a commit that fails both checks ends as {@link CommitOutcome.Conflict}. A commit
   * carries at least one upsert or delete and names each resource at most once; deletes name
   * existing resources (the caller validated that against the expected head).
   */
  CompletableFuture<CommitOutcome> commit(Commit commit);

  /** Committed changes, newest first, with config versions below {@code beforeVersion} (0 = all). */
  CompletableFuture<List<ChangeRecord>> history(long beforeVersion, int limit);

  /** The change committed with this request id, if one was (kept for at least 24 hours). */
  CompletableFuture<Optional<ChangeRecord>> findByRequestId(String requestId);

  /**
   * Calls {@code listener} with the whole config now and again after every change, newest state
   * only (intermediate versions may be skipped, never reordered: versions delivered strictly
   * increase). Calls are serial, on the store's own thread. The store keeps this going across
   * backend outages, watch restarts and compaction (re-listing when needed) by itself.
   */
  Subscription watch(Consumer<StoredConfig> listener);

  /** Whether the store can currently accept commits (its backend is reachable). */
  boolean isWritable();

  /** Stops all watches and releases connections. */
  @Override
  void close();

  /**
   * Opens (creating if needed) the embedded store kept in {@code directory}: a single-process
   * store for development and tests that keeps config and history across restarts. Only one
   * process may open a directory at a time.
   *
   * @throws java.io.UncheckedIOException if the directory cannot be created, is locked by another
   *     store, or holds a damaged log
   */
  static ConfigStore embedded(java.nio.file.Path directory) {
    return EmbeddedConfigStore.open(directory, EmbeddedConfigStore.Options.DEFAULTS);
  }

  /** A running {@link #watch}. */
  interface Subscription extends AutoCloseable {
    /** Stops delivering; idempotent. */
    @Override
    void close();
  }
}
