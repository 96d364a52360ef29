package dev.sluice.dataplane.routing;

import dev.sluice.config.v1.RetryCondition;
import dev.sluice.dataplane.metrics.GatewayMetrics.AttemptKind;
import dev.sluice.dataplane.provider.UpstreamException;
import dev.sluice.dataplane.provider.UpstreamFailure;
import dev.sluice.grpc.ApiException;
import io.grpc.Deadline;
import io.grpc.Status;
import java.time.Duration;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.jspecify.annotations.Nullable;

/**
 * One client request as the router works through it: the attempts on the plan's destinations, with
 * retries, fallbacks and deadlines. Subclasses say how an attempt is made (unary or streamed) and
 * how the outcome reaches the client.
 *
 * <p>Threading: attempts run one at a time. The fields that track progress (destination, attempt
 * count, tried backends) are written only by the code that starts an attempt or handles the end of
 * the previous one; each hand-over goes through an atomic state change or an executor submission,
 * which orders the writes. {@link #cancel()} may come from any thread at any time.
 */
abstract class Exchange {
  /** Exchange has no deadline when this is the remaining time. */
  private static final long NO_DEADLINE = Long.MAX_VALUE;

  final DefaultRouter router;
  final RoutePlan plan;
  final RoutingContext context;
  final ModelEntry requested;

  private final long clientDeadlineNanos;
  private final long routeDeadlineNanos;
  private final AtomicBoolean finished = new AtomicBoolean();

  private int destinationIndex;
  private int attemptsInDestination;
  private final Set<String> triedBackends = new HashSet<>(4);

  volatile boolean cancelled;
  private volatile @Nullable ScheduledFuture<?> pendingRetry;

  Exchange(DefaultRouter router, RoutePlan plan, RoutingContext context, ModelEntry requested) {
    this.router = router;
    this.plan = plan;
    this.context = context;
    this.requested = requested;
    long now = router.nanoTime();
    Deadline deadline = context.deadline();
    this.clientDeadlineNanos =
        deadline == null ? NO_DEADLINE : now + deadline.timeRemaining(TimeUnit.NANOSECONDS);
    RouteEntry route = plan.route();
    this.routeDeadlineNanos =
        route == null || route.timeoutNanos() == 0
            ? NO_DEADLINE
            : context.startNanos() + route.timeoutNanos();
  }

  /**
   * Makes one attempt on {@code endpoint}, whose request slot is already taken. {@code
   * timerDeadlineNanos} is when the attempt fails with {@code TIMEOUT} unless it produced a
   * response (or, for a stream, its first event) by then; {@link Long#MAX_VALUE} means no timer.
   * {@code retry} says whether the attempt holds a slot of the route's retry budget.
   */
  abstract void launch(
      Endpoint endpoint, Destination destination, boolean retry, long timerDeadlineNanos);

  /** Tells the client that the request failed; called at most once, never after cancel. */
  abstract void deliverError(ApiException error);

  /** Cancels the attempt in flight, if any; nothing is delivered to the client. */
  abstract void cancelCurrentAttempt();

  final void start() {
    RouteEntry route = plan.route();
    if (route != null) {
      route.budget().requestStarted();
    }
    startAttempt(false);
  }

  /** The client went away: stop at once and deliver nothing. */
  public final void cancel() {
    cancelled = true;
    ScheduledFuture<?> retry = pendingRetry;
    if (retry != null && retry.cancel(false)) {
      releaseRetrySlot(true);
    }
    cancelCurrentAttempt();
    finish();
  }

  /** Marks the exchange as over; true for the one caller that got there first. */
  final boolean finish() {
    if (!finished.compareAndSet(false, true)) {
      return false;
    }
    RouteEntry route = plan.route();
    if (route != null) {
      route.budget().requestFinished();
    }
    return true;
  }

  final void fail(ApiException error) {
    if (finish()) {
      deliverError(error);
    }
  }

  final void startAttempt(boolean retry) {
    pendingRetry = null;
    if (cancelled) {
      releaseRetrySlot(retry);
      return;
    }
    long now = router.nanoTime();
    if (remainingNanos(now) <= 0) {
      releaseRetrySlot(retry);
      fail(deadlineExceeded(now));
      return;
    }
    Destination destination = plan.destinations().get(destinationIndex);
    boolean lastResort = destinationIndex == plan.destinations().size() - 1;
    EndpointPicker.Pick pick =
        EndpointPicker.pick(destination.version(), triedBackends, lastResort, router.random(), now);
    Endpoint endpoint = pick.endpoint();
    if (endpoint == null) {
      releaseRetrySlot(retry);
      if (!lastResort) {
        nextDestination();
        startAttempt(false);
      } else {
        fail(noBackend(destination, pick.shortage()));
      }
      return;
    }
    attemptsInDestination++;
    triedBackends.add(endpoint.backendName());
    long timerDeadline = routeDeadlineNanos;
    if (plan.retry().perTryTimeoutNanos() > 0) {
      timerDeadline = Math.min(timerDeadline, now + plan.retry().perTryTimeoutNanos());
    }
    launch(endpoint, destination, retry, timerDeadline);
  }

