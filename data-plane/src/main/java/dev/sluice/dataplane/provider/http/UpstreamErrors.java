package dev.sluice.dataplane.provider.http;

import dev.sluice.dataplane.provider.UpstreamException;
import dev.sluice.dataplane.provider.UpstreamFailure;
import io.netty.handler.codec.DateFormatter;
import io.netty.handler.codec.http.HttpHeaders;
import java.time.Duration;
import java.util.Date;
import java.util.regex.Pattern;
import org.jspecify.annotations.Nullable;

/**
 * Turns transport failures and HTTP error statuses into {@link UpstreamException}s with
 * caller-safe messages, the same way for every HTTP provider.
 */
public final class UpstreamErrors {
  private static final Pattern SAFE_CODE = Pattern.compile("[A-Za-z0-9_.\\-]{1,64}");
  private static final Duration MAX_RETRY_AFTER = Duration.ofHours(1);

  private UpstreamErrors() {}

  /**
   * The failure an HTTP status means, following the providers' documented semantics: 400, 404,
   * 409, 413 and 422 are the request's fault; 401 and 403 the gateway's credentials; 408 a
   * timeout; 429 a rate limit; other 5xx (Anthropic's 529 "overloaded" included, as {@code
   * RETRY_CONDITION_SERVER_ERROR} documents) the provider's fault.
   */
  public static UpstreamFailure classifyStatus(int status) {
    return switch (status) {
      case 401, 403 -> UpstreamFailure.AUTH_FAILED;
      case 408 -> UpstreamFailure.TIMEOUT;
      case 429 -> UpstreamFailure.RATE_LIMITED;
      default -> {
        if (status >= 500) {
          yield UpstreamFailure.SERVER_ERROR;
        }
        if (status >= 400) {
          yield UpstreamFailure.BAD_REQUEST;
        }
        yield UpstreamFailure.PROTOCOL_ERROR; // 1xx leftovers, 2xx other than expected, 3xx
      }
    };
  }

  /**
   * What an adapter learned from an error body.
   *
   * @param code the provider's error code or type (e.g. {@code context_length_exceeded}); shown
   *     to the client only when it is a short identifier, never free text
   * @param contextWindowExceeded whether the provider said the request does not fit the model's
   *     context window (recognized by the adapter from the provider's code or message, which is
   *     read for this and never passed on)
   */
  public record ErrorDetail(@Nullable String code, boolean contextWindowExceeded) {
    /** Nothing known. */
    public static final ErrorDetail NONE = new ErrorDetail(null, false);
  }

  /** An exception for an HTTP error response whose body yielded {@code code}. */
  public static UpstreamException forStatus(
      String backend, int status, HttpHeaders headers, @Nullable String code) {
    return forStatus(backend, status, headers, new ErrorDetail(code, false));
  }

  /**
   * An exception for an HTTP error response. A 4xx that the provider explained as a context
   * window overflow is {@link UpstreamFailure#CONTEXT_WINDOW_EXCEEDED}, so a route can fall back to
   * a model with a larger window.
   */
  public static UpstreamException forStatus(
      String backend, int status, HttpHeaders headers, ErrorDetail error) {
    UpstreamFailure failure = classifyStatus(status);
    if (error.contextWindowExceeded() && failure == UpstreamFailure.BAD_REQUEST) {
      failure = UpstreamFailure.CONTEXT_WINDOW_EXCEEDED;
    }
    String detail = safeCode(error.code());
    String what =
        switch (failure) {
          case AUTH_FAILED -> "the upstream rejected the gateway's credentials";
          case RATE_LIMITED -> "the upstream is rate limiting or overloaded";
          case BAD_REQUEST -> "the upstream rejected the request";
          case CONTEXT_WINDOW_EXCEEDED -> "the request does not fit the upstream model's context window";
          case TIMEOUT -> "the upstream timed out";
          case SERVER_ERROR -> "the upstream failed";
          default -> "the upstream answered with an unexpected status";
        };
    String message = what + " (HTTP " + status + (detail == null ? "" : ", " + detail) + ")";
    return new UpstreamException(failure, backend, status, retryAfter(headers), message, null);
  }

