package dev.sluice.dataplane.ratelimit;

import static java.util.Objects.requireNonNull;

import com.google.common.collect.ImmutableMap;
import com.google.common.collect.ImmutableSet;
import com.google.protobuf.util.Durations;
import dev.sluice.config.v1.RateLimit;
import dev.sluice.config.v1.RateLimitDimension;
import dev.sluice.config.v1.RateLimitMetric;
import dev.sluice.config.v1.RateLimitMode;
import dev.sluice.config.v1.RateLimitPolicy;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.jspecify.annotations.Nullable;

/**
 * The compiled, immutable form of the config's {@code RateLimitPolicy} resources: given a
 * request's identities and the policies that apply to it (its route's and its consumer's), it
 * lists the buckets the request draws from, one per limit of each policy. Every bucket must admit
 * the request for it to pass.
 *
 * <p>Compiled once per config version, next to the route table, and swapped with it atomically;
 * {@link #bucketsFor} is a few map lookups and one string per policy.
 */
public final class RateLimitTable {
  /** The windows a limit may use; other lengths are rejected at compile time. */
  static final ImmutableSet<Duration> WINDOWS =
      ImmutableSet.of(
          Duration.ofSeconds(1), Duration.ofMinutes(1), Duration.ofHours(1), Duration.ofDays(1));

  /** The most limits one policy may carry. */
  static final int MAX_LIMITS = 16;

  private static final RateLimitTable EMPTY = new RateLimitTable(ImmutableMap.of());

  private final ImmutableMap<String, CompiledPolicy> policies;

  /** Names of the policies with at least one token limit. */
  private final ImmutableSet<String> tokenPolicies;

  private RateLimitTable(ImmutableMap<String, CompiledPolicy> policies) {
    this.policies = policies;
    ImmutableSet.Builder<String> tokens = ImmutableSet.builder();
    for (CompiledPolicy policy : policies.values()) {
      for (CompiledLimit limit : policy.limits) {
        if (limit.metric != RateLimitMetric.RATE_LIMIT_METRIC_REQUESTS) {
          tokens.add(policy.name);
          break;
        }
      }
    }
    this.tokenPolicies = tokens.build();
  }

  /** A table without policies: every request is admitted without counting. */
  public static RateLimitTable empty() {
    return EMPTY;
  }

  /**
   * Compiles {@code policies}.
   *
   * @throws IllegalArgumentException naming every invalid field (duplicate or empty names, missing
   *     or repeated dimensions, no limits or more than {@value #MAX_LIMITS}, an unspecified metric,
   *     a non-positive amount, a window other than 1 s, 1 min, 1 h or 1 day), so that a config
   *     applier can NACK the snapshot with that message
   */
  public static RateLimitTable compile(Collection<RateLimitPolicy> policies) {
    requireNonNull(policies, "policies");
    List<String> errors = new ArrayList<>();
    Map<String, CompiledPolicy> compiled = new LinkedHashMap<>();
    for (RateLimitPolicy policy : policies) {
      String name = policy.getName();
      String at = "rate_limit_policies[" + name + "]";
      if (name.isEmpty()) {
        errors.add("rate_limit_policies[].name: empty (expected: a resource name)");
        continue;
      }
      if (compiled.containsKey(name)) {
        errors.add(at + ": duplicate name");
        continue;
      }
      CompiledPolicy result = compile(policy, at, errors);
      if (result != null) {
        compiled.put(name, result);
      }
    }
    if (!errors.isEmpty()) {
      throw new IllegalArgumentException(String.join("; ", errors));
    }
    return compiled.isEmpty() ? EMPTY : new RateLimitTable(ImmutableMap.copyOf(compiled));
  }

  private static @Nullable CompiledPolicy compile(
      RateLimitPolicy policy, String at, List<String> errors) {
    int before = errors.size();
    EnumSet<RateLimitDimension> seen = EnumSet.noneOf(RateLimitDimension.class);
    List<RateLimitDimension> dimensions = policy.getDimensionsList();
    for (int i = 0; i < dimensions.size(); i++) {
      RateLimitDimension dimension = dimensions.get(i);
      if (dimensionName(dimension) == null) {
        errors.add(at + ".dimensions[" + i + "]: " + dimension + " (expected: a known dimension)");
      } else if (!seen.add(dimension)) {
        errors.add(at + ".dimensions[" + i + "]: " + dimension + " repeated");
      }
    }
    List<RateLimit> limits = policy.getLimitsList();
    if (limits.isEmpty() || limits.size() > MAX_LIMITS) {
      errors.add(at + ".limits: " + limits.size() + " limits (expected: 1 to " + MAX_LIMITS + ")");
    }
    for (int i = 0; i < limits.size(); i++) {
      RateLimit limit = limits.get(i);
      String field = at + ".limits[" + i + "]";
      if (limit.getMetric() == RateLimitMetric.RATE_LIMIT_METRIC_UNSPECIFIED
          || limit.getMetric() == RateLimitMetric.UNRECOGNIZED) {
        errors.add(field + ".metric: " + limit.getMetric() + " (expected: a known metric)");
      }
      if (limit.getAmount() <= 0) {
        errors.add(field + ".amount: " + limit.getAmount() + " (expected: > 0)");
      }
      if (limit.getBurst() < 0 || limit.getBurst() > Math.max(0, limit.getAmount())) {
        errors.add(
            field + ".burst: " + limit.getBurst() + " (expected: 0 to amount, " + limit.getAmount() + ")");
      }
      Duration window =
          limit.hasWindow() ? Duration.ofNanos(Durations.toNanos(limit.getWindow())) : null;
      if (window == null || !WINDOWS.contains(window)) {
        errors.add(
            field
                + ".window: "
                + (window == null ? "unset" : window)
                + " (expected: 1s, 1m, 1h or 1d)");
      }
    }
    if (policy.getMode() == RateLimitMode.UNRECOGNIZED) {
      errors.add(at + ".mode: unrecognized (expected: ENFORCE or SHADOW)");
    }
    if (errors.size() > before) {
      return null;
    }
    return new CompiledPolicy(
        policy.getName(),
        dimensions.toArray(new RateLimitDimension[0]),
        limits.stream()
            .map(
                l ->
                    new CompiledLimit(
                        l.getMetric(),
                        l.getAmount(),
                        l.getBurst(),
                        Durations.toNanos(l.getWindow())))
            .toArray(CompiledLimit[]::new),
        policy.getMode() == RateLimitMode.RATE_LIMIT_MODE_SHADOW);
  }

