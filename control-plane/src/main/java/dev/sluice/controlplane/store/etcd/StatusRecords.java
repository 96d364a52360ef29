package dev.sluice.controlplane.store.etcd;

import dev.sluice.admin.v1.FleetStatusRecord;
import io.etcd.jetcd.Lease;
import io.etcd.jetcd.lease.LeaseKeepAliveResponse;
import io.etcd.jetcd.op.Op;
import io.etcd.jetcd.options.DeleteOption;
import io.etcd.jetcd.options.PutOption;
import io.etcd.jetcd.support.CloseableClient;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.jspecify.annotations.Nullable;

/**
 * The fleet-status records published through one etcd store, kept in etcd for as long as the store
 * lives: each under {@code status/cp/<control-plane id>}, all attached to one lease of this store.
 *
 * <p><b>Why a lease.</b> A replica that crashes, or is cut off from etcd, cannot delete its record;
 * its nodes would be reported forever. jetcd keeps the lease alive (a refresh every third of the
 * TTL) while this process is up and reaches etcd; otherwise etcd deletes the keys within the TTL.
 * etcd refreshes every lease to its full TTL on a leader change, so a record may outlive its
 * replica by up to one more TTL, never less.
 *
 * <p><b>Desired state.</b> The records given to {@link #publish} are the truth; etcd is brought to
 * them by one write loop: at most one grant or transaction is in flight, and it writes the newest
 * record of every replica that changed since the last write (so a slow write is never overtaken by
 * an older one). A failed write is retried with backoff until it succeeds or is superseded. When
 * the lease is lost (the keep-alive stream ends, etcd says it no longer exists, or a put names a
 * lease etcd has dropped) a new lease is granted and every record is written again on it. That is
 * what makes a replica that was cut off from etcd for longer than the TTL reappear once it is back.
 *
 * <p><b>Threading.</b> All state is confined to the store's serial executor; jetcd callbacks and
 * call completions only hop there. Every call has the store's deadline (see {@link EtcdCalls}).
 */
final class StatusRecords {
  private static final Logger logger = Logger.getLogger(StatusRecords.class.getName());

  private final KeyLayout layout;
  private final EtcdCalls calls;
  private final Lease leases;
  private final ScheduledExecutorService serial;
  private final long ttlSeconds;
  private final Backoff backoff;

  // Everything below is confined to the serial executor.

  /** The record each replica published through this store and did not withdraw. */
  private final Map<String, FleetStatusRecord> desired = new TreeMap<>();

  /** Replicas whose key in etcd may differ from {@link #desired} (to be put or deleted). */
  private final Set<String> dirty = new TreeSet<>();

  /** Callers waiting until a replica's key is written. */
  private final Map<String, List<CompletableFuture<Void>>> waiting = new HashMap<>();

  /** Callers waiting for the write in flight, failed by {@link #close()} if it never returns. */
  private List<CompletableFuture<Void>> inFlight = List.of();

  /** The lease the records are on; 0 while none is granted. */
  private long leaseId;

  private @Nullable CloseableClient keepAlive;
  private boolean busy;
  private @Nullable ScheduledFuture<?> retry;
  private boolean closed;

  StatusRecords(
      KeyLayout layout,
      EtcdCalls calls,
      Lease leases,
      ScheduledExecutorService serial,
      EtcdStoreOptions options) {
    this.layout = layout;
    this.calls = calls;
    this.leases = leases;
    this.serial = serial;
    this.ttlSeconds = options.statusTtl().toSeconds();
    this.backoff = new Backoff(options.watchRetryMin(), options.watchRetryMax());
  }

  /** Makes {@code record} the record of {@code controlPlaneId}; see the class documentation. */
  CompletableFuture<Void> publish(String controlPlaneId, FleetStatusRecord record) {
    return change(controlPlaneId, record);
  }

