package dev.sluice.dataplane.provider.grpc;

import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import dev.sluice.dataplane.provider.ChatStreamListener;
import dev.sluice.dataplane.provider.UpstreamException;
import dev.sluice.dataplane.provider.UpstreamFailure;
import dev.sluice.dataplane.provider.UpstreamStream;
import dev.sluice.inference.v1.ChatStarted;
import dev.sluice.inference.v1.StreamChatRequest;
import dev.sluice.inference.v1.StreamChatResponse;
import dev.sluice.inference.v1.Usage;
import io.grpc.ClientCall;
import io.grpc.Metadata;
import io.grpc.Status;
import io.netty.channel.EventLoop;
import io.netty.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.jspecify.annotations.Nullable;

/**
 * One {@code StreamChat} call to an upstream Sluice InferenceService.
 *
 * <p>Flow control is gRPC's own: one message is requested at a time, and the next only while the
 * listener is ready, so a slow client leaves the upstream's HTTP/2 stream window closed. A cancel
 * cancels the call, which resets the HTTP/2 stream ({@code RST_STREAM}). The upstream's {@code
 * started} is re-labelled with this gateway's provider and backend (the upstream's own labels move
 * to {@code provider_metadata}); its {@code usage} is held back and sent last on success, or passed
 * as the usage so far on failure, as the upstream's contract sends it just before a failing status.
 *
 * <p>gRPC has no idle timeout of its own: the request timeout (until the first event) and the idle
 * timeout (between events, not while paused) are checked by a lazily re-armed timer, which cancels
 * the call when one passes. Callbacks arrive on the transport's event loop ({@code
 * directExecutor}); {@link #resume()} and {@link #cancel()} may come from any thread.
 */
