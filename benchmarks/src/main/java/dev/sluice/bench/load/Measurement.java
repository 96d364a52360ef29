package dev.sluice.bench.load;

import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.LongAdder;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.Recorder;

/**
 * Everything one run records, written concurrently by transport threads.
 *
 * <p>A call is <em>measured</em> when its scheduled start falls in the measurement window, which
 * follows the warm-up. Latencies are recorded for measured calls only; throughput counts calls that
 * completed, and tokens that arrived, inside the window, so calls straddling its edges are neither
 * lost nor counted twice. HdrHistogram {@link Recorder}s take values wait-free from any thread.
 */
final class Measurement {
  final long windowStart;
  final long windowEnd;

  /** From the scheduled start: open loop includes client-side queueing, closed loop does not. */
  final Recorder latency = new Recorder(3);

  /** Warm-up calls, recorded only so that the recording code is compiled before the window. */
  final Recorder warmupLatency = new Recorder(3);

  /** From the moment the request was written. */
  final Recorder serviceTime = new Recorder(3);

  final Recorder ttft = new Recorder(3);
  final Recorder interTokenGap = new Recorder(3);
  final Recorder streamDuration = new Recorder(3);

  /** Per-stream rate after the first token, in tokens per second. */
  final Recorder streamTokensPerSecond = new Recorder(3);

  final LongAdder started = new LongAdder();
  final LongAdder measured = new LongAdder();
  final LongAdder okInWindow = new LongAdder();
  final LongAdder tokensInWindow = new LongAdder();
  final AtomicInteger inFlight = new AtomicInteger();
  final AtomicInteger maxInFlight = new AtomicInteger();
  private final Map<String, LongAdder> outcomes = new ConcurrentHashMap<>();

  /** Width of a {@link #slotCalls timeline} slot: 100 ms of scheduled start times. */
  static final long SLOT_NANOS = 100_000_000L;

  /** Latency above which a measured call counts as slow in the timeline: 1 ms. */
  static final long SLOW_NANOS = 1_000_000L;

  /**
   * The measured calls by the 100 ms slot of the window their scheduled start fell in: how many,
   * how many were slow, and the largest latency. Tells a stall (slow calls bunched in a few slots)
   * from a spread tail (a few in every slot).
   */
  final AtomicLongArray slotCalls;

  final AtomicLongArray slotSlowCalls;
  final AtomicLongArray slotMaxNanos;

  /** Set when the run is over: calls still open then are counted as unfinished, nothing else. */
  volatile boolean closed;

  Measurement(long windowStart, long windowEnd) {
    this.windowStart = windowStart;
    this.windowEnd = windowEnd;
    int slots = (int) Math.max(1, (windowEnd - windowStart + SLOT_NANOS - 1) / SLOT_NANOS);
    slotCalls = new AtomicLongArray(slots);
    slotSlowCalls = new AtomicLongArray(slots);
    slotMaxNanos = new AtomicLongArray(slots);
  }

  /** Adds a measured call scheduled at {@code scheduled} that took {@code latency} to the timeline. */
  void timeline(long scheduled, long latency) {
    int slot = (int) ((scheduled - windowStart) / SLOT_NANOS);
    if (slot < 0 || slot >= slotCalls.length()) {
      return;
    }
    slotCalls.incrementAndGet(slot);
    if (latency > SLOW_NANOS) {
      slotSlowCalls.incrementAndGet(slot);
    }
    slotMaxNanos.accumulateAndGet(slot, latency, Math::max);
  }

  boolean inWindow(long nanoTime) {
    return nanoTime >= windowStart && nanoTime < windowEnd;
  }

  /** Counts a call as started; keeps the in-flight maximum. */
  void callStarted() {
    started.increment();
    int now = inFlight.incrementAndGet();
    maxInFlight.accumulateAndGet(now, Math::max);
  }

  void outcome(String outcome) {
    outcomes.computeIfAbsent(outcome, k -> new LongAdder()).increment();
  }

  /** Outcomes of measured calls, by name, sorted. */
  Map<String, Long> outcomes() {
    Map<String, Long> out = new TreeMap<>();
    outcomes.forEach((k, v) -> out.put(k, v.sum()));
    return out;
  }

  static Histogram snapshot(Recorder r) {
    return r.getIntervalHistogram();
  }

  double windowSeconds() {
    return (windowEnd - windowStart) / 1e9;
  }
}