  /** Removes the record of {@code controlPlaneId} from etcd. */
  CompletableFuture<Void> withdraw(String controlPlaneId) {
    return change(controlPlaneId, null);
  }

  private CompletableFuture<Void> change(String id, @Nullable FleetStatusRecord record) {
    CompletableFuture<Void> written = new CompletableFuture<>();
    try {
      serial.execute(
          () -> {
            if (closed) {
              written.completeExceptionally(StoreErrors.closed());
              return;
            }
            if (record == null) {
              desired.remove(id);
            } else {
              desired.put(id, record);
            }
            dirty.add(id);
            waiting.computeIfAbsent(id, k -> new ArrayList<>()).add(written);
            sync();
          });
    } catch (RejectedExecutionException e) {
      written.completeExceptionally(StoreErrors.closed());
    }
    return written;
  }

  /**
   * Stops keeping the records and revokes the lease, which deletes them all at once. Runs on the
   * serial executor; the returned future completes when etcd answered the revoke (or it failed: the
   * lease then expires by itself within its TTL).
   */
  CompletableFuture<Void> close() {
    closed = true;
    cancel(retry);
    stopKeepAlive();
    waiting
        .values()
        .forEach(list -> list.forEach(f -> f.completeExceptionally(StoreErrors.closed())));
    waiting.clear();
    // A write still in flight may complete after the store's threads are gone.
    inFlight.forEach(f -> f.completeExceptionally(StoreErrors.closed()));
    long lease = leaseId;
    leaseId = 0;
    if (lease == 0) {
      return CompletableFuture.completedFuture(null);
    }
    return calls
        .call(() -> leases.revoke(lease))
        .handle(
            (response, failure) -> {
              if (failure != null) {
                logger.log(
                    Level.FINE,
                    "revoking the fleet status lease failed; it expires within "
                        + ttlSeconds
                        + " s",
                    failure);
              }
              return null;
            });
  }

  // ---------------------------------------------------------------- the write loop

  /** Starts the next grant or write, unless one is in flight or a retry is pending. */
  private void sync() {
    if (closed || busy || retry != null || dirty.isEmpty()) {
      return;
    }
    boolean needsLease = dirty.stream().anyMatch(desired::containsKey);
    if (needsLease && leaseId == 0) {
      grant();
    } else {
      write();
    }
  }

  private void grant() {
    busy = true;
    calls
        .call(() -> leases.grant(ttlSeconds))
        .whenCompleteAsync(
            (response, failure) -> {
              busy = false;
              if (closed) {
                if (failure == null) {
                  calls.call(() -> leases.revoke(response.getID()));
                }
                return;
              }
              if (failure != null) {
                logger.log(Level.FINE, "granting the fleet status lease failed", failure);
                failWaiters(dirty, failure);
                retryLater();
                return;
              }
              leaseId = response.getID();
              startKeepAlive(leaseId);
              sync();
            },
            serial);
  }

  /**
   * Writes the newest state of every dirty replica in one transaction: puts on the lease, deletes
   * for withdrawn records. Puts are idempotent, so a write whose outcome is unknown is simply
   * written again.
   */
  private void write() {
    List<String> batch = new ArrayList<>(dirty);
    dirty.clear();
    List<CompletableFuture<Void>> waiters = new ArrayList<>();
    List<Op> ops = new ArrayList<>();
    long lease = leaseId;
    for (String id : batch) {
      List<CompletableFuture<Void>> forId = waiting.remove(id);
      if (forId != null) {
        waiters.addAll(forId);
      }
      FleetStatusRecord record = desired.get(id);
      ops.add(
          record == null
              ? Op.delete(layout.status(id), DeleteOption.DEFAULT)
              : Op.put(
                  layout.status(id),
                  Codec.encode(record),
                  PutOption.builder().withLeaseId(lease).build()));
    }
    busy = true;
    inFlight = waiters;
    calls
        .call(() -> calls.kv().txn().Then(ops.toArray(Op[]::new)).commit())
        .whenCompleteAsync(
            (response, failure) -> {
              busy = false;
              inFlight = List.of();
              if (failure == null) {
                waiters.forEach(f -> f.complete(null));
                backoff.reset();
                sync();
                return;
              }
              waiters.forEach(
                  f -> f.completeExceptionally(StoreErrors.forRead("publish", failure)));
              if (closed) {
                return;
              }
              // Write them again (their newest state), unless superseded meanwhile.
              dirty.addAll(batch);
              if (StoreErrors.isLeaseNotFound(failure)) {
                leaseLost(lease, "etcd no longer has it");
                sync();
              } else {
                logger.log(Level.FINE, "writing fleet status failed; retrying", failure);
                retryLater();
              }
            },
            serial);
  }

