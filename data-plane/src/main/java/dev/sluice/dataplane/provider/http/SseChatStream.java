package dev.sluice.dataplane.provider.http;

import dev.sluice.dataplane.provider.ChatStreamListener;
import dev.sluice.dataplane.provider.UpstreamException;
import dev.sluice.dataplane.provider.UpstreamFailure;
import dev.sluice.dataplane.provider.UpstreamStream;
import dev.sluice.dataplane.provider.sse.SseDecoder;
import dev.sluice.dataplane.provider.sse.SseFormatException;
import dev.sluice.inference.v1.ChatStarted;
import dev.sluice.inference.v1.StreamChatResponse;
import dev.sluice.inference.v1.Usage;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.handler.codec.http.EmptyHttpHeaders;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpResponse;
import java.io.IOException;
import java.util.function.Supplier;
import org.jspecify.annotations.Nullable;

/**
 * The part of a streamed chat call every SSE-based protocol shares: it runs the HTTP exchange,
 * decodes the event stream, turns an error status into an {@link UpstreamException} (from the
 * error body's code), and guarantees the listener contract: {@code started} first, one terminal
 * callback, nothing after a cancel, reads only while the listener is ready. Subclasses map their
 * protocol's events to Sluice events in {@link #onStreamEvent}.
 *
 * <p>End of stream: a protocol with an end marker (OpenAI {@code [DONE]}, Anthropic {@code
 * message_stop}) calls {@link #complete} when it sees it; if the body ends first, {@link
 * #onEndOfBody} decides, and by default that is an error ({@code STREAM_BROKEN} after output,
 * {@code PROTOCOL_ERROR} before). Gemini, which has no marker, overrides it.
 *
 * <p>Confined to the exchange's event loop, except {@link #cancel()} and {@link #resume()}.
 */
public abstract class SseChatStream implements ResponseHandler, SseDecoder.Handler, UpstreamStream {
  private static final int MAX_ERROR_BODY = 64 * 1024;

  protected final String backend;
  private final ChatStreamListener listener;
  private final SseDecoder sse = new SseDecoder(this);
  private volatile @Nullable HttpExchange exchange;
  private volatile boolean cancelled;
  /**
   * The stream failed on its content and asked to abort the exchange before {@link #start} had
   * stored it: a caller off the event loop starts the exchange there, and the whole response may
   * be handled before {@code http.exchange} returns.
   */
  private volatile boolean abortRequested;
  private boolean finished;
  private boolean started;
  private int status;
  private HttpHeaders headers = EmptyHttpHeaders.INSTANCE;
  private ByteBuf errorBody = Unpooled.EMPTY_BUFFER;

  protected SseChatStream(String backend, ChatStreamListener listener) {
    this.backend = backend;
    this.listener = listener;
  }

  /**
   * Builds the request and starts the exchange; returns this stream. A request that cannot be
   * built ({@link UpstreamException}: a misconfigured backend, an unusable credential) fails the
   * stream before any output, asynchronously on the client's loop like every other callback.
   */
  public final SseChatStream start(HttpUpstreamClient http, Supplier<UpstreamRequest> request) {
    UpstreamRequest built;
    try {
      built = request.get();
    } catch (UpstreamException e) {
      http.eventLoop().execute(() -> fail(e, false));
      return this;
    }
    HttpExchange e = http.exchange(built, this);
    exchange = e;
    if (cancelled || abortRequested) {
      e.cancel();
    }
    return this;
  }

  // ---- what subclasses implement ----

  /** One event of the stream (its SSE type and data, a heap buffer valid during the call). */
  protected abstract void onStreamEvent(String type, ByteBuf data) throws IOException;

  /** What the provider's error response body says (its code, whether the context overflowed). */
  protected abstract UpstreamErrors.ErrorDetail errorDetail(ByteBuf body);

  /** The usage consumed so far, reported to the listener when the stream fails. */
  protected abstract @Nullable Usage usageSoFar();

