package dev.sluice.dataplane.ratelimit;

import static java.util.Objects.requireNonNull;

import com.google.errorprone.annotations.concurrent.GuardedBy;
import org.jspecify.annotations.Nullable;

/**
 * The local state of one bucket: its {@link SlidingWindow}, the demand seen since the last report
 * to the control plane, and the lease currently held.
 *
 * <p>Threading: window, demand and the eviction mark are guarded by {@code this}, held for a few
 * arithmetic operations per call and never across a call out. The lease is written by the lease
 * client's executor and read without a lock. Fields marked "lease lane" are touched only by that
 * executor.
 */
final class BucketState {
  /** {@link #tryAcquire} result: the cost does not fit. */
  static final long REFUSED = Long.MIN_VALUE;

  /**
   * Result of any charging call on a state the sweeper removed: look the bucket up again. Never a
   * slot index, which is a time divided by at least 1 ns over 20.
   */
  static final long EVICTED = Long.MIN_VALUE + 1;

  final BucketId id;

  @GuardedBy("this")
  private final SlidingWindow window;

  /** Paces limits with a burst (instead of the window's capacity); off for the others. */
  @GuardedBy("this")
  private final Pacer pacer;

  /** Units asked for since the last drain: admitted, refused, and settlement corrections. */
  @GuardedBy("this")
  private long demand;

  @GuardedBy("this")
  private boolean evicted;

  private volatile @Nullable Lease lease;

  // Lease lane.
  double demandRate = Double.NaN;
  long lastDrainNanos;
  double lastReportedWants = Double.NaN;
  /** Seconds of demand measured so far, for the running mean before the moving average. */
  double demandSeconds;

  BucketState(BucketId id, long nowNanos) {
    this.id = requireNonNull(id, "id");
    this.window = new SlidingWindow(id.windowNanos(), nowNanos);
    this.pacer = new Pacer(id.windowNanos());
    this.lastDrainNanos = nowNanos;
  }

  /**
   * This node's share of the limit at {@code now}: the leased grant while the lease holds (never
   * above the configured amount, which may have shrunk since), else the static share.
   */
  double capacity(long now, long amount, double staticFraction) {
    Lease held = lease;
    if (held != null && now - held.expiresAtNanos() < 0) {
      return Math.min(held.granted(), amount);
    }
    return amount * staticFraction;
  }

  /**
   * Counts {@code cost} as demand and charges it if it fits: {@code capacity} in the window (see
   * {@link SlidingWindow}), or for a paced limit its bucket (see {@link Pacer}).
   */
  synchronized long tryAcquire(long now, long cost, double capacity, Pace pace) {
    if (evicted) {
      return EVICTED;
    }
    demand += cost;
    pacer.update(now, pace.refillPerWindow(), pace.burst());
    if (!pacer.isOn()) {
      return window.tryAcquire(now, cost, capacity);
    }
    if (!pacer.fits(now, cost)) {
      return REFUSED;
    }
    pacer.take(now, cost);
    // Charged to the window too, uncapped: should the burst be removed, the count carries on.
    return window.charge(now, cost);
  }

  /**
   * Counts {@code cost} as demand without charging it and says how long until it would fit
   * {@code capacity} (and the pace); {@code 0} if it fits now.
   */
  synchronized long demandAndWait(long now, long cost, double capacity, Pace pace) {
    demand += cost;
    return waitFor(now, cost, capacity, pace);
  }

  /** How long until {@code cost} would fit, without counting demand. */
  synchronized long nanosUntilFits(long now, long cost, double capacity, Pace pace) {
    return waitFor(now, cost, capacity, pace);
  }

  @GuardedBy("this")
  private long waitFor(long now, long cost, double capacity, Pace pace) {
    pacer.update(now, pace.refillPerWindow(), pace.burst());
    if (pacer.isOn()) {
      return pacer.nanosUntilFits(now, cost);
    }
    return window.nanosUntilUsageAtMost(now, capacity - cost);
  }

  /** Gives back units of a reservation charged to {@code slot}. */
  synchronized void refund(long now, long slot, long amount) {
    window.refund(now, slot, amount);
    pacer.giveBack(now, amount);
  }

  /** Charges units beyond a reservation to the current slot; {@link #EVICTED} if swept. */
  synchronized long chargeExcess(long now, long amount) {
    if (evicted) {
      return EVICTED;
    }
    demand += amount;
    pacer.take(now, amount);
    return window.charge(now, amount);
  }

  /** Adjusts demand by a settlement's correction (negative for a refund). */
  synchronized void correctDemand(long delta) {
    demand += delta;
  }

  synchronized double usage(long now) {
    return window.usage(now);
  }

  /**
   * The share a paced limit refills at, as of its last admission; -1 if the limit does not pace.
   */
  synchronized double pacedCapacity() {
    return pacer.isOn() ? pacer.refillPerWindow() : -1;
  }

  /** Returns and resets the demand counted since the last call. Lease lane. */
  synchronized long drainDemand() {
    long drained = demand;
    demand = 0;
    return drained;
  }

  /**
   * Marks the state evicted if nothing is counted and no demand is pending; from then on every
   * charging call answers {@link #EVICTED}. Lease lane.
   */
  synchronized boolean evictIfIdle(long now) {
    if (demand != 0 || !window.isEmpty(now) || !pacer.isFull(now)) {
      return false;
    }
    evicted = true;
    return true;
  }

  @Nullable Lease lease() {
    return lease;
  }

  /** Installs a lease, or clears it with null. Lease lane. */
  void lease(@Nullable Lease lease) {
    this.lease = lease;
  }

  /**
   * How a paced limit's bucket behaves on this node: {@code burst} units at most, refilled at
   * {@code refillPerWindow}; a burst of 0 does not pace. See {@link LimitBucket#paceFor}.
   */
  record Pace(double refillPerWindow, double burst) {
    static final Pace NONE = new Pace(0, 0);
  }

  /** A share of the limit granted by the control plane until {@code expiresAtNanos}. */
  record Lease(double granted, long expiresAtNanos) {}
}
