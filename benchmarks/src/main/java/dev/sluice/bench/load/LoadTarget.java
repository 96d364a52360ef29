package dev.sluice.bench.load;

import java.util.concurrent.ScheduledExecutorService;
import org.jspecify.annotations.Nullable;

/**
 * Something the load generator sends calls to: the gateway over gRPC, or an OpenAI-compatible
 * server over HTTP. Implementations pre-encode the request once and keep their connections open for
 * the whole run.
 */
interface LoadTarget extends AutoCloseable {
  /**
   * Starts one call. Never blocks: the call is queued when no connection is free. {@code sink} gets
   * {@link CallSink#onSent} once the request is written (or queued to be written), zero or more
   * {@link CallSink#onToken} for streams, and exactly one {@link CallSink#onClose}, on a transport
   * thread.
   */
  void start(CallSink sink);

  /**
   * The event loop that all of this target's connections run on, when its timers are fine-grained
   * (native epoll), else null. The open loop then fires its slots from timers on that loop, where
   * {@link #start} writes at once: no thread of its own to wake per call and no hand-off, which
   * halves the client's CPU per call at ~10,000 calls/s. Null: the open loop runs on its own
   * thread.
   */
  default @Nullable ScheduledExecutorService pacer() {
    return null;
  }

  /** Stops every connection at once; calls still open end with {@code onClose}. */
  @Override
  void close();

  /** Events of one call, delivered by one thread at a time. */
  interface CallSink {
    /** The request left the client (after any client-side queueing). */
    void onSent(long nanoTime);

    /** A content token arrived (one stream event carrying non-empty text). */
    void onToken(long nanoTime);

    /**
     * The call ended. {@code outcome} is {@link #OK}, a gRPC status code name, {@code HTTP_<code>}
     * or a client-side failure such as {@code IO_ERROR}.
     */
    void onClose(long nanoTime, String outcome);

    /** The outcome of a successful call. */
    String OK = "OK";
  }
}