final class GrpcChatStream extends ClientCall.Listener<StreamChatResponse>
    implements UpstreamStream, Runnable {
  private final ClientCall<StreamChatRequest, StreamChatResponse> call;
  private final ChatStreamListener listener;
  private final String backend;
  private final EventLoop timerLoop;
  private final long firstEventTimeoutNanos;
  private final long idleTimeoutNanos;
  private final long startNanos = System.nanoTime();

  private final AtomicBoolean paused = new AtomicBoolean();
  private volatile boolean cancelled;
  private volatile boolean closed;
  private volatile boolean timedOut;
  private volatile boolean sawEvent;
  private volatile long lastEventNanos;
  private volatile @Nullable ScheduledFuture<?> timer;

  // Transport thread only.
  private boolean started;
  private boolean finished;
  private @Nullable Usage usage;

  GrpcChatStream(
      ClientCall<StreamChatRequest, StreamChatResponse> call,
      ChatStreamListener listener,
      String backend,
      EventLoop timerLoop,
      long firstEventTimeoutNanos,
      long idleTimeoutNanos) {
    this.call = call;
    this.listener = listener;
    this.backend = backend;
    this.timerLoop = timerLoop;
    this.firstEventTimeoutNanos = firstEventTimeoutNanos;
    this.idleTimeoutNanos = idleTimeoutNanos;
  }

  void start(StreamChatRequest request, Metadata headers) {
    call.start(this, headers);
    call.sendMessage(request);
    call.halfClose();
    call.request(1);
    arm(firstEventTimeoutNanos);
  }

  @Override
  public void onMessage(StreamChatResponse message) {
    lastEventNanos = System.nanoTime();
    if (!sawEvent) {
      sawEvent = true;
      // The idle timeout takes over from the (longer) first-event timeout.
      ScheduledFuture<?> t = timer;
      if (t != null) {
        t.cancel(false);
      }
      arm(idleTimeoutNanos);
    }
    if (cancelled || finished) {
      return;
    }
    if (!started && !message.hasStarted()) {
      fail(new UpstreamException(UpstreamFailure.PROTOCOL_ERROR, backend, 0, null,
          "the upstream stream did not start with a started event", null));
      call.cancel("protocol error", null);
      return;
    }
    if (message.hasStarted()) {
      if (started) {
        return; // a second started is not allowed; drop it
      }
      started = true;
      listener.onEvent(StreamChatResponse.newBuilder().setStarted(relabel(message.getStarted())).build());
    } else if (message.hasUsage()) {
      usage = message.getUsage();
    } else {
      listener.onEvent(message);
    }
    requestNext();
  }

  private ChatStarted relabel(ChatStarted upstream) {
    Struct.Builder metadata = upstream.getProviderMetadata().toBuilder();
    putIfSet(metadata, "upstream_provider", upstream.getProvider());
    putIfSet(metadata, "upstream_backend", upstream.getBackend());
    putIfSet(metadata, "upstream_provider_model", upstream.getProviderModel());
    putIfSet(metadata, "upstream_model_version", upstream.getModelVersion());
    return upstream.toBuilder()
        .setProvider(SluiceGrpcAdapter.PROVIDER)
        .setBackend(backend)
        .setProviderModel(upstream.getModel().isEmpty() ? upstream.getProviderModel() : upstream.getModel())
        .clearModel()
        .clearModelVersion()
        .clearCreateTime()
        .setProviderMetadata(metadata)
        .build();
  }

  private static void putIfSet(Struct.Builder metadata, String key, String value) {
    if (!value.isEmpty()) {
      metadata.putFields(key, Value.newBuilder().setStringValue(value).build());
    }
  }

  private void requestNext() {
    if (listener.isReady()) {
      call.request(1);
      return;
    }
    paused.set(true);
    // The listener may have become ready (and resume() found nothing paused) in between.
    if (listener.isReady() && paused.compareAndSet(true, false)) {
      call.request(1);
    }
  }

  @Override
  public void resume() {
    if (paused.compareAndSet(true, false)) {
      lastEventNanos = System.nanoTime(); // time paused by our own client is not upstream idleness
      call.request(1);
    }
  }

  @Override
  public void cancel() {
    cancelled = true;
    ScheduledFuture<?> t = timer;
    if (t != null) {
      t.cancel(false);
    }
    call.cancel("cancelled by the gateway's client", null);
  }

  @Override
  public void onClose(Status status, Metadata trailers) {
    closed = true;
    ScheduledFuture<?> t = timer;
    if (t != null) {
      t.cancel(false);
    }
    if (cancelled || finished) {
      return;
    }
    if (status.isOk() && started) {
      finished = true;
      Usage u = usage;
      if (u != null) {
        listener.onEvent(StreamChatResponse.newBuilder().setUsage(u).build());
      }
      listener.onCompleted();
      return;
    }
    if (status.isOk()) {
      fail(new UpstreamException(UpstreamFailure.PROTOCOL_ERROR, backend, 0, null,
          "the upstream stream ended without any event", null));
      return;
    }
    fail(GrpcErrors.of(status, trailers, backend, started, timedOut));
  }

  private void fail(UpstreamException error) {
    if (finished) {
      return;
    }
    finished = true;
    if (!cancelled) {
      listener.onError(error, usage);
    }
  }

  /** The timer: cancels the call once the first-event or idle timeout passed, else sleeps on. */
  @Override
  public void run() {
    if (cancelled || closed || timedOut) {
      return;
    }
    long now = System.nanoTime();
    long due;
    if (!sawEvent) {
      due = startNanos + firstEventTimeoutNanos;
    } else if (paused.get() || idleTimeoutNanos == 0) {
      arm(Math.max(idleTimeoutNanos, TimeUnit.SECONDS.toNanos(1)));
      return;
    } else {
      due = lastEventNanos + idleTimeoutNanos;
    }
    if (due - now <= 0) {
      timedOut = true;
      call.cancel("the upstream stream timed out", null);
    } else {
      arm(due - now);
    }
  }

  private void arm(long delayNanos) {
    if (delayNanos > 0 && !cancelled && !closed) {
      timer = timerLoop.schedule(this, delayNanos, TimeUnit.NANOSECONDS);
    }
  }
}
