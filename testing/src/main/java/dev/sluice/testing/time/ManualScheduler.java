package dev.sluice.testing.time;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.PriorityQueue;
import java.util.concurrent.AbstractExecutorService;
import java.util.concurrent.Callable;
import java.util.concurrent.Delayed;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;

/**
 * Simulated time and a single-threaded scheduled executor on it: tasks run only when the test moves
 * the clock, in due order (ties in submission order), on the test's thread, with the clock set to
 * their due time. The deterministic stand-in for a serial scheduler and the nanosecond ticker that
 * goes with it; nothing waits for real time.
 *
 * <p>Not thread-safe: one test thread drives it.
 */
public final class ManualScheduler extends AbstractExecutorService
    implements ScheduledExecutorService, LongSupplier {
  private final PriorityQueue<Task> queue = new PriorityQueue<>();
  private long now;
  private long sequence;
  private boolean shutdown;

  /** A clock starting at {@code startNanos} (like {@code System.nanoTime()}, any value). */
  public ManualScheduler(long startNanos) {
    this.now = startNanos;
  }

  /** Now, in nanoseconds: a ticker for the code under test. */
  @Override
  public long getAsLong() {
    return now;
  }

  /** Runs every task due by now, including ones they schedule for now. */
  public void runDue() {
    runUntil(now);
  }

  /** Moves the clock forward by {@code duration}, running tasks as their time comes. */
  public void advance(Duration duration) {
    runUntil(now + duration.toNanos());
  }

  /** Runs every task due up to {@code target}, each at its due time, then sets the clock to it. */
  public void runUntil(long target) {
    while (true) {
      Task next = queue.peek();
      if (next == null || next.due - target > 0) {
        break;
      }
      queue.poll();
      if (next.due - now > 0) {
        now = next.due;
      }
      if (!next.cancelled) {
        next.done = true;
        next.runnable.run();
      }
    }
    if (target - now > 0) {
      now = target;
    }
  }

  /** Delays from now of the pending tasks, in due order. */
  public List<Duration> pendingDelays() {
    List<Duration> delays = new ArrayList<>();
    queue.stream()
        .filter(t -> !t.cancelled)
        .sorted()
        .forEach(t -> delays.add(Duration.ofNanos(t.due - now)));
    return delays;
  }

  @Override
  public void execute(Runnable command) {
    schedule(command, 0, TimeUnit.NANOSECONDS);
  }

  @Override
  public ScheduledFuture<?> schedule(Runnable command, long delay, TimeUnit unit) {
    Task task = new Task(command, now + unit.toNanos(Math.max(0, delay)), sequence++);
    queue.add(task);
    return task;
  }

  @Override
  public <V> ScheduledFuture<V> schedule(Callable<V> callable, long delay, TimeUnit unit) {
    throw new UnsupportedOperationException();
  }

  @Override
  public ScheduledFuture<?> scheduleAtFixedRate(
      Runnable command, long initialDelay, long period, TimeUnit unit) {
    throw new UnsupportedOperationException();
  }

  @Override
  public ScheduledFuture<?> scheduleWithFixedDelay(
      Runnable command, long initialDelay, long delay, TimeUnit unit) {
    throw new UnsupportedOperationException();
  }

  @Override
  public void shutdown() {
    shutdown = true;
  }

  @Override
  public List<Runnable> shutdownNow() {
    shutdown = true;
    return List.of();
  }

  @Override
  public boolean isShutdown() {
    return shutdown;
  }

  @Override
  public boolean isTerminated() {
    return shutdown;
  }

  @Override
  public boolean awaitTermination(long timeout, TimeUnit unit) {
    return shutdown;
  }

  private final class Task implements ScheduledFuture<Object>, Comparable<Delayed> {
    final Runnable runnable;
    final long due;
    final long seq;
    boolean cancelled;
    boolean done;

    Task(Runnable runnable, long due, long seq) {
      this.runnable = runnable;
      this.due = due;
      this.seq = seq;
    }

    @Override
    public long getDelay(TimeUnit unit) {
      return unit.convert(due - now, TimeUnit.NANOSECONDS);
    }

    @Override
    public int compareTo(Delayed o) {
      Task other = (Task) o;
      int byDue = Long.compare(due, other.due);
      return byDue != 0 ? byDue : Long.compare(seq, other.seq);
    }

    @Override
    public boolean cancel(boolean mayInterruptIfRunning) {
      if (done) {
        return false;
      }
      cancelled = true;
      return true;
    }

    @Override
    public boolean isCancelled() {
      return cancelled;
    }

    @Override
    public boolean isDone() {
      return done || cancelled;
    }

    @Override
    public Object get() {
      return null;
    }

    @Override
    public Object get(long timeout, TimeUnit unit) {
      return null;
    }
  }
}
