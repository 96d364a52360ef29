package dev.sluice.client;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.Any;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.rpc.BadRequest;
import com.google.rpc.ErrorInfo;
import com.google.rpc.QuotaFailure;
import com.google.rpc.RequestInfo;
import com.google.rpc.RetryInfo;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusException;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.StatusProto;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.jspecify.annotations.Nullable;

/**
 * A failed call to the gateway, with the error details the gateway sent.
 *
 * <p>The gateway reports errors as {@code google.rpc.Status} values: a canonical {@link #code()},
 * an {@code ErrorInfo} whose {@link #reason()} is a stable UPPER_SNAKE string (for example {@code
 * MODEL_NOT_FOUND} or {@code RATE_LIMITED}; the full list is in the {@code InferenceService} proto
 * comment), and optional {@code RetryInfo}, {@code BadRequest}, {@code QuotaFailure} and {@code
 * RequestInfo} details. This class decodes them once so callers can switch on the reason instead
 * of parsing messages. Errors raised by the client itself (deadline, cancellation, connection
 * failure) carry the gRPC code and an empty reason.
 */
public final class SluiceException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  /** Trailer in which gRPC servers ask clients to wait before retrying (gRFC A6). */
  static final Metadata.Key<String> RETRY_PUSHBACK_MS =
      Metadata.Key.of("grpc-retry-pushback-ms", Metadata.ASCII_STRING_MARSHALLER);

  private final Status.Code code;
  private final String description;
  private final String reason;
  private final String domain;
  private final Map<String, String> metadata;
  private final @Nullable Duration retryDelay;
  private final List<FieldViolation> fieldViolations;
  private final List<QuotaViolation> quotaViolations;
  private final String requestId;

  /** A request field the gateway rejected: its path (e.g. {@code messages[0].role}) and why. */
  public record FieldViolation(String field, String description) {
    /** Checks that both parts are present. */
    public FieldViolation {
      requireNonNull(field, "field");
      requireNonNull(description, "description");
    }
  }

  /** A limit that refused the call: its subject (policy and limit) and a description. */
  public record QuotaViolation(String subject, String description) {
    /** Checks that both parts are present. */
    public QuotaViolation {
      requireNonNull(subject, "subject");
      requireNonNull(description, "description");
    }
  }

  private SluiceException(
      Status.Code code,
      String description,
      @Nullable Throwable cause,
      com.google.rpc.@Nullable Status details,
      @Nullable Metadata trailers) {
    super(summary(code, description), cause);
    this.code = code;
    this.description = description;
    String reason = "";
    String domain = "";
    Map<String, String> metadata = Map.of();
    Duration retryDelay = null;
    List<FieldViolation> fields = new ArrayList<>();
    List<QuotaViolation> quotas = new ArrayList<>();
    String requestId = "";
    if (details != null) {
      for (Any any : details.getDetailsList()) {
        try {
          if (any.is(ErrorInfo.class) && reason.isEmpty()) {
            ErrorInfo info = any.unpack(ErrorInfo.class);
            reason = info.getReason();
            domain = info.getDomain();
            metadata = Map.copyOf(info.getMetadataMap());
          } else if (any.is(RetryInfo.class)) {
            com.google.protobuf.Duration delay = any.unpack(RetryInfo.class).getRetryDelay();
            retryDelay = Duration.ofSeconds(delay.getSeconds(), delay.getNanos());
          } else if (any.is(BadRequest.class)) {
            for (BadRequest.FieldViolation v : any.unpack(BadRequest.class).getFieldViolationsList()) {
              fields.add(new FieldViolation(v.getField(), v.getDescription()));
            }
          } else if (any.is(QuotaFailure.class)) {
            for (QuotaFailure.Violation v : any.unpack(QuotaFailure.class).getViolationsList()) {
              quotas.add(new QuotaViolation(v.getSubject(), v.getDescription()));
            }
          } else if (any.is(RequestInfo.class)) {
            requestId = any.unpack(RequestInfo.class).getRequestId();
          }
        } catch (InvalidProtocolBufferException malformed) {
          // A detail we cannot decode is ignored; the code and message still stand.
        }
      }
    }
    if (retryDelay == null && trailers != null) {
      retryDelay = pushback(trailers.get(RETRY_PUSHBACK_MS));
    }
    this.reason = reason;
    this.domain = domain;
    this.metadata = metadata;
    this.retryDelay = retryDelay;
    this.fieldViolations = List.copyOf(fields);
    this.quotaViolations = List.copyOf(quotas);
    this.requestId = requestId;
  }

  /**
   * Converts what a gRPC call threw (a {@link StatusRuntimeException} or {@link StatusException},
   * possibly wrapped) into a {@code SluiceException}; anything else becomes {@code UNKNOWN}. For
   * code that calls generated stubs directly, for example of {@code AdminService}, whose errors
   * carry the same details.
   */
  public static SluiceException from(Throwable t) {
    requireNonNull(t, "t");
    if (t instanceof SluiceException e) {
      return e;
    }
    Status status = Status.fromThrowable(t);
    Metadata trailers = Status.trailersFromThrowable(t);
    com.google.rpc.Status details = StatusProto.fromStatusAndTrailers(status, trailers);
    String description = status.getDescription() == null ? "" : status.getDescription();
    return new SluiceException(status.getCode(), description, t, details, trailers);
  }

  /** An error raised on the client side without a server status (for example a bad argument). */
  static SluiceException local(Status.Code code, String description) {
    return new SluiceException(code, description, null, null, null);
  }

  /** As {@link #local(Status.Code, String)}, with what led to it as the cause. */
  static SluiceException local(Status.Code code, String description, Throwable cause) {
    return new SluiceException(code, description, cause, null, null);
  }

  /** The canonical gRPC status code. */
  public Status.Code code() {
    return code;
  }

  /** The status message the gateway (or the gRPC runtime) gave; may be empty. */
  public String description() {
    return description;
  }

  /** {@code ErrorInfo.reason}, for example {@code MODEL_NOT_FOUND}; empty when none was sent. */
  public String reason() {
    return reason;
  }

  /** {@code ErrorInfo.domain}, {@code sluice.dev} for the gateway's own errors; may be empty. */
  public String domain() {
    return domain;
  }

  /**
   * {@code ErrorInfo.metadata}; for backend failures it holds {@code backend} and {@code
   * retryable}.
   */
  public Map<String, String> metadata() {
    return metadata;
  }

  /**
   * How long the gateway asked the caller to wait before retrying: {@code RetryInfo.retry_delay},
   * else the {@code grpc-retry-pushback-ms} trailer. Empty when the gateway gave no delay or asked
   * not to retry.
   */
  public Optional<Duration> retryDelay() {
    return Optional.ofNullable(retryDelay);
  }

  /** The rejected request fields of an {@code INVALID_ARGUMENT}, from {@code BadRequest}. */
  public List<FieldViolation> fieldViolations() {
    return fieldViolations;
  }

  /** The limits that refused a {@code RESOURCE_EXHAUSTED} call, from {@code QuotaFailure}. */
  public List<QuotaViolation> quotaViolations() {
    return quotaViolations;
  }

  /** {@code RequestInfo.request_id}, to quote when reporting a problem; may be empty. */
  public String requestId() {
    return requestId;
  }

  private static @Nullable Duration pushback(@Nullable String millis) {
    if (millis == null) {
      return null;
    }
    try {
      long value = Long.parseLong(millis.trim());
      // A negative pushback means "do not retry" (gRFC A6).
      return value < 0 ? null : Duration.ofMillis(value);
    } catch (NumberFormatException e) {
      return null;
    }
  }

  private static String summary(Status.Code code, String description) {
    return description.isEmpty() ? code.name() : code.name() + ": " + description;
  }

  @Override
  public String getMessage() {
    String base = summary(code, description);
    return reason.isEmpty() ? base : base + " [" + reason + "]";
  }
}
