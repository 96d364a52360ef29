package dev.sluice.dataplane.provider;

import io.grpc.Status;

/**
 * Why an upstream call failed, in the terms the router needs to decide on retries, fallbacks and
 * outlier ejection, and the gRPC code the client sees if nothing else is tried.
 */
public enum UpstreamFailure {
  /** Could not connect, TLS failed, or the connection was refused/reset before a response. */
  CONNECT_FAILED(Status.Code.UNAVAILABLE, "UPSTREAM_UNAVAILABLE", true, true),
  /** The deadline, a per-try timeout, or the stream idle timeout passed. */
  TIMEOUT(Status.Code.DEADLINE_EXCEEDED, "UPSTREAM_TIMEOUT", true, true),
  /** The provider rate-limited the gateway's credentials (HTTP 429). */
  RATE_LIMITED(Status.Code.RESOURCE_EXHAUSTED, "UPSTREAM_RATE_LIMITED", true, false),
  /**
   * The provider failed or is overloaded (HTTP 5xx including Anthropic's 529, or an error event
   * that is not the client's fault).
   */
  SERVER_ERROR(Status.Code.UNAVAILABLE, "UPSTREAM_UNAVAILABLE", true, true),
  /** The provider rejected the request as invalid (HTTP 400, 404 model not found, 413, 422). */
  BAD_REQUEST(Status.Code.INVALID_ARGUMENT, "UPSTREAM_REJECTED", false, false),
  /**
   * The provider rejected the request because input plus requested output exceed the model's
   * context window. Not retryable on the same model; a route may fall back to a larger one
   * ({@code RETRY_CONDITION_CONTEXT_WINDOW_EXCEEDED}).
   */
  CONTEXT_WINDOW_EXCEEDED(Status.Code.INVALID_ARGUMENT, "CONTEXT_WINDOW_EXCEEDED", false, false),
  /** The gateway's upstream credentials were rejected (HTTP 401/403): an operator problem. */
  AUTH_FAILED(Status.Code.FAILED_PRECONDITION, "UPSTREAM_AUTH_FAILED", false, false),
  /** The upstream broke its protocol: malformed JSON or SSE, or a stream without its end marker. */
  PROTOCOL_ERROR(Status.Code.UNAVAILABLE, "UPSTREAM_UNAVAILABLE", true, true),
  /** An established stream broke after events were delivered. */
  STREAM_BROKEN(Status.Code.UNAVAILABLE, "UPSTREAM_UNAVAILABLE", false, true),
  /** The backend is not usable as configured (e.g. a secret that does not resolve). */
  MISCONFIGURED(Status.Code.FAILED_PRECONDITION, "BACKEND_MISCONFIGURED", true, false),
  /**
   * The gateway's own connection pool to the backend is full: all the connections it allows are
   * busy and too many requests already wait for one (Envoy's "upstream overflow"). Local overload,
   * so it fails fast and may be retried on another backend, but it does not count against the
   * backend's health: ejecting backends for the gateway's own saturation would only concentrate
   * the load on the rest.
   */
  POOL_OVERFLOW(Status.Code.UNAVAILABLE, "UPSTREAM_UNAVAILABLE", true, false);

  private final Status.Code code;
  private final String reason;
  private final boolean retryable;
  private final boolean countsAsOutlier;

  UpstreamFailure(Status.Code code, String reason, boolean retryable, boolean countsAsOutlier) {
    this.code = code;
    this.reason = reason;
    this.retryable = retryable;
    this.countsAsOutlier = countsAsOutlier;
  }

  /** The gRPC code a client sees when this is the final outcome. */
  public Status.Code code() {
    return code;
  }

  /**
   * The {@code ErrorInfo.reason} a client sees when this is the final outcome, as documented on
   * {@code sluice.inference.v1.InferenceService}; the finer classification travels in the {@code
   * failure} metadata entry.
   */
  public String reason() {
    return reason;
  }

  /**
   * Whether another attempt (retry on another backend, or a fallback) may succeed, provided no
   * output has reached the client yet.
   */
  public boolean retryable() {
    return retryable;
  }

  /** Whether this failure counts against the backend's health (outlier detection). */
  public boolean countsAsOutlier() {
    return countsAsOutlier;
  }
}
