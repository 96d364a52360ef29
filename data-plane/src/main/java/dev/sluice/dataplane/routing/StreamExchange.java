package dev.sluice.dataplane.routing;

import dev.sluice.dataplane.provider.ChatCall;
import dev.sluice.dataplane.provider.ChatStreamListener;
import dev.sluice.dataplane.provider.ProviderAdapter;
import dev.sluice.dataplane.provider.UpstreamException;
import dev.sluice.dataplane.provider.UpstreamFailure;
import dev.sluice.dataplane.provider.UpstreamStream;
import dev.sluice.grpc.ApiException;
import dev.sluice.inference.v1.ChatRequest;
import dev.sluice.inference.v1.ChatStarted;
import dev.sluice.inference.v1.StreamChatResponse;
import dev.sluice.inference.v1.Usage;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.logging.Level;
import org.jspecify.annotations.Nullable;

/**
 * A streamed chat request worked through its attempts.
 *
 * <p>An attempt is pending until its upstream delivers the first event ({@code started}); then it
 * commits: the client gets the completed {@code started} and every later event, and no other
 * attempt can follow. A pending attempt that fails or times out leaves the client untouched and the
 * exchange may try again.
 */
final class StreamExchange extends Exchange implements RoutedStream {
  private final ChatRequest request;
  private final ChatStreamSink sink;
  private volatile @Nullable Attempt current;

  StreamExchange(
      DefaultRouter router,
      RoutePlan plan,
      RoutingContext context,
      ModelEntry requested,
      ChatRequest request,
      ChatStreamSink sink) {
    super(router, plan, context, requested);
    this.request = request;
    this.sink = sink;
  }

  @Override
  void launch(Endpoint endpoint, Destination destination, boolean retry, long timerDeadlineNanos) {
    Attempt attempt = new Attempt(endpoint, destination, retry);
    current = attempt;
    ProviderAdapter adapter = router.providers().forKind(endpoint.target().backend().getKind());
    if (adapter == null) {
      attempt.onError(noAdapter(endpoint), null);
      return;
    }
    if (timerDeadlineNanos != Long.MAX_VALUE) {
      attempt.timer =
          router
              .scheduler()
              .schedule(
                  attempt::timeout, timerDeadlineNanos - router.nanoTime(), TimeUnit.NANOSECONDS);
    }
    ChatCall call =
        new ChatCall(
            DefaultRouter.withModelDefaults(request, destination.model()),
            endpoint.target(),
            context.deadline(),
            context.requestId());
    UpstreamStream upstream;
    try {
      upstream = adapter.streamChat(call, attempt);
    } catch (UpstreamException e) {
      attempt.onError(e, null);
      return;
    } catch (RuntimeException e) {
      DefaultRouter.logger.log(Level.WARNING, "Provider adapter failed unexpectedly", e);
      attempt.onError(
          new UpstreamException(
              UpstreamFailure.PROTOCOL_ERROR,
              endpoint.backendName(),
              0,
              null,
              "the provider adapter failed unexpectedly",
              e),
          null);
      return;
    }
    attempt.attach(upstream);
    if (cancelled) {
      attempt.cancel();
    }
  }

  @Override
  void deliverError(ApiException error) {
    sink.onError(error);
  }

  @Override
  void cancelCurrentAttempt() {
    Attempt attempt = current;
    if (attempt != null) {
      attempt.cancel();
    }
  }

  @Override
  public void resume() {
    Attempt attempt = current;
    if (attempt != null) {
      attempt.resume();
    }
  }

  // cancel() is Exchange.cancel(), which also satisfies RoutedStream.

  /** One upstream stream, pending until its first event, then committed, then done. */
  private final class Attempt implements ChatStreamListener {
    private static final int PENDING = 0;
    private static final int COMMITTED = 1;
    private static final int DONE = 2;

    private final Endpoint endpoint;
    private final Destination destination;
    private final boolean retry;
    private final long startNanos;
    private final AtomicInteger state = new AtomicInteger(PENDING);
    private volatile @Nullable UpstreamStream upstream;
    private volatile boolean cancelRequested;
    volatile @Nullable ScheduledFuture<?> timer;

