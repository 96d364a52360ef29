package dev.sluice.controlplane.store.etcd;

import dev.sluice.controlplane.store.Candidate;
import dev.sluice.controlplane.store.Leadership;
import io.grpc.Deadline;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;

/**
 * What one replica knows about an election in etcd and what it may claim: the decisions of {@link
 * EtcdElection} without its I/O, so that every transition can be tested on a fake clock.
 *
 * <p><b>The tenure bound.</b> etcd expires a lease no sooner than its TTL after it processed the
 * grant or keep-alive that last refreshed it, and it processed that request no sooner than this
 * replica sent it. So {@code sentAt + ttl} is a lower bound, on this replica's clock, of the moment
 * the lease (and the key on it) can vanish and another replica can win. A leader acts as one only
 * until {@code sentAt + ttl - ttl/5}: the fifth covers clock-rate differences and the time it takes
 * the news to reach whoever acts on it. Renewals move the bound; when it passes the tenure is over
 * even if etcd is merely slow, and the lease is abandoned, so that leading again means a new term.
 *
 * <p>Not thread-safe: used on the store's serial executor only.
 */
final class ElectionState {
  /** Who holds the election key: the value's candidate (null if unreadable), its lease, its term. */
  record Holder(@Nullable Candidate candidate, long lease, long createRevision) {}

  private final @Nullable Candidate self;
  private final Deadline.Ticker ticker;

  /** The lease this replica campaigns with; 0 when it holds none. */
  private long leaseId;

  /** While {@link #leaseId} is set: until when the lease certainly exists, less the margin. */
  private long holdUntil;

  private Leadership view = Leadership.vacant();

  /**
   * @param self the candidate, or null for a replica that only watches
   * @param ticker the clock of tenure bounds (the system's, or a test's)
   */
  ElectionState(@Nullable Candidate self, Deadline.Ticker ticker) {
    this.self = self;
    this.ticker = ticker;
  }

  /** The lease to campaign with and keep alive; 0 when a new one must be granted first. */
  long leaseId() {
    return leaseId;
  }

  /** The current view. */
  Leadership view() {
    return view;
  }

  /** A lease was granted by a request sent at {@code sentAt}; it replaces any previous one. */
  Leadership leaseGranted(long lease, long ttlSeconds, long sentAt) {
    if (ttlSeconds <= 0) {
      return view;
    }
    leaseId = lease;
    holdUntil = bound(ttlSeconds, sentAt);
    return view;
  }

  /**
   * A keep-alive of {@code lease} sent at {@code sentAt} was answered with {@code ttlSeconds}: the
   * tenure, if any, now holds longer. A TTL of 0 or less means etcd no longer has the lease.
   * Answers about a lease given up meanwhile change nothing.
   */
  Leadership leaseRenewed(long lease, long ttlSeconds, long sentAt) {
    if (lease == 0 || lease != leaseId) {
      return view;
    }
    if (ttlSeconds <= 0) {
      return leaseLost(lease);
    }
    holdUntil = Math.max(holdUntil, bound(ttlSeconds, sentAt));
    if (view instanceof Leadership.Leading leading) {
      view = new Leadership.Leading(leading.self(), leading.term(), deadline());
    }
    return view;
  }

  /** etcd said {@code lease} does not exist (any more): a tenure on it is over at once. */
  Leadership leaseLost(long lease) {
    if (lease == 0 || lease != leaseId) {
      return view;
    }
    leaseId = 0;
    if (view instanceof Leadership.Leading) {
      view = Leadership.vacant();
    }
    return view;
  }

  /**
   * Ends a tenure (and gives up the lease) once its bound has passed without renewal. Returns the
   * lease given up, which the caller should revoke, or 0.
   */
  long expire() {
    if (leaseId == 0 || ticker.nanoTime() - holdUntil < 0) {
      return 0;
    }
    long abandoned = leaseId;
    leaseId = 0;
    if (view instanceof Leadership.Leading) {
      view = Leadership.vacant();
    }
    return abandoned;
  }

  /**
   * The election key was read (or created by this replica's campaign): {@code holder} holds it, or
   * nobody when null. Call {@link #expire()} first, so that a lapsed tenure is not claimed again.
   */
  Leadership keyRead(@Nullable Holder holder) {
    if (holder == null) {
      view = Leadership.vacant();
    } else if (self != null && leaseId != 0 && holder.lease() == leaseId) {
      view = new Leadership.Leading(self, holder.createRevision(), deadline());
    } else if (holder.candidate() == null
        || (self != null
            && holder.candidate().controlPlaneId().equals(self.controlPlaneId()))) {
      // An unreadable value names nobody to forward to; this replica's own key on a lease it gave
      // up is no tenure of its own, and it goes when that lease lapses.
      view = Leadership.vacant();
    } else {
      view = new Leadership.Following(holder.candidate(), holder.createRevision());
    }
    return view;
  }

  /** The nanos left in the tenure, for the step-down timer; meaningful while leading. */
  long nanosLeft() {
    return holdUntil - ticker.nanoTime();
  }

  private long bound(long ttlSeconds, long sentAt) {
    long ttl = TimeUnit.SECONDS.toNanos(ttlSeconds);
    return sentAt + ttl - ttl / 5;
  }

  private Deadline deadline() {
    return Deadline.after(holdUntil - ticker.nanoTime(), TimeUnit.NANOSECONDS, ticker);
  }
}
