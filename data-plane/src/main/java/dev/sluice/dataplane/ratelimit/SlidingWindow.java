package dev.sluice.dataplane.ratelimit;

import static com.google.common.base.Preconditions.checkArgument;

import java.util.Arrays;

/**
 * Units consumed in the last window, kept as {@value #SLOTS} sub-window counters: the algorithm of
 * one bucket on one node. Not thread-safe; {@link BucketState} guards it.
 *
 * <p><b>Why a sliding window and not a token bucket.</b> A limit reads "at most {@code amount}
 * per window", and a daily token budget must be spendable in one burst. A token bucket that allows
 * such a burst (capacity = amount, refill = amount per window) admits up to twice the amount within
 * one window: a full bucket plus a window of refill. Counting what was consumed in the trailing
 * window admits at most the amount in any window, and under sustained overload it admits exactly
 * the amount per window, which is the accuracy the fleet-wide limit needs.
 *
 * <p><b>How.</b> Time is cut into slots of {@code window / SLOTS}. The usage at time {@code t} is
 * the sum of the {@value #SLOTS} newest slots plus the part of the slot before them that still
 * lies inside {@code (t - window, t]}, assuming that slot's units were spread evenly. A request is
 * admitted when usage plus its cost fits the capacity (this node's share). Hence any {@value
 * #SLOTS} consecutive slots never hold more than the capacity, and a true sliding window holds at
 * most the capacity plus what the interpolation under-counted of one slot. The state is {@value
 * #SLOTS} + 1 longs, every operation is O(1) amortized, and the capacity is a parameter, so a new
 * share applies at once without resetting anything.
 *
 * <p><b>Corrections.</b> A refund (a reservation larger than the real usage) goes back to the slot
 * the reservation was charged to, if that slot is still counted; an excess (real usage above the
 * reservation) is charged to the current slot, and may push usage above the capacity, which makes
 * later requests wait until it ages out: debt.
 */
final class SlidingWindow {
  /** Sub-windows per window: 3 s slots for a one-minute limit, 72 min for a daily one. */
  static final int SLOTS = 20;

  private final long slotNanos;
  /** Ring of SLOTS + 1 counters; slot {@code n} lives at {@code n mod (SLOTS + 1)}. */
  private final long[] slots = new long[SLOTS + 1];
  /** Absolute index of the newest slot. */
  private long head;
  /** Sum of the SLOTS newest slots, {@code head - SLOTS + 1 .. head}. */
  private long recent;

  SlidingWindow(long windowNanos, long nowNanos) {
    checkArgument(
        windowNanos >= SLOTS, "windowNanos: %s (expected: >= %s)", windowNanos, SLOTS);
    this.slotNanos = windowNanos / SLOTS;
    this.head = Math.floorDiv(nowNanos, slotNanos);
  }

  /** Units counted in the window ending at {@code now}; fractional because of interpolation. */
  double usage(long now) {
    advance(now);
    return recent + oldestWeight(now) * slots[index(head - SLOTS)];
  }

  /**
   * Charges {@code cost} if it fits {@code capacity}.
   *
   * @return the slot charged, or {@link Long#MIN_VALUE} if the cost does not fit
   */
  long tryAcquire(long now, long cost, double capacity) {
    if (usage(now) + cost > capacity) {
      return Long.MIN_VALUE;
    }
    return charge(now, cost);
  }

  /** Charges {@code amount} to the current slot, fit or not; returns the slot. */
  long charge(long now, long amount) {
    advance(now);
    slots[index(head)] += amount;
    recent += amount;
    return head;
  }

  /**
   * Takes back up to {@code amount} units charged to {@code slot}; a slot that no longer counts
   * has nothing to give back.
   */
  void refund(long now, long slot, long amount) {
    advance(now);
    if (slot > head || slot < head - SLOTS) {
      return;
    }
    int i = index(slot);
    long taken = Math.min(amount, slots[i]);
    slots[i] -= taken;
    if (slot > head - SLOTS) {
      recent -= taken;
    }
  }

  /**
   * How long until usage, absent new charges, drops to {@code target} (at least 0): when a request
   * that costs {@code capacity - target} would fit. Walks the slots as they age out: O(SLOTS).
   */
  long nanosUntilUsageAtMost(long now, double target) {
    double floor = Math.max(0, target);
    if (usage(now) <= floor) {
      return 0;
    }
    double base = recent;
    double oldest = slots[index(head - SLOTS)];
    for (int m = 0; m <= SLOTS; m++) {
      if (base <= floor) {
        // Inside slot head + m the oldest counted slot's weight falls linearly from 1 to 0; find
        // the phase where base + weight * oldest reaches the floor.
        double weight = oldest <= 0 ? 0 : (floor - base) / oldest;
        long at = (head + m) * slotNanos + (long) Math.ceil((1 - weight) * slotNanos);
        return Math.max(0, at - now);
      }
      oldest = slots[index(head + m + 1 - SLOTS)];
      base -= oldest;
    }
    throw new AssertionError("usage must reach zero within one window");
  }

  /** Whether nothing is counted any more. */
  boolean isEmpty(long now) {
    advance(now);
    return recent == 0 && slots[index(head - SLOTS)] == 0;
  }

  /** Share of the slot before the SLOTS newest that still lies inside the window. */
  private double oldestWeight(long now) {
    return 1.0 - (double) Math.floorMod(now, slotNanos) / slotNanos;
  }

  private void advance(long now) {
    long target = Math.floorDiv(now, slotNanos);
    if (target <= head) {
      return;
    }
    if (target - head > SLOTS) {
      Arrays.fill(slots, 0);
      recent = 0;
    } else {
      for (long n = head + 1; n <= target; n++) {
        // Slot n - SLOTS leaves the full sum and becomes the interpolated oldest; slot n reuses
        // the array cell of n - SLOTS - 1, which has just left the window entirely.
        recent -= slots[index(n - SLOTS)];
        slots[index(n)] = 0;
      }
    }
    head = target;
  }

  private static int index(long slot) {
    return (int) Math.floorMod(slot, (long) (SLOTS + 1));
  }
}
