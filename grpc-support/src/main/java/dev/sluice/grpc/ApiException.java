package dev.sluice.grpc;

import static java.util.Objects.requireNonNull;

import com.google.common.collect.ImmutableList;
import com.google.common.collect.ImmutableMap;
import com.google.protobuf.Message;
import com.google.protobuf.util.Durations;
import com.google.rpc.BadRequest;
import com.google.rpc.QuotaFailure;
import com.google.rpc.RetryInfo;
import io.grpc.Status;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * An error that Sluice reports to its caller as a {@code google.rpc.Status}.
 *
 * <p>Every error carries a canonical code, a stable UPPER_SNAKE {@link #reason()} that clients can
 * switch on (it becomes {@code ErrorInfo.reason} in domain {@value #DOMAIN}), a short message that
 * is safe to show (never a provider's raw error text or a secret), and at most one each of the
 * standard details ({@code BadRequest}, {@code RetryInfo}, {@code QuotaFailure}). Code deep inside
 * the gateway throws this; only {@link ErrorMapper} turns it into wire form.
 */
public final class ApiException extends RuntimeException {
  /** The {@code ErrorInfo.domain} of every error Sluice raises. */
  public static final String DOMAIN = "sluice.dev";

  private static final long serialVersionUID = 1L;

  private final Status.Code code;
  private final String reason;
  private final ImmutableMap<String, String> metadata;
  private final transient ImmutableList<Message> details;

  private ApiException(Builder b) {
    // Expected outcomes (refused, not found, overloaded, ...) carry no stack trace: under overload
    // every refusal is one of these, and filling in a stack costs microseconds of CPU exactly
    // when it is scarce. Internal errors keep theirs, for the bug they report.
    super(b.message, b.cause, true, hasStackTrace(b.code));
    this.code = b.code;
    this.reason = b.reason;
    this.metadata = ImmutableMap.copyOf(b.metadata);
    this.details = b.details.build();
  }

  private static boolean hasStackTrace(Status.Code code) {
    return code == Status.Code.INTERNAL
        || code == Status.Code.UNKNOWN
        || code == Status.Code.DATA_LOSS;
  }

  /** Starts an error with the given canonical code and stable reason. */
  public static Builder builder(Status.Code code, String reason) {
    return new Builder(code, reason);
  }

  /**
   * A request field failed validation; {@code field} is its path, e.g. {@code messages[2].role}.
   * The reason is {@code INVALID_REQUEST}, the documented reason for malformed requests.
   */
  public static ApiException invalidArgument(String field, String description) {
    return builder(Status.Code.INVALID_ARGUMENT, "INVALID_REQUEST")
        .message(field + ": " + description)
        .badRequest(List.of(fieldViolation(field, description)))
        .build();
  }

  /** Several request fields failed validation at once. */
  public static ApiException invalidArguments(
      String message, List<BadRequest.FieldViolation> violations) {
    return builder(Status.Code.INVALID_ARGUMENT, "INVALID_REQUEST")
        .message(message)
        .badRequest(violations)
        .build();
  }

  /** A {@code BadRequest.FieldViolation} for {@code field} (a path) and what is wrong with it. */
  public static BadRequest.FieldViolation fieldViolation(String field, String description) {
    return BadRequest.FieldViolation.newBuilder()
        .setField(field)
        .setDescription(description)
        .build();
  }

  public Status.Code code() {
    return code;
  }

  public String reason() {
    return reason;
  }

  public ImmutableMap<String, String> metadata() {
    return metadata;
  }

  /** Standard {@code google.rpc} detail messages to attach after the {@code ErrorInfo}. */
  public ImmutableList<Message> details() {
    return details == null ? ImmutableList.of() : details;
  }

  /** Builds an {@link ApiException}. */
  public static final class Builder {
    private final Status.Code code;
    private final String reason;
    private String message;
    private @Nullable Throwable cause;
    private final Map<String, String> metadata = new LinkedHashMap<>();
    private final ImmutableList.Builder<Message> details = ImmutableList.builder();

    private Builder(Status.Code code, String reason) {
      this.code = requireNonNull(code, "code");
      this.reason = requireNonNull(reason, "reason");
      this.message = reason;
    }

    /** A short, caller-safe description. */
    public Builder message(String message) {
      this.message = requireNonNull(message, "message");
      return this;
    }

    /** The underlying cause, logged by the boundary but never sent to the caller. */
    public Builder cause(@Nullable Throwable cause) {
      this.cause = cause;
      return this;
    }

    /** Adds an {@code ErrorInfo.metadata} entry; keep values low in cardinality and non-secret. */
    public Builder metadata(String key, String value) {
      metadata.put(requireNonNull(key, "key"), requireNonNull(value, "value"));
      return this;
    }

    public Builder badRequest(List<BadRequest.FieldViolation> violations) {
      details.add(BadRequest.newBuilder().addAllFieldViolations(violations).build());
      return this;
    }

    /** Tells the caller when to retry; also sent as the {@code grpc-retry-pushback-ms} trailer. */
    public Builder retryAfter(Duration delay) {
      details.add(
          RetryInfo.newBuilder().setRetryDelay(Durations.fromNanos(delay.toNanos())).build());
      return this;
    }

    public Builder quotaFailure(QuotaFailure failure) {
      details.add(failure);
      return this;
    }

    /** Adds any other {@code google.rpc} detail message. */
    public Builder detail(Message detail) {
      details.add(requireNonNull(detail, "detail"));
      return this;
    }

    public ApiException build() {
      return new ApiException(this);
    }
  }
}
