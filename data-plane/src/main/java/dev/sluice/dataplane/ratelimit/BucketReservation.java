package dev.sluice.dataplane.ratelimit;

import static java.util.Objects.requireNonNull;

import dev.sluice.inference.v1.Usage;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * The {@link Reservation} of {@link SlidingWindowRateLimiter}: for each bucket charged at
 * admission, the state, the slot and the units. Settlement is claimed with one CAS, so exactly one
 * of settle, commit and release runs, however many threads race to end the call.
 */
final class BucketReservation implements Reservation {
  private static final VarHandle DONE;

  static {
    try {
      DONE = MethodHandles.lookup().findVarHandle(BucketReservation.class, "done", boolean.class);
    } catch (ReflectiveOperationException e) {
      throw new ExceptionInInitializerError(e);
    }
  }

  private final @Nullable SlidingWindowRateLimiter limiter;
  private final List<LimitBucket> buckets;
  /** Null where nothing was charged: a shadow bucket whose limit would have refused. */
  private final @Nullable BucketState[] states;
  private final long[] slots;
  private final long[] amounts;

  @SuppressWarnings("unused") // Accessed through DONE.
  private volatile boolean done;

  /** A reservation of nothing. */
  BucketReservation() {
    this.limiter = null;
    this.buckets = List.of();
    this.states = new BucketState[0];
    this.slots = new long[0];
    this.amounts = new long[0];
  }

  BucketReservation(
      SlidingWindowRateLimiter limiter,
      List<LimitBucket> buckets,
      @Nullable BucketState[] states,
      long[] slots,
      long[] amounts) {
    this.limiter = limiter;
    this.buckets = buckets;
    this.states = states;
    this.slots = slots;
    this.amounts = amounts;
  }

  @Override
  public boolean settle(Usage actual) {
    requireNonNull(actual, "actual");
    if (!claim()) {
      return false;
    }
    if (limiter == null) {
      return true;
    }
    long now = limiter.now();
    for (int i = 0; i < states.length; i++) {
      BucketState state = states[i];
      if (state == null) {
        continue;
      }
      long difference = buckets.get(i).actualFor(actual) - amounts[i];
      if (difference < 0) {
        state.refund(now, slots[i], -difference);
        state.correctDemand(difference);
      } else if (difference > 0) {
        limiter.chargeExcess(state, buckets.get(i).id(), difference, now);
      }
    }
    return true;
  }

  @Override
  public boolean commit() {
    return claim();
  }

  @Override
  public boolean release() {
    if (!claim()) {
      return false;
    }
    if (limiter == null) {
      return true;
    }
    long now = limiter.now();
    for (int i = 0; i < states.length; i++) {
      BucketState state = states[i];
      if (state != null) {
        state.refund(now, slots[i], amounts[i]);
      }
    }
    return true;
  }

  @Override
  public boolean isDone() {
    return done;
  }

  private boolean claim() {
    return DONE.compareAndSet(this, false, true);
  }

  @Override
  public String toString() {
    return "Reservation{buckets=" + buckets.size() + ", done=" + done + "}";
  }
}
