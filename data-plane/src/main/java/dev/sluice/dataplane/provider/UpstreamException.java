package dev.sluice.dataplane.provider;

import static java.util.Objects.requireNonNull;

import dev.sluice.grpc.ApiException;
import java.time.Duration;
import org.jspecify.annotations.Nullable;

/**
 * An upstream call failed. The message is written by the adapter and safe to show a client: it
 * never contains the provider's raw error body, request content or credentials (those may be
 * logged at debug level by the adapter, redacted).
 */
public final class UpstreamException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  private final UpstreamFailure failure;
  private final String backend;
  private final int httpStatus;
  private final @Nullable Duration retryAfter;

  /**
   * @param failure the classification
   * @param backend name of the Backend resource that failed
   * @param httpStatus the upstream HTTP status, or 0 when there was none
   * @param retryAfter the provider's Retry-After, when it sent one
   * @param message a caller-safe description
   * @param cause the underlying exception, for logs only
   */
  public UpstreamException(
      UpstreamFailure failure,
      String backend,
      int httpStatus,
      @Nullable Duration retryAfter,
      String message,
      @Nullable Throwable cause) {
    // No stack trace: this is an outcome, not a bug. It is created on the event loop for every
    // failed attempt, most often under overload (pool overflow, 429s, timeouts), where filling a
    // deep Netty stack costs more than the rest of the failure path; the failure, backend, message
    // and cause say what happened.
    super(message, cause, true, false);
    this.failure = requireNonNull(failure, "failure");
    this.backend = requireNonNull(backend, "backend");
    this.httpStatus = httpStatus;
    this.retryAfter = retryAfter;
  }

  public UpstreamFailure failure() {
    return failure;
  }

  public String backend() {
    return backend;
  }

  public int httpStatus() {
    return httpStatus;
  }

  public @Nullable Duration retryAfter() {
    return retryAfter;
  }

  /**
   * The client-facing error for this failure: its code and documented reason, and {@code
   * ErrorInfo} metadata naming the backend, the failure kind and whether a retry may help.
   */
  public ApiException toApiException() {
    ApiException.Builder b =
        ApiException.builder(failure.code(), failure.reason())
            .message(getMessage() == null ? failure.name() : getMessage())
            .cause(this)
            .metadata("backend", backend)
            .metadata("failure", failure.name())
            .metadata("retryable", Boolean.toString(failure.retryable()));
    if (httpStatus > 0) {
      b.metadata("upstream_http_status", Integer.toString(httpStatus));
    }
    if (retryAfter != null) {
      b.retryAfter(retryAfter);
    }
    return b.build();
  }
}
