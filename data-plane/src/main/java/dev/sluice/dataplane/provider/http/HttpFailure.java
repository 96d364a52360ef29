package dev.sluice.dataplane.provider.http;

import static java.util.Objects.requireNonNull;

import org.jspecify.annotations.Nullable;

/**
 * Why an upstream HTTP exchange failed below the level of HTTP status codes. The message is safe
 * to show a client (it names neither hosts nor payloads); {@link #origin()} is for logs.
 */
public final class HttpFailure extends Exception {
  private static final long serialVersionUID = 1L;

  /** The kinds of transport failure. */
  public enum Kind {
    /** No connection: name resolution, TCP connect or TLS handshake failed. */
    CONNECT_FAILED,
    /** The connection (including the TLS handshake) took longer than the connect timeout. */
    CONNECT_TIMEOUT,
    /** No response body byte (or complete response) arrived within the first-byte timeout. */
    FIRST_BYTE_TIMEOUT,
    /** The gap between two body reads exceeded the idle timeout. */
    IDLE_TIMEOUT,
    /** The exchange's deadline passed. */
    DEADLINE_EXCEEDED,
    /** The connection closed or reset before the response was complete. */
    CONNECTION_CLOSED,
    /** The response was not valid HTTP, or larger than allowed. */
    MALFORMED_RESPONSE,
    /** The response handler threw; the exchange was aborted. */
    HANDLER_FAILED,
    /** The client was closed (the data plane is shutting down). */
    CLIENT_CLOSED,
    /**
     * No connection could be had without exceeding the pool's bounds: every connection allowed to
     * the origin was busy and the queue of waiting requests was full, or the request waited in it
     * past its connect timeout. Local overload: the upstream is not known to be failing.
     */
    POOL_OVERFLOW
  }

  private final Kind kind;
  private final boolean responseStarted;
  private final String origin;

  public HttpFailure(
      Kind kind, boolean responseStarted, String origin, String message, @Nullable Throwable cause) {
    super(message, cause, false, false);
    this.kind = requireNonNull(kind, "kind");
    this.responseStarted = responseStarted;
    this.origin = requireNonNull(origin, "origin");
  }

  public Kind kind() {
    return kind;
  }

  /** Whether response headers had arrived when the exchange failed. */
  public boolean responseStarted() {
    return responseStarted;
  }

  /** The origin of the exchange, e.g. {@code https://api.openai.com}; for logs only. */
  public String origin() {
    return origin;
  }

  /** Whether the exchange ran out of time (any of the timeouts or the deadline). */
  public boolean isTimeout() {
    return kind == Kind.CONNECT_TIMEOUT
        || kind == Kind.FIRST_BYTE_TIMEOUT
        || kind == Kind.IDLE_TIMEOUT
        || kind == Kind.DEADLINE_EXCEEDED;
  }
}
