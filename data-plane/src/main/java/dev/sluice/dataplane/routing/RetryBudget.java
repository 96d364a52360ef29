package dev.sluice.dataplane.routing;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A route's retry budget on this node (Envoy's retry budget, as {@code RetryBudget} in route.proto
 * defines it): retries in flight may not exceed a percentage of requests in flight, but a minimum
 * number of retries per second is always allowed. This caps the load amplification of retries
 * during an outage at about {@code 1 + percent/100} instead of {@code max_attempts}.
 *
 * <p>Lock-free and approximate under races, which a budget can afford. Carried over between config
 * versions while the route keeps its name.
 */
final class RetryBudget {
  private final AtomicInteger requestsInFlight = new AtomicInteger();
  private final AtomicInteger retriesInFlight = new AtomicInteger();
  private final AtomicLong currentSecond = new AtomicLong(Long.MIN_VALUE);
  private final AtomicInteger retriesThisSecond = new AtomicInteger();

  void requestStarted() {
    requestsInFlight.incrementAndGet();
  }

  void requestFinished() {
    requestsInFlight.decrementAndGet();
  }

  /**
   * Takes a retry slot if the budget allows one now; a caller that gets true calls {@link
   * #retryFinished()} when that attempt ends.
   */
  boolean tryStartRetry(double budgetPercent, int minRetriesPerSecond, long nowNanos) {
    long second = nowNanos / 1_000_000_000L;
    long seen = currentSecond.get();
    if (seen != second && currentSecond.compareAndSet(seen, second)) {
      retriesThisSecond.set(0);
    }
    boolean withinPercent =
        (retriesInFlight.get() + 1) * 100.0 <= budgetPercent * requestsInFlight.get();
    boolean withinMinimum = retriesThisSecond.get() < minRetriesPerSecond;
    if (!withinPercent && !withinMinimum) {
      return false;
    }
    retriesThisSecond.incrementAndGet();
    retriesInFlight.incrementAndGet();
    return true;
  }

  void retryFinished() {
    retriesInFlight.decrementAndGet();
  }
}
