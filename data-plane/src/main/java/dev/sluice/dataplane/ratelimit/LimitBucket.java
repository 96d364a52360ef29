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
  private final long burst;
  private final boolean shadow;

  LimitBucket(BucketId id, long amount, boolean shadow) {
    this(id, amount, 0, shadow);
  }

  LimitBucket(BucketId id, long amount, long burst, boolean shadow) {
    this.id = requireNonNull(id, "id");
    this.amount = amount;
    this.burst = burst;
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

  /** Most units admitted at once, fleet-wide; 0 when the limit does not pace. */
  public long burst() {
    return burst;
  }

  /**
   * How this node paces a share of {@code capacity} units per window: a bucket refilled at the
   * share, holding the configured burst (at most the share); {@link BucketState.Pace#NONE} when
   * the limit does not pace.
   *
   * <p>The burst is not scaled down with the share: a node leased about its arrival rate needs
   * the whole burst to absorb the clumps of its own random arrivals (scaled, the quiet nodes of a
   * skewed fleet refuse a large part of them and leave their share unused), and a node whose
   * bucket cannot hold a few requests' reservations loses the refunds it gets back while full.
   * The price is the fleet's bound: every node may spend a full bucket in the same window.
   */
  BucketState.Pace paceFor(double capacity) {
    if (burst <= 0) {
      return BucketState.Pace.NONE;
    }
    return new BucketState.Pace(capacity, Math.min(burst, capacity));
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
        && burst == other.burst
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
        .add("burst", burst)
        .add("window", window())
        .add("shadow", shadow)
        .toString();
  }
}
