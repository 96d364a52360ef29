package dev.sluice.bench.load;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * Drives a {@link LoadTarget} for a bounded time, in open or closed loop, into a {@link
 * Measurement}.
 *
 * <p>Both loops stop issuing calls at the end of the window, wait up to the drain time for calls in
 * flight, then close the target; whatever is still open is reported as unfinished.
 */
final class LoadRun {
  /** How to drive the target. */
  record Plan(
      boolean open,
      double rate,
      int concurrency,
      Duration warmup,
      Duration duration,
      Duration drain,
      Duration ramp,
      int maxInFlight) {}

  /** The measurement and what the run observed besides it. */
  record Outcome(Measurement measurement, long unfinished, long backlogged) {}

  private LoadRun() {}

  /**
   * Runs {@code plan} against {@code target}, the warm-up starting at {@code start} (a {@link
   * System#nanoTime()} shortly in the future, so that process sampling can share the window).
   */
  static Outcome run(Plan plan, LoadTarget target, long start) {
    long windowStart = start + plan.warmup.toNanos();
    Measurement m = new Measurement(windowStart, windowStart + plan.duration.toNanos());
    long backlogged =
        plan.open ? openLoop(plan, target, m, start) : closedLoop(plan, target, m, start);
    long drainUntil = System.nanoTime() + plan.drain.toNanos();
    while (m.inFlight.get() > 0 && System.nanoTime() < drainUntil) {
      LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(5));
    }
    m.closed = true;
    long unfinished = Math.max(0, m.inFlight.get());
    target.close();
    return new Outcome(m, unfinished, backlogged);
  }

  /**
   * Fires call {@code i} at {@code start + i / rate} (wrk2's schedule) from one thread. A late
   * thread catches up by firing every slot already due; latency is taken from the slot, so lateness
   * anywhere — scheduler, client queue, server — is counted. Slots that find {@code maxInFlight}
   * calls open are not sent and count as {@code CLIENT_BACKLOG} errors, which bounds memory when
   * the server stalls.
   */
  private static long openLoop(Plan plan, LoadTarget target, Measurement m, long start) {
    double interval = 1e9 / plan.rate;
    long backlogged = 0;
    for (long i = 0; ; i++) {
      long slot = start + Math.round(i * interval);
      if (slot >= m.windowEnd) {
        return backlogged;
      }
      long wait;
      while ((wait = slot - System.nanoTime()) > 0) {
        LockSupport.parkNanos(wait);
      }
      if (m.inFlight.get() >= plan.maxInFlight) {
        backlogged++;
        if (m.inWindow(slot)) {
          m.measured.increment();
          m.outcome("CLIENT_BACKLOG");
        }
        continue;
      }
      CallRecord r = new CallRecord(m, slot, null);
      m.callStarted();
      target.start(r);
    }
  }

  /**
   * Starts {@code concurrency} workers (spread over the ramp time), each sending its next call as
   * soon as the previous one ends, until the window closes.
   */
  private static long closedLoop(Plan plan, LoadTarget target, Measurement m, long start) {
    CountDownLatch done = new CountDownLatch(plan.concurrency);
    long rampStep = plan.concurrency > 1 ? plan.ramp.toNanos() / plan.concurrency : 0;
    for (int w = 0; w < plan.concurrency; w++) {
      long at = start + w * rampStep;
      long wait;
      while ((wait = at - System.nanoTime()) > 0) {
        LockSupport.parkNanos(wait);
      }
      new Worker(target, m, done).next();
    }
    try {
      // Workers stop at the end of the window; run() then drains their last calls.
      done.await(Math.max(0, m.windowEnd - System.nanoTime()), TimeUnit.NANOSECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    return 0;
  }

  /**
   * One closed-loop worker. The next call starts from the completion callback of the previous one;
   * a call that fails synchronously inside {@code start} would recurse, so starts nested on one
   * thread go through a per-thread trampoline instead.
   */
  private static final class Worker {
    private static final ThreadLocal<ArrayDeque<Worker>> TRAMPOLINE = new ThreadLocal<>();

    private final LoadTarget target;
    private final Measurement m;
    private final CountDownLatch done;

    Worker(LoadTarget target, Measurement m, CountDownLatch done) {
      this.target = target;
      this.m = m;
      this.done = done;
    }

    void next() {
      ArrayDeque<Worker> queue = TRAMPOLINE.get();
      if (queue != null) {
        queue.add(this);
        return;
      }
      queue = new ArrayDeque<>();
      TRAMPOLINE.set(queue);
      try {
        Worker w = this;
        while (w != null) {
          w.startOne();
          w = queue.poll();
        }
      } finally {
        TRAMPOLINE.remove();
      }
    }

    private void startOne() {
      long now = System.nanoTime();
      if (now >= m.windowEnd || m.closed) {
        done.countDown();
        return;
      }
      CallRecord r = new CallRecord(m, now, this::next);
      m.callStarted();
      target.start(r);
    }
  }
}