  /** The body ended without {@link #complete}; by default an error. */
  protected void onEndOfBody() {
    fail(
        new UpstreamException(
            started ? UpstreamFailure.STREAM_BROKEN : UpstreamFailure.PROTOCOL_ERROR,
            backend, 0, null, "the upstream stream ended without its end marker", null),
        false);
  }

  // ---- what subclasses call ----

  /** Sends {@code started}, once, before any other event. */
  protected final void emitStarted(ChatStarted started) {
    if (!this.started) {
      this.started = true;
      emit(StreamChatResponse.newBuilder().setStarted(started).build());
    }
  }

  protected final boolean started() {
    return started;
  }

  protected final boolean finished() {
    return finished;
  }

  /** Sends an event, unless the stream was cancelled. */
  protected final void emit(StreamChatResponse event) {
    if (!cancelled && !finished) {
      listener.onEvent(event);
    }
  }

  /** Ends the stream properly, sending {@code usage} first when there is one. */
  protected final void complete(@Nullable Usage usage) {
    if (finished) {
      return;
    }
    if (usage != null) {
      emit(StreamChatResponse.newBuilder().setUsage(usage).build());
    }
    finished = true;
    sse.close();
    if (!cancelled) {
      listener.onCompleted();
    }
  }

  /**
   * Ends the stream with {@code error} and the usage so far.
   *
   * @param abortExchange whether the HTTP exchange is still running and must be closed (an error
   *     found in the stream's content, rather than by the exchange itself)
   */
  protected final void fail(UpstreamException error, boolean abortExchange) {
    if (finished) {
      return;
    }
    finished = true;
    sse.close();
    errorBody.release();
    errorBody = Unpooled.EMPTY_BUFFER;
    if (abortExchange) {
      abortRequested = true;
      HttpExchange e = exchange;
      if (e != null) {
        e.cancel();
      }
    }
    if (!cancelled) {
      listener.onError(error, usageSoFar());
    }
  }

  // ---- UpstreamStream ----

  @Override
  public final void resume() {
    HttpExchange e = exchange;
    if (e != null) {
      e.resume();
    }
  }

  @Override
  public final void cancel() {
    cancelled = true;
    HttpExchange e = exchange;
    if (e != null) {
      e.cancel();
    }
  }

  // ---- ResponseHandler ----

  @Override
  public final void onHeaders(HttpResponse response) {
    status = response.status().code();
    headers = response.headers();
    if (status != 200) {
      errorBody = Unpooled.buffer(1024);
    }
  }

  @Override
  public final void onContent(ByteBuf content) {
    if (finished) {
      return;
    }
    if (status != 200) {
      errorBody.writeBytes(
          content, content.readerIndex(),
          Math.min(content.readableBytes(), MAX_ERROR_BODY - errorBody.readableBytes()));
      return;
    }
    try {
      sse.decode(content);
    } catch (SseFormatException e) {
      fail(UpstreamErrors.protocolError(backend, e.getMessage(), e), true);
    }
  }

  @Override
  public final void onComplete() {
    if (finished) {
      return;
    }
    if (status != 200) {
      fail(UpstreamErrors.forStatus(backend, status, headers, errorDetail(errorBody)), false);
      return;
    }
    onEndOfBody();
  }

  @Override
  public final void onFailure(HttpFailure failure) {
    fail(UpstreamErrors.forFailure(backend, failure, started), false);
  }

  @Override
  public final boolean isReady() {
    // Once finished, the rest of the body is drained so the connection can be reused.
    return finished || listener.isReady();
  }

  // ---- SseDecoder.Handler ----

  @Override
  public final void onEvent(String type, ByteBuf data) {
    if (finished || cancelled) {
      return;
    }
    try {
      onStreamEvent(type, data);
    } catch (IOException | RuntimeException e) {
      fail(UpstreamErrors.protocolError(backend, "the upstream sent a malformed stream event", e),
          true);
    }
  }
}