  /**
   * An attempt failed before any output reached the client: retry on the same destination, fall
   * back to the next one, or give up with the failure's own status.
   */
  final void attemptFailed(Endpoint endpoint, UpstreamException failure) {
    router.metrics().upstreamError(endpoint.backendName(), failure.failure().name());
    if (cancelled) {
      return;
    }
    RetryCondition condition = conditionOf(failure.failure());
    RouteEntry route = plan.route();
    long now = router.nanoTime();
    long remaining = remainingNanos(now);
    if (route != null && condition != null && failure.failure().retryable()) {
      RetrySettings retry = plan.retry();
      if (retry.retryOn().contains(condition) && attemptsInDestination < retry.maxAttempts()) {
        long delay = jittered(retry.backoffNanos(attemptsInDestination));
        Duration retryAfter = failure.retryAfter();
        if (retryAfter != null) {
          delay = Math.max(delay, retryAfter.toNanos());
        }
        if (delay < remaining
            && route
                .budget()
                .tryStartRetry(retry.budgetPercent(), retry.minRetriesPerSecond(), now)) {
          router.metrics().attemptRepeated(endpoint.backendName(), AttemptKind.RETRY);
          ScheduledFuture<?> scheduled =
              router.scheduler().schedule(() -> startAttempt(true), delay, TimeUnit.NANOSECONDS);
          pendingRetry = scheduled;
          if (cancelled && scheduled.cancel(false)) {
            releaseRetrySlot(true);
          }
          return;
        }
      }
      if (route.fallsBackOn(condition)
          && destinationIndex + 1 < plan.destinations().size()
          && remaining > 0) {
        router.metrics().attemptRepeated(endpoint.backendName(), AttemptKind.FALLBACK);
        nextDestination();
        startAttempt(false);
        return;
      }
    }
    fail(failure.toApiException());
  }

  /** Returns the request slot of an attempt and records its outcome for balancing and health. */
  final void attemptEnded(
      Endpoint endpoint, boolean retry, @Nullable UpstreamFailure failure, boolean healthKnown) {
    BackendLoad load = endpoint.backend().load();
    load.release();
    releaseRetrySlot(retry);
    if (!healthKnown) {
      return;
    }
    long now = router.nanoTime();
    if (failure == null) {
      load.recordSuccess(endpoint.backend().backend().getOutlierDetection(), now);
    } else if (failure.countsAsOutlier()
        && load.recordFailure(endpoint.backend().backend().getOutlierDetection(), now)) {
      DefaultRouter.logger.info(
          () -> "Backend " + endpoint.backendName() + " ejected after consecutive failures");
    }
  }

  /** The client's deadline as an {@link io.grpc.Deadline}, tightened to {@code nanos} if sooner. */
  final @Nullable Deadline deadlineFor(long timerDeadlineNanos) {
    long deadline = Math.min(clientDeadlineNanos, timerDeadlineNanos);
    if (deadline == NO_DEADLINE) {
      return null;
    }
    if (deadline == clientDeadlineNanos) {
      return context.deadline();
    }
    return Deadline.after(deadline - router.nanoTime(), TimeUnit.NANOSECONDS);
  }

  final UpstreamException timedOut(Endpoint endpoint) {
    return new UpstreamException(
        UpstreamFailure.TIMEOUT,
        endpoint.backendName(),
        0,
        null,
        "backend " + endpoint.backendName() + " did not answer within the route's time limit",
        null);
  }

  final UpstreamException noAdapter(Endpoint endpoint) {
    return new UpstreamException(
        UpstreamFailure.MISCONFIGURED,
        endpoint.backendName(),
        0,
        null,
        "this node cannot call backends of kind " + endpoint.target().backend().getKind(),
        null);
  }

  private void releaseRetrySlot(boolean retry) {
    RouteEntry route = plan.route();
    if (retry && route != null) {
      route.budget().retryFinished();
    }
  }

  private void nextDestination() {
    destinationIndex++;
    attemptsInDestination = 0;
    triedBackends.clear();
  }

  private long remainingNanos(long now) {
    long deadline = Math.min(clientDeadlineNanos, routeDeadlineNanos);
    return deadline == NO_DEADLINE ? NO_DEADLINE : deadline - now;
  }

  private ApiException deadlineExceeded(long now) {
    boolean route = routeDeadlineNanos - now <= 0;
    return ApiException.builder(
            Status.Code.DEADLINE_EXCEEDED, route ? "ROUTE_TIMEOUT" : "DEADLINE_EXCEEDED")
        .message(
            route
                ? "the route's timeout expired before a backend answered"
                : "the call's deadline expired before a backend answered")
        .build();
  }

  private static ApiException noBackend(
      Destination destination, EndpointPicker.@Nullable Shortage shortage) {
    String why =
        shortage == EndpointPicker.Shortage.ALL_EJECTED
            ? "every backend is failing"
            : "every backend is at its concurrency limit";
    return ApiException.builder(Status.Code.UNAVAILABLE, "UPSTREAM_UNAVAILABLE")
        .message(
            "no backend can take the request: "
                + why
                + " (model "
                + destination.model().name()
                + ", version "
                + destination.version().name()
                + ")")
        .metadata("retryable", "true")
        .retryAfter(Duration.ofSeconds(1))
        .build();
  }

  private long jittered(long nanos) {
    if (nanos <= 1) {
      return nanos;
    }
    long half = nanos / 2;
    return half + router.random().nextLong(nanos - half + 1);
  }

  /** The retry/fallback condition a failure meets, or null when none applies. */
  static @Nullable RetryCondition conditionOf(UpstreamFailure failure) {
    switch (failure) {
      case CONNECT_FAILED:
      case MISCONFIGURED:
        return RetryCondition.RETRY_CONDITION_CONNECT_FAILURE;
      case SERVER_ERROR:
      case PROTOCOL_ERROR:
        return RetryCondition.RETRY_CONDITION_SERVER_ERROR;
      case RATE_LIMITED:
        return RetryCondition.RETRY_CONDITION_RATE_LIMITED;
      case TIMEOUT:
        return RetryCondition.RETRY_CONDITION_TIMEOUT;
      default:
        return null;
    }
  }
}