  /**
   * An exception for a transport failure.
   *
   * @param outputDelivered whether the listener already received output (a started stream), which
   *     turns a broken connection into {@link UpstreamFailure#STREAM_BROKEN}
   */
  public static UpstreamException forFailure(
      String backend, HttpFailure failure, boolean outputDelivered) {
    UpstreamFailure kind =
        switch (failure.kind()) {
          case CONNECT_FAILED, CONNECT_TIMEOUT, CLIENT_CLOSED -> UpstreamFailure.CONNECT_FAILED;
          case FIRST_BYTE_TIMEOUT, IDLE_TIMEOUT, DEADLINE_EXCEEDED -> UpstreamFailure.TIMEOUT;
          case CONNECTION_CLOSED -> {
            if (outputDelivered) {
              yield UpstreamFailure.STREAM_BROKEN;
            }
            yield failure.responseStarted()
                ? UpstreamFailure.SERVER_ERROR
                : UpstreamFailure.CONNECT_FAILED;
          }
          case MALFORMED_RESPONSE, HANDLER_FAILED -> UpstreamFailure.PROTOCOL_ERROR;
          case POOL_OVERFLOW -> UpstreamFailure.POOL_OVERFLOW;
        };
    return new UpstreamException(kind, backend, 0, null, failure.getMessage(), failure);
  }

  /** A protocol violation by the upstream, e.g. malformed JSON or a stream without its end. */
  public static UpstreamException protocolError(
      String backend, String message, @Nullable Throwable cause) {
    return new UpstreamException(UpstreamFailure.PROTOCOL_ERROR, backend, 0, null, message, cause);
  }

  /**
   * The provider's Retry-After: {@code retry-after-ms} (OpenAI) or {@code retry-after} as seconds
   * or an HTTP date; null when absent, unparsable or in the past. Capped at one hour.
   */
  public static @Nullable Duration retryAfter(HttpHeaders headers) {
    String millis = headers.get("retry-after-ms");
    if (millis != null) {
      try {
        return cap(Duration.ofNanos((long) (Double.parseDouble(millis.trim()) * 1_000_000)));
      } catch (NumberFormatException ignored) {
        // fall through to retry-after
      }
    }
    String value = headers.get("retry-after");
    if (value == null || value.isBlank()) {
      return null;
    }
    value = value.trim();
    try {
      return cap(Duration.ofMillis((long) (Double.parseDouble(value) * 1000)));
    } catch (NumberFormatException notSeconds) {
      Date date = DateFormatter.parseHttpDate(value);
      if (date == null) {
        return null;
      }
      return cap(Duration.ofMillis(date.getTime() - System.currentTimeMillis()));
    }
  }

  /**
   * Whether provider text (an error message or code, lower-cased or not) says the input is too
   * long for the model: the phrasings of OpenAI, vLLM, LiteLLM, Anthropic and Gemini.
   */
  public static boolean mentionsContextWindow(@Nullable String text) {
    if (text == null) {
      return false;
    }
    String t = text.toLowerCase(java.util.Locale.ROOT);
    return t.contains("context_length_exceeded")
        || t.contains("contextwindowexceeded")
        || t.contains("context window")
        || t.contains("maximum context length")
        || t.contains("prompt is too long")
        || t.contains("exceeds the maximum number of tokens");
  }

  /** {@code code} when it is a short identifier safe to show, else null. */
  public static @Nullable String safeCode(@Nullable String code) {
    return code != null && SAFE_CODE.matcher(code).matches() ? code : null;
  }

  private static @Nullable Duration cap(Duration d) {
    if (d.isNegative() || d.isZero()) {
      return null;
    }
    return d.compareTo(MAX_RETRY_AFTER) > 0 ? MAX_RETRY_AFTER : d;
  }
}
