package dev.sluice.dataplane.ratelimit;

import java.time.Duration;
import java.util.function.LongSupplier;

/** A monotonic nanosecond clock that moves only when a test says so. */
final class FakeTicker implements LongSupplier {
  private long nanos;

  FakeTicker() {
    // Away from zero, like System.nanoTime(), which may be anything, negative included.
    this(-7_000_000_000_123L);
  }

  FakeTicker(long startNanos) {
    this.nanos = startNanos;
  }

  @Override
  public synchronized long getAsLong() {
    return nanos;
  }

  synchronized void advance(Duration duration) {
    nanos += duration.toNanos();
  }

  synchronized void advanceNanos(long delta) {
    nanos += delta;
  }

  synchronized void set(long nanos) {
    this.nanos = nanos;
  }
}
