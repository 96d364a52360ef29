package dev.sluice.dataplane.routing;

import com.google.protobuf.util.Durations;
import dev.sluice.config.v1.OutlierDetection;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * What this node knows about one backend's load and health: requests in flight, a moving average of
 * its latency, and passive outlier ejection.
 *
 * <p>One instance lives per backend name and is carried over from each {@link RouteTable} to the
 * next while the backend stays configured, so a config change resets neither the in-flight counts
 * (which requests started on the old table still decrement) nor an ejection. All methods are
 * lock-free and safe from any thread; the latency average tolerates lost updates under races
 * because it is only a hint for load balancing.
 */
final class BackendLoad {
  /** Weight of a new latency sample in the moving average. */
  private static final double EWMA_ALPHA = 0.3;

  private static final int DEFAULT_CONSECUTIVE_FAILURES = 5;
  private static final long DEFAULT_BASE_EJECTION_NANOS = TimeUnit.SECONDS.toNanos(30);
  private static final long DEFAULT_MAX_EJECTION_NANOS = TimeUnit.SECONDS.toNanos(300);

  private final AtomicInteger inFlight = new AtomicInteger();
  private final AtomicInteger consecutiveFailures = new AtomicInteger();
  private final AtomicInteger ejections = new AtomicInteger();
  private volatile double latencyEwmaNanos;

  /** When the current ejection ends, on the {@link System#nanoTime()} scale; 0 if not ejected. */
  private volatile long ejectedUntilNanos;

  int inFlight() {
    return inFlight.get();
  }

  /**
   * Takes one request slot, or returns false when {@code maxConcurrent} requests are already in
   * flight ({@code maxConcurrent <= 0} means unlimited). Callers that get true must call {@link
   * #release} exactly once.
   */
  boolean tryAcquire(int maxConcurrent) {
    if (maxConcurrent <= 0) {
      inFlight.incrementAndGet();
      return true;
    }
    while (true) {
      int current = inFlight.get();
      if (current >= maxConcurrent) {
        return false;
      }
      if (inFlight.compareAndSet(current, current + 1)) {
        return true;
      }
    }
  }

  boolean atCapacity(int maxConcurrent) {
    return maxConcurrent > 0 && inFlight.get() >= maxConcurrent;
  }

  void release() {
    inFlight.decrementAndGet();
  }

  /**
   * The cost of sending one more request here, for power-of-two-choices: requests in flight
   * (counting the new one) times the latency average, so a backend that is twice as slow takes half
   * the share at equal queue length. A backend without samples costs as little as possible, so new
   * backends are probed at once.
   */
  double cost() {
    double latency = latencyEwmaNanos;
    return (inFlight.get() + 1) * (latency <= 0 ? 1.0 : latency);
  }

  void recordLatency(long nanos) {
    double previous = latencyEwmaNanos;
    latencyEwmaNanos = previous <= 0 ? nanos : previous + EWMA_ALPHA * (nanos - previous);
  }

  boolean isEjected(long nowNanos) {
    long until = ejectedUntilNanos;
    return until != 0 && nowNanos - until < 0;
  }

  /**
   * A call succeeded: the failure streak ends, and a long-healthy backend forgets old ejections.
   */
  void recordSuccess(OutlierDetection settings, long nowNanos) {
    if (consecutiveFailures.get() != 0) {
      consecutiveFailures.set(0);
    }
    long until = ejectedUntilNanos;
    if (until != 0 && nowNanos - until > maxEjectionNanos(settings)) {
      ejections.set(0);
      ejectedUntilNanos = 0;
    }
  }

  /**
   * A call failed in a way that counts against the backend. Returns true when this failure ejected
   * it: after {@code consecutive_failures} failures in a row, for the base ejection time doubled
   * per consecutive ejection, up to the maximum.
   */
  boolean recordFailure(OutlierDetection settings, long nowNanos) {
    if (settings.getDisabled()) {
      return false;
    }
    int threshold =
        settings.getConsecutiveFailures() > 0
            ? settings.getConsecutiveFailures()
            : DEFAULT_CONSECUTIVE_FAILURES;
    int failures = consecutiveFailures.incrementAndGet();
    if (failures < threshold || !consecutiveFailures.compareAndSet(failures, 0)) {
      return false;
    }
    int count = ejections.incrementAndGet();
    long base =
        settings.hasBaseEjectionTime()
            ? Durations.toNanos(settings.getBaseEjectionTime())
            : DEFAULT_BASE_EJECTION_NANOS;
    long max = maxEjectionNanos(settings);
    long ejection = base;
    for (int i = 1; i < count && ejection < max; i++) {
      ejection *= 2;
    }
    ejectedUntilNanos = nowNanos + Math.min(ejection, max);
    return true;
  }

  private static long maxEjectionNanos(OutlierDetection settings) {
    return settings.hasMaxEjectionTime()
        ? Durations.toNanos(settings.getMaxEjectionTime())
        : DEFAULT_MAX_EJECTION_NANOS;
  }
}