    /** Written and read on the upstream's thread only. */
    private boolean usageSent;

    Attempt(Endpoint endpoint, Destination destination, boolean retry) {
      this.endpoint = endpoint;
      this.destination = destination;
      this.retry = retry;
      this.startNanos = router.nanoTime();
    }

    void attach(UpstreamStream stream) {
      upstream = stream;
      if (cancelRequested) {
        stream.cancel();
      } else if (state.get() == COMMITTED && sink.isReady()) {
        // The client may have become ready before the handle existed; resume is idempotent.
        stream.resume();
      }
    }

    @Override
    public void onEvent(StreamChatResponse event) {
      int s = state.get();
      if (s == COMMITTED) {
        forward(event);
      } else if (s == PENDING && state.compareAndSet(PENDING, COMMITTED)) {
        cancelTimer();
        endpoint.backend().load().recordLatency(router.nanoTime() - startNanos);
        ChatStarted provided =
            event.hasStarted() ? event.getStarted() : ChatStarted.getDefaultInstance();
        sink.onEvent(
            StreamChatResponse.newBuilder()
                .setStarted(
                    router.completeStarted(provided, context, requested, destination, endpoint))
                .build());
        if (!event.hasStarted()) {
          forward(event);
        }
      }
    }

    private void forward(StreamChatResponse event) {
      if (event.hasUsage()) {
        usageSent = true;
      }
      sink.onEvent(event);
    }

    @Override
    public boolean isReady() {
      int s = state.get();
      return s == PENDING || (s == COMMITTED && sink.isReady());
    }

    @Override
    public void onCompleted() {
      if (state.compareAndSet(COMMITTED, DONE)) {
        attemptEnded(endpoint, retry, null, true);
        if (finish()) {
          sink.onCompleted();
        }
      } else if (state.compareAndSet(PENDING, DONE)) {
        cancelTimer();
        UpstreamException failure =
            new UpstreamException(
                UpstreamFailure.PROTOCOL_ERROR,
                endpoint.backendName(),
                0,
                null,
                "backend " + endpoint.backendName() + " ended the stream before it started",
                null);
        attemptEnded(endpoint, retry, failure.failure(), true);
        attemptFailed(endpoint, failure);
      }
    }

    @Override
    public void onError(UpstreamException error, @Nullable Usage usageSoFar) {
      if (state.compareAndSet(COMMITTED, DONE)) {
        attemptEnded(endpoint, retry, error.failure(), true);
        router.metrics().upstreamError(endpoint.backendName(), error.failure().name());
        if (finish()) {
          if (usageSoFar != null && !usageSent) {
            sink.onEvent(StreamChatResponse.newBuilder().setUsage(usageSoFar).build());
          }
          sink.onError(error.toApiException());
        }
      } else if (state.compareAndSet(PENDING, DONE)) {
        cancelTimer();
        attemptEnded(endpoint, retry, error.failure(), true);
        attemptFailed(endpoint, error);
      }
    }

    void timeout() {
      if (!state.compareAndSet(PENDING, DONE)) {
        return;
      }
      cancelRequested = true;
      UpstreamStream stream = upstream;
      if (stream != null) {
        stream.cancel();
      }
      UpstreamException failure = timedOut(endpoint);
      attemptEnded(endpoint, retry, failure.failure(), true);
      attemptFailed(endpoint, failure);
    }

    void cancel() {
      cancelRequested = true;
      int previous = state.getAndSet(DONE);
      if (previous == DONE) {
        return;
      }
      cancelTimer();
      UpstreamStream stream = upstream;
      if (stream != null) {
        stream.cancel();
      }
      attemptEnded(endpoint, retry, null, false);
    }

    void resume() {
      UpstreamStream stream = upstream;
      if (stream != null && state.get() == COMMITTED) {
        stream.resume();
      }
    }

    private void cancelTimer() {
      ScheduledFuture<?> t = timer;
      if (t != null) {
        t.cancel(false);
      }
    }
  }
}
