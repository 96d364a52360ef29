package dev.sluice.controlplane.store.etcd;

import io.etcd.jetcd.Lease;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import org.jspecify.annotations.Nullable;

/**
 * The lease that request-id keys are attached to, so etcd deletes them after the retention period
 * without any sweeper.
 *
 * <p>One lease per commit would cost a grant per commit and leave one lease object per commit in
 * etcd. Instead a lease is shared for a rotation period (a 24th of the retention, so an hour by
 * default) and its TTL is retention plus rotation: a key attached at the end of the period still
 * lives for the full retention. Nothing keeps the lease alive; it simply expires. (etcd refreshes
 * leases to their full TTL on a leader change, so keys may outlive the retention, never the
 * reverse.)
 */
final class RequestIdLeases {
  private final Lease leases;
  private final EtcdCalls calls;
  private final long rotationNanos;
  private final long ttlSeconds;

  private @Nullable Granted current; // guarded by this
  private @Nullable CompletableFuture<Long> granting; // guarded by this

  RequestIdLeases(Lease leases, EtcdCalls calls, Duration retention) {
    this.leases = leases;
    this.calls = calls;
    Duration rotation = retention.dividedBy(24);
    this.rotationNanos = rotation.toNanos();
    this.ttlSeconds = retention.plus(rotation).toSeconds() + 1;
  }

  /** A lease id good for at least the retention period from now. */
  synchronized CompletableFuture<Long> lease() {
    Granted granted = current;
    if (granted != null && System.nanoTime() - granted.grantedAtNanos() < rotationNanos) {
      return CompletableFuture.completedFuture(granted.id());
    }
    CompletableFuture<Long> inFlight = granting;
    if (inFlight != null) {
      return inFlight;
    }
    long requestedAt = System.nanoTime();
    CompletableFuture<Long> grant =
        calls
            .call(() -> leases.grant(ttlSeconds))
            .thenApply(
                response -> {
                  synchronized (this) {
                    current = new Granted(response.getID(), requestedAt);
                    granting = null;
                  }
                  return response.getID();
                });
    grant.whenComplete(
        (id, failure) -> {
          if (failure != null) {
            synchronized (this) {
              granting = null;
            }
          }
        });
    granting = grant;
    return grant;
  }

  /** Forgets {@code leaseId} after etcd said it no longer exists (revoked out of band). */
  synchronized void invalidate(long leaseId) {
    if (current != null && current.id() == leaseId) {
      current = null;
    }
  }

  private record Granted(long id, long grantedAtNanos) {}
}
