package dev.sluice.dataplane.ratelimit;

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

/**
 * A single-threaded scheduled executor that runs tasks only when the test moves its clock: tasks
 * run in due order (ties in submission order) on the test's thread, with the clock set to their due
 * time. Deterministic stand-in for a serial scheduler.
 */
final class ManualScheduler extends AbstractExecutorService implements ScheduledExecutorService {
  private final FakeTicker ticker;
  private final PriorityQueue<Task> queue = new PriorityQueue<>();
  private long sequence;
  private boolean shutdown;

  ManualScheduler(FakeTicker ticker) {
    this.ticker = ticker;
  }

  /** Runs every task due by now, including ones they schedule for now. */
  void runDue() {
    advanceTo(ticker.getAsLong());
  }

  /** Moves the clock forward by {@code duration}, running tasks as their time comes. */
  void advance(Duration duration) {
    advanceTo(ticker.getAsLong() + duration.toNanos());
  }

  void advanceTo(long target) {
    while (true) {
      Task next = queue.peek();
      if (next == null || next.due - target > 0) {
        break;
      }
      queue.poll();
      if (next.due - ticker.getAsLong() > 0) {
        ticker.set(next.due);
      }
      if (!next.cancelled) {
        next.done = true;
        next.runnable.run();
      }
    }
    if (target - ticker.getAsLong() > 0) {
      ticker.set(target);
    }
  }

  /** Delays from now of the pending tasks, in due order. */
  List<Duration> pendingDelays() {
    List<Duration> delays = new ArrayList<>();
    queue.stream()
        .filter(t -> !t.cancelled)
        .sorted()
        .forEach(t -> delays.add(Duration.ofNanos(t.due - ticker.getAsLong())));
    return delays;
  }

  @Override
  public void execute(Runnable command) {
    schedule(command, 0, TimeUnit.NANOSECONDS);
  }

  @Override
  public ScheduledFuture<?> schedule(Runnable command, long delay, TimeUnit unit) {
    Task task = new Task(command, ticker.getAsLong() + unit.toNanos(Math.max(0, delay)), sequence++);
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
      return unit.convert(due - ticker.getAsLong(), TimeUnit.NANOSECONDS);
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
