package dev.sluice.client;

import static java.util.Objects.requireNonNull;

import dev.sluice.inference.v1.InferenceServiceGrpc;
import dev.sluice.inference.v1.StreamChatRequest;
import dev.sluice.inference.v1.StreamChatResponse;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.Context;
import io.grpc.Deadline;
import io.grpc.Metadata;
import io.grpc.Status;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.jspecify.annotations.Nullable;

/**
 * One {@code StreamChat} call, possibly made of several attempts, delivering its events to a
 * {@link Sink} with explicit flow control.
 *
 * <p>Events are requested from the gateway one at a time: with {@code autoRequest} the next one
 * is requested when the sink returns from {@code onEvent}, otherwise only when the owner calls
 * {@link #requestNext()}. Either way at most one event waits in the client, so a slow consumer
 * slows the gateway down rather than filling memory.
 *
 * <p>An attempt that fails before its first event is retried when the request is retriable (it
 * has a request_id) and the {@link GenerationRetryPolicy} allows it; after an event has been
 * delivered, the failure always goes to the sink. Retries run in the {@link Context} of the
 * caller, so they keep its cancellation and deadline.
 *
 * <p>Thread safety: {@link #cancel()} and {@link #requestNext()} may be called from any thread;
 * sink callbacks never overlap and the sink sees exactly one terminal callback.
 */
final class StreamChatCall implements ChatStream {
  /** Receives events and the single terminal outcome. */
  interface Sink {
    void onEvent(StreamChatResponse event);

    void onCompleted();

    void onError(SluiceException error);
  }

  private final Channel channel;
  private final CallOptions callOptions;
  private final Deadline deadline;
  private final StreamChatRequest request;
  private final boolean retriable;
  private final GenerationRetryPolicy retryPolicy;
  private final ScheduledExecutorService scheduler;
  private final Sink sink;
  private final boolean autoRequest;
  private final Context context;
  private final AtomicBoolean terminated = new AtomicBoolean();

  private final Object lock = new Object();
  // @GuardedBy("lock")
  private @Nullable ClientCall<StreamChatRequest, StreamChatResponse> current;
  // @GuardedBy("lock")
  private @Nullable ScheduledFuture<?> pendingRetry;
  // @GuardedBy("lock")
  private boolean cancelled;
  // @GuardedBy("lock")
  private int attempts;

  private volatile boolean anyEvent;

  StreamChatCall(
      Channel channel,
      CallOptions callOptions,
      Deadline deadline,
      StreamChatRequest request,
      GenerationRetryPolicy retryPolicy,
      ScheduledExecutorService scheduler,
      Sink sink,
      boolean autoRequest) {
    this.channel = requireNonNull(channel, "channel");
    this.callOptions = requireNonNull(callOptions, "callOptions").withDeadline(deadline);
    this.deadline = deadline;
    this.request = requireNonNull(request, "request");
    this.retriable = !request.getChat().getRequestId().isEmpty();
    this.retryPolicy = retryPolicy;
    this.scheduler = scheduler;
    this.sink = sink;
    this.autoRequest = autoRequest;
    this.context = Context.current();
  }

  /** Starts the first attempt. */
  void start() {
    startAttempt();
  }

  private void startAttempt() {
    ClientCall<StreamChatRequest, StreamChatResponse> call;
    synchronized (lock) {
      pendingRetry = null;
      if (cancelled) {
        return; // cancel() already reported CANCELLED
      }
      attempts++;
      call = channel.newCall(InferenceServiceGrpc.getStreamChatMethod(), callOptions);
      current = call;
    }
    try {
      call.start(new AttemptListener(), new Metadata());
      call.sendMessage(request);
      call.halfClose();
      call.request(1);
    } catch (RuntimeException e) {
      call.cancel("Failed to start the call", e);
      throw e;
    }
  }

  /** Asks the gateway for one more event (used when events are pulled). */
  void requestNext() {
    ClientCall<StreamChatRequest, StreamChatResponse> call;
    synchronized (lock) {
      call = current;
    }
    if (call != null) {
      call.request(1);
    }
  }

  @Override
  public void cancel() {
    ClientCall<StreamChatRequest, StreamChatResponse> call;
    boolean retryWasPending;
    synchronized (lock) {
      if (cancelled) {
        return;
      }
      cancelled = true;
      call = current;
      retryWasPending = pendingRetry != null && pendingRetry.cancel(false);
    }
    if (retryWasPending) {
      // No attempt is running, so nobody else will report the outcome.
      terminate(SluiceException.local(Status.Code.CANCELLED, "Cancelled by the client"));
    } else if (call != null) {
      // The attempt's onClose reports CANCELLED, with whatever status it got as the cause.
      call.cancel("Cancelled by the client", null);
    }
  }

  @Override
  public boolean isDone() {
    return terminated.get();
  }

  private void onAttemptClosed(Status status, Metadata trailers) {
    if (status.isOk()) {
      terminate(null);
      return;
    }
    SluiceException error = SluiceException.from(status.asRuntimeException(trailers));
    boolean cancelledByClient;
    synchronized (lock) {
      cancelledByClient = cancelled;
    }
    if (cancelledByClient) {
      // cancel() came before the outcome was reported: the stream ends as cancelled, whatever
      // the attempt's own status (a retryable error would otherwise have been retried; a final
      // one raced the cancel), which stays available as the cause.
      terminate(SluiceException.local(Status.Code.CANCELLED, "Cancelled by the client", error));
      return;
    }
    if (retriable && !anyEvent) {
      synchronized (lock) {
        Optional<Duration> delay =
            cancelled ? Optional.empty() : retryPolicy.delayBeforeRetry(attempts, error, deadline);
        if (delay.isPresent()) {
          current = null;
          pendingRetry =
              scheduler.schedule(
                  context.wrap(this::startAttemptReportingFailure),
                  delay.get().toNanos(),
                  TimeUnit.NANOSECONDS);
          return;
        }
      }
    }
    terminate(error);
  }

  private void startAttemptReportingFailure() {
    try {
      startAttempt();
    } catch (RuntimeException e) {
      terminate(SluiceException.from(e));
    }
  }

  private void terminate(@Nullable SluiceException error) {
    if (!terminated.compareAndSet(false, true)) {
      return;
    }
    if (error == null) {
      sink.onCompleted();
    } else {
      sink.onError(error);
    }
  }

  /** Listens to one attempt; gRPC calls it serially. */
  private final class AttemptListener extends ClientCall.Listener<StreamChatResponse> {
    @Override
    public void onMessage(StreamChatResponse event) {
      anyEvent = true;
      sink.onEvent(event);
      if (autoRequest) {
        requestNext();
      }
    }

    @Override
    public void onClose(Status status, Metadata trailers) {
      onAttemptClosed(status, trailers);
    }
  }
}
