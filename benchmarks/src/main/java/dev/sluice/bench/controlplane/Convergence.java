package dev.sluice.bench.controlplane;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * Tracks, for one apply, the moment the last of N streams acknowledged a version at or above the
 * applied one.
 *
 * <p>The applied version is known only when ApplyChanges returns, yet a fast control plane may push
 * and be acknowledged before that. So every stream always records its latest acknowledged version
 * and when it sent that ACK; {@link #target} then counts the streams already there, and later ACKs
 * count themselves. A per-stream flag, claimed by compare-and-set, makes each stream count exactly
 * once whichever path sees it first.
 */
final class Convergence {
  private final AtomicLongArray ackedVersion;
  private final AtomicLongArray ackedAt;
  private final AtomicIntegerArray counted;
  private final AtomicLong lastAckAt = new AtomicLong();
  private volatile long target = Long.MAX_VALUE;
  private volatile CountDownLatch remaining = new CountDownLatch(0);

  Convergence(int streams) {
    ackedVersion = new AtomicLongArray(streams);
    ackedAt = new AtomicLongArray(streams);
    counted = new AtomicIntegerArray(streams);
    for (int i = 0; i < streams; i++) {
      ackedVersion.set(i, -1);
    }
  }

  /** Stream {@code i} sent an ACK for {@code version} at {@code nanoTime}. */
  void acked(int i, long version, long nanoTime) {
    ackedAt.set(i, nanoTime);
    ackedVersion.set(i, version);
    if (version >= target) {
      count(i, nanoTime);
    }
  }

  /** Forgets the previous round; call before the apply. */
  void reset() {
    target = Long.MAX_VALUE;
    for (int i = 0; i < counted.length(); i++) {
      counted.set(i, 0);
    }
    lastAckAt.set(0);
  }

  /** The applied version is {@code version}: count the streams already there, await the rest. */
  void target(long version) {
    remaining = new CountDownLatch(counted.length());
    target = version;
    for (int i = 0; i < counted.length(); i++) {
      if (ackedVersion.get(i) >= version) {
        count(i, ackedAt.get(i));
      }
    }
  }

  private void count(int i, long at) {
    if (counted.compareAndSet(i, 0, 1)) {
      lastAckAt.accumulateAndGet(at, Math::max);
      remaining.countDown();
    }
  }

  /** Waits for every stream; returns the time of the last ACK, or -1 on timeout. */
  long await(long timeoutNanos) throws InterruptedException {
    return remaining.await(timeoutNanos, TimeUnit.NANOSECONDS) ? lastAckAt.get() : -1;
  }

  /** Streams not yet at the target. */
  long lagging() {
    return remaining.getCount();
  }
}
