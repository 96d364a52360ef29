package dev.sluice.dataplane.routing;

import dev.sluice.dataplane.provider.ProviderAdapter;
import dev.sluice.dataplane.provider.UpstreamException;
import dev.sluice.grpc.ApiException;
import io.grpc.Deadline;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.logging.Level;
import org.jspecify.annotations.Nullable;

/** A unary request (chat or embeddings) worked through its attempts. */
final class UnaryExchange<R> extends Exchange {
  /** How one kind of unary call is made and its response completed. */
  interface Operation<R> {
    CompletableFuture<R> call(
        ProviderAdapter adapter,
        Endpoint endpoint,
        Destination destination,
        @Nullable Deadline deadline);

    /** The upstream response with the gateway's fields filled in. */
    R complete(R response, Endpoint endpoint, Destination destination);
  }

  private final Operation<R> operation;
  private final CompletableFuture<R> result = new CompletableFuture<>();
  private volatile @Nullable Attempt current;

  UnaryExchange(
      DefaultRouter router,
      RoutePlan plan,
      RoutingContext context,
      ModelEntry requested,
      Operation<R> operation) {
    super(router, plan, context, requested);
    this.operation = operation;
    result.whenComplete(
        (response, error) -> {
          if (result.isCancelled()) {
            cancel();
          }
        });
  }

  CompletableFuture<R> result() {
    return result;
  }

  @Override
  void launch(Endpoint endpoint, Destination destination, boolean retry, long timerDeadlineNanos) {
    Attempt attempt = new Attempt(endpoint, retry);
    current = attempt;
    ProviderAdapter adapter = router.providers().forKind(endpoint.target().backend().getKind());
    CompletableFuture<R> upstream;
    if (adapter == null) {
      upstream = CompletableFuture.failedFuture(noAdapter(endpoint));
    } else {
      try {
        upstream = operation.call(adapter, endpoint, destination, deadlineFor(timerDeadlineNanos));
      } catch (RuntimeException e) {
        upstream = CompletableFuture.failedFuture(e);
      }
    }
    attempt.upstream = upstream;
    if (timerDeadlineNanos != Long.MAX_VALUE) {
      attempt.timer =
          router
              .scheduler()
              .schedule(
                  attempt::timeout, timerDeadlineNanos - router.nanoTime(), TimeUnit.NANOSECONDS);
    }
    upstream.whenComplete((response, error) -> attempt.ended(response, error, destination));
    if (cancelled) {
      attempt.cancel();
    }
  }

  @Override
  void deliverError(ApiException error) {
    result.completeExceptionally(error);
  }

  @Override
  void cancelCurrentAttempt() {
    Attempt attempt = current;
    if (attempt != null) {
      attempt.cancel();
    }
  }

  /** One upstream call; exactly one of ended, timeout or cancel takes effect. */
  private final class Attempt {
    private final Endpoint endpoint;
    private final boolean retry;
    private final long startNanos;
    private final AtomicBoolean done = new AtomicBoolean();
    volatile @Nullable CompletableFuture<R> upstream;
    volatile @Nullable ScheduledFuture<?> timer;

    Attempt(Endpoint endpoint, boolean retry) {
      this.endpoint = endpoint;
      this.retry = retry;
      this.startNanos = router.nanoTime();
    }

    void ended(@Nullable R response, @Nullable Throwable error, Destination destination) {
      if (!done.compareAndSet(false, true)) {
        return;
      }
      cancelTimer();
      if (error == null && response != null) {
        endpoint.backend().load().recordLatency(router.nanoTime() - startNanos);
        attemptEnded(endpoint, retry, null, true);
        R completed;
        try {
          completed = operation.complete(response, endpoint, destination);
        } catch (RuntimeException e) {
          fail(internal(e));
          return;
        }
        if (finish()) {
          result.complete(completed);
        }
        return;
      }
      Throwable cause = unwrap(error);
      if (cause instanceof UpstreamException failure) {
        attemptEnded(endpoint, retry, failure.failure(), true);
        attemptFailed(endpoint, failure);
      } else {
        attemptEnded(endpoint, retry, null, false);
        fail(internal(cause));
      }
    }

    void timeout() {
      if (!done.compareAndSet(false, true)) {
        return;
      }
      CompletableFuture<R> call = upstream;
      if (call != null) {
        call.cancel(false);
      }
      UpstreamException failure = timedOut(endpoint);
      attemptEnded(endpoint, retry, failure.failure(), true);
      attemptFailed(endpoint, failure);
    }

    void cancel() {
      if (!done.compareAndSet(false, true)) {
        return;
      }
      cancelTimer();
      CompletableFuture<R> call = upstream;
      if (call != null) {
        call.cancel(false);
      }
      attemptEnded(endpoint, retry, null, false);
    }

    private void cancelTimer() {
      ScheduledFuture<?> t = timer;
      if (t != null) {
        t.cancel(false);
      }
    }
  }

  private static Throwable unwrap(@Nullable Throwable error) {
    Throwable t = error == null ? new IllegalStateException("adapter returned null") : error;
    while ((t instanceof CompletionException || t instanceof ExecutionException)
        && t.getCause() != null) {
      t = t.getCause();
    }
    return t;
  }

  private static ApiException internal(Throwable cause) {
    if (cause instanceof ApiException api) {
      return api;
    }
    if (!(cause instanceof CancellationException)) {
      DefaultRouter.logger.log(Level.WARNING, "Provider adapter failed unexpectedly", cause);
    }
    return ApiException.builder(io.grpc.Status.Code.INTERNAL, "UPSTREAM_ERROR")
        .message("the provider adapter failed unexpectedly")
        .build();
  }
}
