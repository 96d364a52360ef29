package dev.sluice.integration.ratelimit;

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
 * Simulated time and the one serial scheduler that everything in a simulation runs on: tasks run
 * in due order (ties in submission order) on the test thread, with the clock set to their due
 * time. Deterministic; nothing waits for real time.
 */
final class SimulatedClock extends AbstractExecutorService
    implements ScheduledExecutorService, LongSupplier {
  private final PriorityQueue<Task> queue = new PriorityQueue<>();
  private long now;
  private long sequence;

  SimulatedClock(long startNanos) {
    this.now = startNanos;
  }

  @Override
  public long getAsLong() {
    return now;
  }

  /** Runs every task due up to {@code target}, then sets the clock to it. */
  void runUntil(long target) {
    while (!queue.isEmpty() && queue.peek().due - target <= 0) {
      Task next = queue.poll();
      now = Math.max(now, next.due);
      if (!next.cancelled) {
        next.done = true;
        next.runnable.run();
      }
    }
    now = Math.max(now, target);
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
  public ScheduledFuture<?> scheduleAtFixedRate(Runnable r, long initial, long period, TimeUnit u) {
    throw new UnsupportedOperationException();
  }

  @Override
  public ScheduledFuture<?> scheduleWithFixedDelay(Runnable r, long initial, long delay, TimeUnit u) {
    throw new UnsupportedOperationException();
  }

  @Override
  public void shutdown() {}

  @Override
  public List<Runnable> shutdownNow() {
    return new ArrayList<>();
  }

  @Override
  public boolean isShutdown() {
    return false;
  }

  @Override
  public boolean isTerminated() {
    return false;
  }

  @Override
  public boolean awaitTermination(long timeout, TimeUnit unit) {
    return false;
  }

  private final class Task implements ScheduledFuture<Object> {
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
