package dev.sluice.dataplane.ratelimit;

import com.google.protobuf.util.Durations;
import dev.sluice.config.v1.RateLimit;
import dev.sluice.config.v1.RateLimitDimension;
import dev.sluice.config.v1.RateLimitMetric;
import dev.sluice.config.v1.RateLimitMode;
import dev.sluice.config.v1.RateLimitPolicy;
import java.time.Duration;
import java.util.List;

/** Builds rate-limit policies for tests. */
final class Policies {
  private Policies() {}

  static RateLimitPolicy policy(
      String name, List<RateLimitDimension> dimensions, RateLimit... limits) {
    return RateLimitPolicy.newBuilder()
        .setName(name)
        .addAllDimensions(dimensions)
        .addAllLimits(List.of(limits))
        .build();
  }

  static RateLimitPolicy shadow(RateLimitPolicy policy) {
    return policy.toBuilder().setMode(RateLimitMode.RATE_LIMIT_MODE_SHADOW).build();
  }

  static RateLimit requests(long amount, Duration window) {
    return limit(RateLimitMetric.RATE_LIMIT_METRIC_REQUESTS, amount, window);
  }

  static RateLimit totalTokens(long amount, Duration window) {
    return limit(RateLimitMetric.RATE_LIMIT_METRIC_TOTAL_TOKENS, amount, window);
  }

  static RateLimit inputTokens(long amount, Duration window) {
    return limit(RateLimitMetric.RATE_LIMIT_METRIC_INPUT_TOKENS, amount, window);
  }

  static RateLimit outputTokens(long amount, Duration window) {
    return limit(RateLimitMetric.RATE_LIMIT_METRIC_OUTPUT_TOKENS, amount, window);
  }

  static RateLimit limit(RateLimitMetric metric, long amount, Duration window) {
    return RateLimit.newBuilder()
        .setMetric(metric)
        .setAmount(amount)
        .setWindow(Durations.fromNanos(window.toNanos()))
        .build();
  }
}
