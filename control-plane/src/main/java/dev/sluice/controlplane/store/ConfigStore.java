package dev.sluice.controlplane.store;

import com.google.common.collect.ImmutableMap;
import dev.sluice.admin.v1.ChangeRecord;
import dev.sluice.admin.v1.FleetStatusRecord;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;

/**
 * The durable home of the config: every resource with its version, the config version (head), and
 * the history of committed changes.
 *
 * <p>The store knows nothing about validation: callers validate a whole candidate config and then
 * {@link #commit} it with compare-and-set on the head version, so every committed change was
 * validated against exactly the state it lands on. Versions are positive and never go backwards; a
 * rollback is a new commit.
 *
 * <p>Every method returns at once; futures complete on the store's own threads (never on an etcd
 * client event loop), and every remote call inside has a deadline: a future never hangs. A store
 * that cannot reach its backend fails futures with an {@link dev.sluice.grpc.ApiException} of code
 * {@code UNAVAILABLE} (reason {@code STORE_UNAVAILABLE}); a commit whose outcome is unknown (a
 * timeout after sending) fails with reason {@code STORE_OUTCOME_UNKNOWN}, and a retry with the same
 * request id resolves it through {@link #findByRequestId}.
 *
 * <p>Besides the config, the store carries each control-plane replica's {@link FleetStatusRecord}
 * so that every replica can answer for the whole fleet. Status records are not config: publishing
 * one never creates a config version, never reaches {@link #watch} listeners, and leaves {@link
 * #read}, {@link #readAt} and {@link #history} untouched. They are live state, not history: a
 * record lives only while the store that published it is open and reaches its backend.
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

  /**
   * Publishes the fleet status of replica {@code controlPlaneId}, replacing what that replica
   * published before; every store on the same backend sees it through {@link #watchFleetStatus}.
   *
   * <p>The record lives as long as this store: closing the store removes it, and so does losing the
   * backend for long enough (etcd: the key {@code status/cp/<controlPlaneId>} is attached to a
   * lease this store keeps alive, so a replica that dies or is cut off from etcd disappears within
   * the lease's TTL). Once the backend is back, the store writes the record again by itself, and it
   * keeps retrying a write that failed until a newer record or {@link #withdrawFleetStatus}
   * replaces it, so callers need not retry.
   *
   * <p>Every write costs the backend a revision kept until compaction, so callers publish only
   * records that changed, at most about once a second.
   *
   * @param controlPlaneId the replica's id, 1 to 128 characters of {@code [A-Za-z0-9._:-]}
   * @return completes once this record (or a newer one of the replica) is written; fails when this
   *     attempt failed (the store still retries) or the store is closed
   */
  CompletableFuture<Void> publishFleetStatus(String controlPlaneId, FleetStatusRecord record);

  /**
   * Removes the record published for {@code controlPlaneId}, for a replica that stops while the
   * store stays open. Idempotent; a replica that never published has nothing to remove.
   */
  CompletableFuture<Void> withdrawFleetStatus(String controlPlaneId);

  /**
   * Calls {@code listener} with the records of every replica now live on the backend (records
   * published through this store included), keyed by control-plane id, now and again after every
   * change; newest state only. Calls are serial, on the store's own thread. Like {@link #watch},
   * the store keeps this going across backend outages by itself; while the backend is unreachable
   * the last state known is not re-delivered, and records that expired meanwhile go with the first
   * delivery afterwards.
   */
  Subscription watchFleetStatus(Consumer<ImmutableMap<String, FleetStatusRecord>> listener);

  /**
   * Stands {@code self} in the election of the fleet's quota allocator, the one replica that
   * answers {@code DiscoveryService.LeaseQuota} (the others forward to it). Of all the replicas
   * campaigning on one backend, at most one sees itself {@link Leadership.Leading} with a tenure
   * that {@link Leadership.Leading#holds() holds} at any moment; the others see it as {@link
   * Leadership.Following} once they have heard of it.
   *
   * <p>The etcd store elects through a key held on a lease that the winner keeps alive; a winner
   * that cannot renew its lease (etcd down, or cut off from it) steps down before the lease can
   * expire, and only then may another replica win. The embedded store serves one process, so its
   * first campaigner simply leads until it resigns.
   *
   * @param self this replica, and where the others reach it
   * @param listener called with {@link Leadership#vacant()} or what is known at once, then after
   *     every change, including each renewal of this replica's tenure; serially, on a store
   *     thread, newest state only. It must return quickly.
   * @return closing it resigns: the listener hears nothing more, and a tenure this campaign holds
   *     is given up on the backend (waiting up to the store's call deadline) so that another
   *     replica can take over without waiting for the lease to lapse
   */
  Subscription campaignForQuotaAllocator(Candidate self, Consumer<Leadership> listener);

  /**
   * As {@link #campaignForQuotaAllocator} without standing: the listener learns who leads (never
   * {@link Leadership.Leading}), for a replica that forwards quota calls but never allocates.
   */
  Subscription watchQuotaAllocator(Consumer<Leadership> listener);

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
