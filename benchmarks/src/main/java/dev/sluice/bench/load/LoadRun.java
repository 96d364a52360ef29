package dev.sluice.bench.load;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.OptionalLong;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
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

  /**
   * The measurement and what the run observed besides it; {@code pacing} says what timed the open
   * loop's sends (and with what timer slack), which bounds how late they can be.
   */
  record Outcome(Measurement measurement, long unfinished, long backlogged, String pacing) {}

  private LoadRun() {}

  /**
   * Runs {@code plan} against {@code target}, the warm-up starting at {@code start} (a {@link
   * System#nanoTime()} shortly in the future, so that process sampling can share the window).
   */
  static Outcome run(Plan plan, LoadTarget target, long start) {
    long windowStart = start + plan.warmup.toNanos();
    Measurement m = new Measurement(windowStart, windowStart + plan.duration.toNanos());
    String[] pacing = {"closed loop"};
    long backlogged =
        plan.open ? openLoop(plan, target, m, start, pacing) : closedLoop(plan, target, m, start);
    long drainUntil = System.nanoTime() + plan.drain.toNanos();
    while (m.inFlight.get() > 0 && System.nanoTime() < drainUntil) {
      LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(5));
    }
    m.closed = true;
    long unfinished = Math.max(0, m.inFlight.get());
    target.close();
    return new Outcome(m, unfinished, backlogged, pacing[0]);
  }

  /**
   * Fires call {@code i} at {@code start + i / rate} (wrk2's schedule) from one thread. A late
   * thread catches up by firing every slot already due; latency is taken from the slot, so lateness
   * anywhere — scheduler, client queue, server — is counted. Slots that find {@code maxInFlight}
   * calls open are not sent and count as {@code CLIENT_BACKLOG} errors, which bounds memory when
   * the server stalls. With a {@link LoadTarget#pacer()}, the same schedule runs on timers of the
   * target's event loop instead ({@link Pacer}).
   */
  private static long openLoop(
      Plan plan, LoadTarget target, Measurement m, long start, String[] pacing) {
    ScheduledExecutorService pacer = target.pacer();
    if (pacer != null) {
      pacing[0] = "event-loop timers, " + slack(pacer.submit(TimerSlack::minimize));
      return new Pacer(plan, target, m, start, pacer).run(start);
    }
    pacing[0] = "own thread, " + slack(CompletableFuture.completedFuture(TimerSlack.minimize()));
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
      if (!fire(plan, target, m, slot)) {
        backlogged++;
      }
    }
  }

  private static String slack(Future<OptionalLong> f) {
    try {
      OptionalLong ns = f.get(5, TimeUnit.SECONDS);
      return ns.isPresent() ? "timer slack " + ns.getAsLong() + " ns" : "timer slack unknown";
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return "timer slack unknown";
    } catch (ExecutionException | TimeoutException e) {
      return "timer slack unknown";
    }
  }

  /** Starts the call of {@code slot}, unless {@code maxInFlight} calls are open; says which. */
  private static boolean fire(Plan plan, LoadTarget target, Measurement m, long slot) {
    if (m.inFlight.get() >= plan.maxInFlight) {
      if (m.inWindow(slot)) {
        m.measured.increment();
        m.outcome("CLIENT_BACKLOG");
      }
      return false;
    }
    CallRecord r = new CallRecord(m, slot, null);
    m.callStarted();
    target.start(r);
    return true;
  }

  /**
   * The open loop's schedule fired by timers on the target's event loop: each tick starts every
   * slot already due, then sets a timer for the next one. The same schedule and accounting as the
   * thread above; latency still counts from the slot, so a late tick shows as latency.
   */
  private static final class Pacer implements Runnable {
    private final Plan plan;
    private final LoadTarget target;
    private final Measurement m;
    private final long start;
    private final ScheduledExecutorService loop;
    private final double interval;
    private final CountDownLatch done = new CountDownLatch(1);
    private long next;
    private long backlogged;

    Pacer(Plan plan, LoadTarget target, Measurement m, long start, ScheduledExecutorService loop) {
      this.plan = plan;
      this.target = target;
      this.m = m;
      this.start = start;
      this.loop = loop;
      this.interval = 1e9 / plan.rate;
    }

    /** Runs the schedule and returns, once it is over, how many slots found the backlog full. */
    long run(long first) {
      loop.schedule(this, Math.max(0, first - System.nanoTime()), TimeUnit.NANOSECONDS);
      try {
        // The schedule ends at the window's end; the margin covers a loop stalled past it.
        if (!done.await(
            Math.max(0, m.windowEnd - System.nanoTime()) + 10_000_000_000L, TimeUnit.NANOSECONDS)) {
          throw new IllegalStateException("the open loop's timers stopped before the window end");
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      return backlogged; // written before done.countDown(), read after await(): visible
    }

    @Override
    public void run() {
      long now = System.nanoTime();
      while (true) {
        long slot = start + Math.round(next * interval);
        if (slot >= m.windowEnd) {
          done.countDown();
          return;
        }
        if (slot > now) {
          loop.schedule(this, slot - now, TimeUnit.NANOSECONDS);
          return;
        }
        next++;
        if (!fire(plan, target, m, slot)) {
          backlogged++;
        }
        now = System.nanoTime();
      }
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
