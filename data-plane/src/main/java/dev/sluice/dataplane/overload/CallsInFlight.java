package dev.sluice.dataplane.overload;

import java.util.concurrent.atomic.AtomicInteger;

/**
 * The inference calls a data plane is serving, with an optional ceiling above which new calls are
 * refused at once (Envoy's overload manager has the same action on active requests).
 *
 * <p>Why a ceiling: past its capacity a node does not just queue. Measured on one core, the
 * gateway's CPU per unary call rose from 26 to 31 to 88 µs as the calls in flight went from 256 to
 * 1,024 to 4,096 (young collections copy more live call state, the kernel juggles more sockets), so
 * a backlog makes every call dearer and can grow instead of draining. Refusing beyond a bound keeps
 * the node at a concurrency it serves efficiently and tells clients at once to retry elsewhere.
 * The right bound depends on the traffic — a node serving long LLM streams holds many more calls
 * than one serving short unary calls — so there is none by default.
 *
 * <p>Lock-free: one atomic increment per admitted call and one decrement when it ends.
 */
public final class CallsInFlight {
  private final int max;
  private final AtomicInteger current = new AtomicInteger();

  private CallsInFlight(int max) {
    this.max = max;
  }

  /** No ceiling: every call is admitted, and none needs counting. */
  public static CallsInFlight unlimited() {
    return new CallsInFlight(Integer.MAX_VALUE);
  }

  /**
   * Admits at most {@code max} calls at once.
   *
   * @throws IllegalArgumentException unless {@code max} is positive
   */
  public static CallsInFlight atMost(int max) {
    if (max < 1) {
      throw new IllegalArgumentException("max: " + max + " (expected: > 0)");
    }
    return new CallsInFlight(max);
  }

  /** Takes a place for a new call; false, taking none, when {@link #max()} are in flight. */
  public boolean tryAcquire() {
    while (true) {
      int now = current.get();
      if (now >= max) {
        return false;
      }
      if (current.compareAndSet(now, now + 1)) {
        return true;
      }
    }
  }

  /** Gives back the place of a call that ended. Call once per successful {@link #tryAcquire()}. */
  public void release() {
    current.decrementAndGet();
  }

  /** The calls in flight now (those that took a place and have not given it back). */
  public int current() {
    return current.get();
  }

  /** Whether there is a ceiling; without one, calls need not be counted at all. */
  public boolean bounded() {
    return max != Integer.MAX_VALUE;
  }

  /** The ceiling; {@link Integer#MAX_VALUE} when there is none. */
  public int max() {
    return max;
  }
}
