package dev.sluice.controlplane.store.etcd;

import java.time.Duration;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Exponential backoff with jitter: the n-th delay is drawn uniformly from half to all of {@code min
 * * 2^n}, capped at {@code max}. The jitter keeps control-plane replicas that lost etcd at the same
 * moment from reconnecting in lockstep. Not thread-safe; used on the serial executor only.
 */
final class Backoff {
  private final long minNanos;
  private final long maxNanos;
  private int attempts;

  Backoff(Duration min, Duration max) {
    this.minNanos = min.toNanos();
    this.maxNanos = max.toNanos();
  }

  /** The delay before the next attempt. */
  Duration next() {
    long ceiling = minNanos;
    for (int i = 0; i < attempts && ceiling < maxNanos; i++) {
      ceiling *= 2;
    }
    ceiling = Math.min(ceiling, maxNanos);
    attempts++;
    return Duration.ofNanos(ThreadLocalRandom.current().nextLong(ceiling / 2, ceiling + 1));
  }

  /** Starts over from the minimum, after a success. */
  void reset() {
    attempts = 0;
  }
}
