package dev.sluice.dataplane.metrics;

import dev.sluice.inference.v1.Usage;
import io.grpc.Status;
import org.jspecify.annotations.Nullable;

/**
 * What the gateway reports about its traffic. Implementations must be cheap and non-blocking: every
 * method is called on the request path. Arguments are low-cardinality by contract: model names come
 * from config (never from unvalidated client input), backends and providers likewise.
 */
public interface GatewayMetrics {
  /** Reports nothing. */
  GatewayMetrics NOOP = new GatewayMetrics() {};

  /** Why the router made another attempt. */
  enum AttemptKind {
    /** Another attempt on the same destination. */
    RETRY,
    /** The next destination of the route's fallback chain. */
    FALLBACK
  }

  /**
   * An upstream attempt failed on {@code backend}.
   *
   * @param failure the {@code UpstreamFailure} name, e.g. {@code SERVER_ERROR}
   */
  default void upstreamError(String backend, String failure) {}

  /** The router moves on after a failure on {@code backend}. */
  default void attemptRepeated(String backend, AttemptKind kind) {}

  /**
   * An inference RPC ended.
   *
   * @param method the short RPC name, e.g. {@code StreamChat}
   * @param reason the {@code ErrorInfo.reason} the call ended with (e.g. {@code RATE_LIMITED},
   *     {@code API_KEY_INVALID}); empty on success or when the status carries none
   */
  default void requestFinished(String method, Status.Code code, String reason) {}

  /**
   * A generation or embedding operation ended ({@code gen_ai.client.operation.duration}).
   *
   * @param operation {@code chat} or {@code embeddings}
   * @param provider the {@code gen_ai.provider.name}, or empty when no backend was chosen
   * @param model the canonical public model name
   * @param errorType null on success, else the status code name
   */
  default void operationFinished(
      String operation,
      String provider,
      String model,
      long durationNanos,
      @Nullable String errorType) {}

  /** Token usage of one operation ({@code gen_ai.client.token.usage}). */
  default void tokensUsed(String operation, String provider, String model, Usage usage) {}

  /** Time from request to first output token ({@code gen_ai.server.time_to_first_token}). */
  default void timeToFirstToken(String operation, String provider, String model, long nanos) {}

  /** Mean time per output token after the first ({@code gen_ai.server.time_per_output_token}). */
  default void timePerOutputToken(String operation, String provider, String model, long nanos) {}
}
