package dev.sluice.dataplane.config;

import java.time.Duration;
import java.util.random.RandomGenerator;

/**
 * Jittered exponential backoff for reconnecting: the delay doubles from the initial value up to the
 * maximum, and each delay is spread by ±20% so a fleet of nodes that lost the same control plane
 * does not come back in lockstep. Not thread-safe.
 */
final class Backoff {
  private static final double JITTER = 0.2;

  private final long initialNanos;
  private final long maxNanos;
  private final RandomGenerator random;
  private long nextNanos;

  Backoff(Duration initial, Duration max, RandomGenerator random) {
    if (initial.isNegative() || initial.isZero() || max.compareTo(initial) < 0) {
      throw new IllegalArgumentException(
          "backoff: initial " + initial + ", max " + max + " (expected: 0 < initial <= max)");
    }
    this.initialNanos = initial.toNanos();
    this.maxNanos = max.toNanos();
    this.random = random;
    this.nextNanos = initialNanos;
  }

  /** The delay before the next reconnect; each call doubles the one after, up to the maximum. */
  long nextDelayNanos() {
    long base = nextNanos;
    nextNanos = Math.min(maxNanos, base * 2);
    double factor = 1 - JITTER + 2 * JITTER * random.nextDouble();
    return (long) (base * factor);
  }

  /** Starts over at the initial delay, after a connection worked. */
  void reset() {
    nextNanos = initialNanos;
  }
}