  /** The names of the compiled policies, for validating references from routes and consumers. */
  public Set<String> policyNames() {
    return policies.keySet();
  }

  /**
   * Whether any of the named policies counts tokens (unknown names count nothing). A request whose
   * policies only count requests needs no token estimate: its reservation is one request per
   * bucket whatever its size, so the caller can skip tokenizing the prompt.
   */
  public boolean countsTokens(List<String> policyNames) {
    if (tokenPolicies.isEmpty()) {
      return false;
    }
    for (int i = 0; i < policyNames.size(); i++) {
      if (tokenPolicies.contains(policyNames.get(i))) {
        return true;
      }
    }
    return false;
  }

  /** Whether the table has no policies, so no request is ever counted. */
  public boolean isEmpty() {
    return policies.isEmpty();
  }

  /**
   * The buckets {@code ctx} draws from, policy by policy in the order of {@code ctx.policies()}
   * (a policy named twice counts once; an unknown name is skipped), limit by limit in each
   * policy's order. Empty when no policy applies.
   */
  public List<LimitBucket> bucketsFor(RequestQuotaContext ctx) {
    List<String> names = ctx.policies();
    if (names.isEmpty() || policies.isEmpty()) {
      return List.of();
    }
    List<LimitBucket> buckets = new ArrayList<>(names.size() * 2);
    for (int i = 0; i < names.size(); i++) {
      String name = names.get(i);
      if (names.subList(0, i).contains(name)) {
        continue;
      }
      CompiledPolicy policy = policies.get(name);
      if (policy != null) {
        policy.addBuckets(ctx, buckets);
      }
    }
    return buckets;
  }

  /**
   * Whether the bucket state {@code id} still matches a limit of this table (same policy and
   * position, same metric and window); states that do not are no longer reported to the control
   * plane and age out.
   */
  boolean defines(BucketId id) {
    CompiledPolicy policy = policies.get(id.policy());
    if (policy == null || id.limitIndex() >= policy.limits.length) {
      return false;
    }
    CompiledLimit limit = policy.limits[id.limitIndex()];
    return limit.metric == id.metric() && limit.windowNanos == id.windowNanos();
  }

  /** The name a dimension has in bucket keys, or null for unspecified and unknown values. */
  static @Nullable String dimensionName(RateLimitDimension dimension) {
    return switch (dimension) {
      case RATE_LIMIT_DIMENSION_API_KEY -> "api_key";
      case RATE_LIMIT_DIMENSION_CONSUMER -> "consumer";
      case RATE_LIMIT_DIMENSION_TENANT -> "tenant";
      case RATE_LIMIT_DIMENSION_MODEL -> "model";
      default -> null;
    };
  }

  @Override
  public String toString() {
    return "RateLimitTable" + policies.keySet();
  }

  private record CompiledLimit(
      RateLimitMetric metric, long amount, long burst, long windowNanos) {}

  private static final class CompiledPolicy {
    private final String name;
    private final RateLimitDimension[] dimensions;
    private final String[] prefixes;
    private final CompiledLimit[] limits;
    private final boolean shadow;

    CompiledPolicy(
        String name, RateLimitDimension[] dimensions, CompiledLimit[] limits, boolean shadow) {
      this.name = name;
      this.dimensions = dimensions;
      this.prefixes = new String[dimensions.length];
      for (int i = 0; i < dimensions.length; i++) {
        prefixes[i] = (i == 0 ? "" : ",") + dimensionName(dimensions[i]) + "=";
      }
      this.limits = limits;
      this.shadow = shadow;
    }

    void addBuckets(RequestQuotaContext ctx, List<LimitBucket> out) {
      String key = key(ctx);
      for (int i = 0; i < limits.length; i++) {
        CompiledLimit limit = limits[i];
        out.add(
            new LimitBucket(
                new BucketId(name, i, key, limit.metric, limit.windowNanos),
                limit.amount,
                limit.burst,
                shadow));
      }
    }

    private String key(RequestQuotaContext ctx) {
      if (dimensions.length == 0) {
        return "";
      }
      StringBuilder key = new StringBuilder(64);
      for (int i = 0; i < dimensions.length; i++) {
        key.append(prefixes[i]).append(valueOf(dimensions[i], ctx));
      }
      return key.toString();
    }

    private static String valueOf(RateLimitDimension dimension, RequestQuotaContext ctx) {
      return switch (dimension) {
        case RATE_LIMIT_DIMENSION_API_KEY -> ctx.apiKey();
        case RATE_LIMIT_DIMENSION_CONSUMER -> ctx.consumer();
        case RATE_LIMIT_DIMENSION_TENANT -> ctx.tenant();
        case RATE_LIMIT_DIMENSION_MODEL -> ctx.model();
        default -> throw new AssertionError(dimension);
      };
    }
  }
}
