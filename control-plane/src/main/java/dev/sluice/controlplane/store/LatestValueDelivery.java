package dev.sluice.controlplane.store;

import static java.util.Objects.requireNonNull;

import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;
import org.jspecify.annotations.Nullable;

/**
 * Hands the newest value offered to it to a consumer on an executor: a value offered while an
 * earlier one still waits replaces it, and one task at a time is queued. The embedded store's
 * watches use it so that a slow listener sees the latest state rather than a backlog of stale
 * ones, and never runs on the store's own thread.
 *
 * <p>{@link #offer} may be called from any thread; the consumer runs on the executor, one value at
 * a time when the executor is serial. Values offered once the executor refuses work (it is
 * shutting down) are dropped.
 */
final class LatestValueDelivery<T> {
  private final Executor executor;
  private final Consumer<T> consumer;
  private final AtomicReference<@Nullable T> pending = new AtomicReference<>();
  private final AtomicBoolean scheduled = new AtomicBoolean();

  LatestValueDelivery(Executor executor, Consumer<T> consumer) {
    this.executor = requireNonNull(executor, "executor");
    this.consumer = requireNonNull(consumer, "consumer");
  }

  void offer(T value) {
    pending.set(requireNonNull(value, "value"));
    if (scheduled.compareAndSet(false, true)) {
      try {
        executor.execute(this::drain);
      } catch (RejectedExecutionException e) {
        // Shutting down: nobody is left to deliver to.
      }
    }
  }

  private void drain() {
    scheduled.set(false);
    T value = pending.getAndSet(null);
    if (value != null) {
      consumer.accept(value);
    }
  }
}
