package dev.sluice.client;

import dev.sluice.inference.v1.InferenceServiceGrpc;
import java.util.List;
import java.util.Map;

/**
 * The gRPC service config the client publishes to its channel (gRFC A6 retries).
 *
 * <p>Only the calls without side effects are listed: {@code Embed}, {@code ListModels} and
 * {@code GetModel} are retried on {@code UNAVAILABLE} with exponential backoff, and a
 * retry-throttling bucket stops retries when most calls fail (so an outage is not amplified).
 * {@code Chat} and {@code StreamChat} are deliberately absent: gRPC would replay them
 * whenever the failure came before response headers, even after the gateway had called a
 * provider. Their retries, only for requests with a {@code request_id}, are the client's own (see
 * {@link GenerationRetryPolicy}).
 */
final class RetryServiceConfig {
  private RetryServiceConfig() {}

  /** The service config as the map {@code ManagedChannelBuilder.defaultServiceConfig} takes. */
  static Map<String, ?> forMaxAttempts(int maxAttempts) {
    if (maxAttempts < 2) {
      return Map.of();
    }
    Map<String, Object> retryPolicy =
        Map.of(
            // JSON numbers: the service-config parser expects doubles.
            "maxAttempts", (double) maxAttempts,
            "initialBackoff", "0.5s",
            "maxBackoff", "10s",
            "backoffMultiplier", 2.0,
            "retryableStatusCodes", List.of("UNAVAILABLE"));
    Map<String, Object> idempotentCalls =
        Map.of(
            "name",
            List.of(method("Embed"), method("ListModels"), method("GetModel")),
            "retryPolicy",
            retryPolicy);
    return Map.of(
        "methodConfig",
        List.of(idempotentCalls),
        "retryThrottling",
        Map.of("maxTokens", 10.0, "tokenRatio", 0.1));
  }

  private static Map<String, Object> method(String name) {
    return Map.of("service", InferenceServiceGrpc.SERVICE_NAME, "method", name);
  }
}