  private void retryLater() {
    Duration delay = backoff.next();
    retry =
        serial.schedule(
            () -> {
              retry = null;
              sync();
            },
            delay.toNanos(),
            TimeUnit.NANOSECONDS);
  }

  private void failWaiters(Set<String> ids, Throwable failure) {
    for (String id : ids) {
      List<CompletableFuture<Void>> forId = waiting.remove(id);
      if (forId != null) {
        forId.forEach(f -> f.completeExceptionally(StoreErrors.forRead("publish", failure)));
      }
    }
  }

  // ---------------------------------------------------------------- the lease

  private void startKeepAlive(long lease) {
    StreamObserver<LeaseKeepAliveResponse> observer =
        new StreamObserver<>() {
          @Override
          public void onNext(LeaseKeepAliveResponse response) {
            // Refreshed; jetcd sends the next one at a third of the TTL by itself.
          }

          @Override
          public void onError(Throwable error) {
            if (StoreErrors.code(error) == Status.Code.NOT_FOUND) {
              hop(() -> onLeaseLost(lease, "etcd no longer has it"));
            } else {
              // jetcd restarts its keep-alive stream by itself; if no refresh lands within the
              // TTL, onCompleted follows.
              logger.log(Level.FINE, "the fleet status lease's keep-alive stream failed", error);
            }
          }

          @Override
          public void onCompleted() {
            // jetcd gives up on a lease once no refresh was answered within its TTL.
            hop(() -> onLeaseLost(lease, "no keep-alive was answered within its TTL"));
          }
        };
    try {
      keepAlive = leases.keepAlive(lease, observer);
    } catch (RuntimeException e) {
      logger.log(Level.WARNING, "cannot keep the fleet status lease alive", e);
      leaseLost(lease, "its keep-alive could not start");
      retryLater();
    }
  }

  private void onLeaseLost(long lease, String why) {
    if (!closed && leaseLost(lease, why)) {
      sync();
    }
  }

  /**
   * Forgets {@code lease} if it is the current one and marks every record for writing on a new one.
   * Returns whether it was current.
   */
  private boolean leaseLost(long lease, String why) {
    if (lease == 0 || lease != leaseId) {
      return false;
    }
    logger.info(
        "the fleet status lease "
            + Long.toHexString(lease)
            + " is gone ("
            + why
            + "); publishing fleet status again on a new one");
    stopKeepAlive();
    leaseId = 0;
    dirty.addAll(desired.keySet());
    return true;
  }

  private void stopKeepAlive() {
    CloseableClient current = keepAlive;
    keepAlive = null;
    if (current != null) {
      try {
        current.close();
      } catch (RuntimeException e) {
        logger.log(Level.FINE, "closing a lease keep-alive failed", e);
      }
    }
  }

  private void hop(Runnable task) {
    try {
      serial.execute(task);
    } catch (RejectedExecutionException e) {
      // The store is closing; the lease goes with it.
    }
  }

  private static void cancel(@Nullable ScheduledFuture<?> task) {
    if (task != null) {
      task.cancel(false);
    }
  }
}
