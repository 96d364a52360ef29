package dev.sluice.dataplane.provider;

import io.grpc.Status;

/**
 * Why an upstream call failed, in the terms the router needs to decide on retries, fallbacks and
 * outlier ejection, and the gRPC code the client sees if nothing else is tried.
 */
public enum UpstreamFailure {
  /** Could not connect, TLS failed, or the connection was refused/reset before a response. */
  CONNECT_FAILED(Status.Code.UNAVAILABLE, true, true),
  /** The deadline, a per-try timeout, or the stream idle timeout passed. */
  TIMEOUT(Status.Code.DEADLINE_EXCEEDED, true, true),
  /** The provider rate-limited or is overloaded (HTTP 429, Anthropic 529 overloaded). */
  RATE_LIMITED(Status.Code.RESOURCE_EXHAUSTED, true, false),
  /** The provider failed (HTTP 5xx, or an error event that is not the client's fault). */
  SERVER_ERROR(Status.Code.UNAVAILABLE, true, true),
  /** The provider rejected the request as invalid (HTTP 400, 404 model not found, 413, 422). */
  BAD_REQUEST(Status.Code.INVALID_ARGUMENT, false, false),
  /** The gateway's upstream credentials were rejected (HTTP 401/403): an operator problem. */
  AUTH_FAILED(Status.Code.FAILED_PRECONDITION, false, false),
  /** The upstream broke its protocol: malformed JSON or SSE, or a stream without its end marker. */
  PROTOCOL_ERROR(Status.Code.UNAVAILABLE, true, true),
  /** An established stream broke after events were delivered. */
  STREAM_BROKEN(Status.Code.UNAVAILABLE, false, true),
  /** The backend is not usable as configured (e.g. a secret that does not resolve). */
  MISCONFIGURED(Status.Code.FAILED_PRECONDITION, true, false);

  private final Status.Code code;
  private final boolean retryable;
  private final boolean countsAsOutlier;

  UpstreamFailure(Status.Code code, boolean retryable, boolean countsAsOutlier) {
    this.code = code;
    this.retryable = retryable;
    this.countsAsOutlier = countsAsOutlier;
  }

  /** The gRPC code a client sees when this is the final outcome. */
  public Status.Code code() {
    return code;
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
