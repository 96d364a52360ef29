package dev.sluice.dataplane.ratelimit;

/**
 * The algorithm of a paced limit ({@code RateLimit.burst} > 0) on one node: a token bucket that
 * holds at most {@code burst} units and refills at this node's share of the limit per window. Not
 * thread-safe; {@link BucketState} guards it.
 *
 * <p><b>Why a paced limit is a bucket, not a window.</b> Under sustained overload a sliding window
 * admits whenever units age out, so what it admitted in a burst comes back as a burst one window
 * later, and the windows between hold less than the amount by the arrival noise of a whole window
 * (a few per cent at hundreds of requests a minute); in a fleet, every time a node's share shrinks
 * its window binds and the gap it leaves recurs every window. A bucket admits at the refill rate
 * whenever requests wait, so any window admits between the amount less the burst and the amount
 * plus the burst. Capping the bucket with the window count as well brings the echo back as soon as
 * the count binds, so a paced limit is the bucket alone; its window keeps counting (uncapped) only
 * so that removing the burst carries on from the same count.
 *
 * <p><b>Shares.</b> The refill is this node's share, which the control plane moves about every
 * second: a larger one refills faster from then on, and a smaller burst empties what the bucket
 * held beyond it. Nothing is reset.
 *
 * <p><b>Large requests.</b> A request costing more than the burst is admitted once the bucket is
 * full and leaves it in debt, which later refills pay back: it waits longer but is never refused
 * forever, and the rate over time is unchanged. Refunds (a reservation larger than the real
 * usage) go back in full, even above the burst: they are units the request was charged and did
 * not use, which a full bucket would otherwise lose. Excess usage is taken out, as debt.
 */
final class Pacer {
  /**
   * Refill is summed in floating point from many small steps; a unit missing by less than this
   * is there (nanosUntilFits rounds up, so a caller waiting that long must then fit).
   */
  private static final double EPSILON = 1e-6;

  private final long windowNanos;
  /** Refill per window, as of the last admission. */
  private double refillPerWindow;
  /** Most units the bucket holds, as of the last admission. */
  private double burst;
  /** Units in the bucket; negative while in debt. NaN while pacing is off. */
  private double level = Double.NaN;

  private long refilledAt;

  Pacer(long windowNanos) {
    this.windowNanos = windowNanos;
  }

  /**
   * Refills up to {@code now} at the old rate, then takes on the rate and burst current at {@code
   * now}. A burst of zero or less turns pacing off (every request fits, nothing is counted);
   * turned on again, the bucket starts full.
   */
  void update(long now, double refillPerWindow, double burst) {
    if (!(burst > 0)) {
      this.burst = 0;
      level = Double.NaN;
      return;
    }
    refill(now);
    this.refillPerWindow = refillPerWindow;
    if (Double.isNaN(level)) {
      level = burst;
      refilledAt = now;
    } else if (burst < this.burst && level > burst) {
      // A smaller share: what the bucket held beyond the new burst is gone. Above the burst from
      // refunds with an unchanged burst, it stays.
      level = burst;
    }
    this.burst = burst;
  }

  /** Units per window the bucket refills at. */
  double refillPerWindow() {
    return refillPerWindow;
  }

  /** Whether pacing is on: the last update had a positive burst. */
  boolean isOn() {
    return !Double.isNaN(level);
  }

  /** Whether a request costing {@code cost} may go now. */
  boolean fits(long now, long cost) {
    if (Double.isNaN(level)) {
      return true;
    }
    refill(now);
    return level >= Math.min(cost, burst) - EPSILON;
  }

  /** Takes {@code cost} out of the bucket, fit or not (debt is allowed). */
  void take(long now, long cost) {
    if (Double.isNaN(level)) {
      return;
    }
    refill(now);
    level -= cost;
  }

  /**
   * Puts back {@code amount} units in full, even above the burst: units a request was charged and
   * did not use (the class comment says why).
   */
  void giveBack(long now, long amount) {
    if (Double.isNaN(level)) {
      return;
    }
    refill(now);
    level += amount;
  }

  /** How long until a request costing {@code cost} fits, at the current refill rate. */
  long nanosUntilFits(long now, long cost) {
    if (Double.isNaN(level)) {
      return 0;
    }
    refill(now);
    double missing = Math.min(cost, burst) - level;
    if (missing <= EPSILON) {
      return 0;
    }
    if (refillPerWindow <= 0) {
      return Long.MAX_VALUE;
    }
    return (long) Math.ceil(missing * windowNanos / refillPerWindow);
  }

  /** Whether the bucket is full (or never used): it owes nothing a sweep could forget. */
  boolean isFull(long now) {
    if (Double.isNaN(level)) {
      return true;
    }
    refill(now);
    return level >= burst - EPSILON;
  }

  private void refill(long now) {
    if (Double.isNaN(level)) {
      return;
    }
    long elapsed = now - refilledAt;
    if (elapsed > 0) {
      if (level < burst) {
        level = Math.min(burst, level + elapsed * refillPerWindow / windowNanos);
      }
      refilledAt = now;
    }
  }
}
