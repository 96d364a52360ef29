package dev.sluice.dataplane.ratelimit;

import static java.util.Objects.requireNonNull;

import com.google.common.base.MoreObjects;
import dev.sluice.config.v1.RateLimitMetric;
import dev.sluice.discovery.v1.QuotaBucket;
import dev.sluice.inference.v1.Usage;
import java.time.Duration;
import org.jspecify.annotations.Nullable;

/**
 * One bucket a request draws from: one limit of one policy, for the request's values of the
 * policy's dimensions. Immutable.
 *
 * <p>The {@link #key()} has the wire form of {@code QuotaBucket.key}: {@code dimension=value}
 * pairs in the policy's dimension order joined by {@code ,}, for example {@code
 * consumer=acme,model=gpt-4o}; the {@link #subject()} names the same bucket for humans and for
 * {@code QuotaFailure.Violation.subject}: {@code consumer:acme/model:gpt-4o/policy:gold/limit:0}.
 */
public final class LimitBucket {
  private final BucketId id;
  private final long amount;
  private final boolean shadow;

  LimitBucket(BucketId id, long amount, boolean shadow) {
    this.id = requireNonNull(id, "id");
    this.amount = amount;
    this.shadow = shadow;
  }

  /** Name of the RateLimitPolicy. */
  public String policy() {
    return id.policy();
  }

  /** Zero-based position of the limit in the policy. */
  public int limitIndex() {
    return id.limitIndex();
  }

  /** The dimension values, in {@code QuotaBucket.key} form. */
  public String key() {
    return id.key();
  }

  /** What the limit counts. */
  public RateLimitMetric metric() {
    return id.metric();
  }

  /** Units allowed per window, fleet-wide. */
  public long amount() {
    return amount;
  }

  /** The window the amount applies to. */
  public Duration window() {
    return Duration.ofNanos(id.windowNanos());
  }

  /** Whether the policy only observes (counts and reports would-be refusals) without refusing. */
  public boolean shadow() {
    return shadow;
  }

  /** The bucket as {@code QuotaFailure.Violation.subject}: dimensions, then policy and limit. */
  public String subject() {
    StringBuilder subject = new StringBuilder(id.key().length() + id.policy().length() + 24);
    if (!id.key().isEmpty()) {
      for (String pair : id.key().split(",", -1)) {
        subject.append(pair.replaceFirst("=", ":")).append('/');
      }
    }
    return subject
        .append("policy:")
        .append(id.policy())
        .append("/limit:")
        .append(id.limitIndex())
        .toString();
  }

  /** The fleet-wide bucket, as reported to the control plane. */
  public QuotaBucket toProto() {
    return id.toProto();
  }

  BucketId id() {
    return id;
  }

  /** Units reserved at admission: one request, or the estimated tokens. */
  long reservationFor(RequestQuotaContext ctx) {
    return switch (id.metric()) {
      case RATE_LIMIT_METRIC_INPUT_TOKENS -> ctx.estimatedInputTokens();
      case RATE_LIMIT_METRIC_OUTPUT_TOKENS -> ctx.maxOutputTokens();
      case RATE_LIMIT_METRIC_TOTAL_TOKENS -> ctx.estimatedInputTokens() + ctx.maxOutputTokens();
      default -> 1;
    };
  }

  /**
   * Units actually consumed by a call that used {@code usage}. Requests count one however the call
   * ended; a total of zero next to non-zero parts (a provider that reports no total) counts as the
   * sum of the parts.
   */
  long actualFor(Usage usage) {
    return switch (id.metric()) {
      case RATE_LIMIT_METRIC_INPUT_TOKENS -> Math.max(0, usage.getInputTokens());
      case RATE_LIMIT_METRIC_OUTPUT_TOKENS -> Math.max(0, usage.getOutputTokens());
      case RATE_LIMIT_METRIC_TOTAL_TOKENS -> {
        long parts = Math.max(0, usage.getInputTokens()) + Math.max(0, usage.getOutputTokens());
        yield usage.getTotalTokens() > 0 ? usage.getTotalTokens() : parts;
      }
      default -> 1;
    };
  }

  /** A short unit name for messages: {@code requests}, {@code input tokens}, ... */
  String unit() {
    return switch (id.metric()) {
      case RATE_LIMIT_METRIC_INPUT_TOKENS -> "input tokens";
      case RATE_LIMIT_METRIC_OUTPUT_TOKENS -> "output tokens";
      case RATE_LIMIT_METRIC_TOTAL_TOKENS -> "tokens";
      default -> "requests";
    };
  }

  @Override
  public boolean equals(@Nullable Object o) {
    return o instanceof LimitBucket other
        && id.equals(other.id)
        && amount == other.amount
        && shadow == other.shadow;
  }

  @Override
  public int hashCode() {
    return id.hashCode();
  }

  @Override
  public String toString() {
    return MoreObjects.toStringHelper(this)
        .add("subject", subject())
        .add("metric", id.metric())
        .add("amount", amount)
        .add("window", window())
        .add("shadow", shadow)
        .toString();
  }
}
