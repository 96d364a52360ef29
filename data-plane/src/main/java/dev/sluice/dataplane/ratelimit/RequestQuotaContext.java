package dev.sluice.dataplane.ratelimit;

import static com.google.common.base.Preconditions.checkArgument;
import static java.util.Objects.requireNonNull;

import java.util.ArrayList;
import java.util.List;

/**
 * What the rate limiter needs to know about one request: who calls, which model, which policies
 * apply and how many tokens it may consume.
 *
 * <p>Identities are resource names; an absent one is the empty string (for example the API key of
 * a caller that authenticated with a JWT, or the tenant of a consumer without one), which is also
 * how it appears in bucket keys ({@code tenant=}).
 *
 * @param apiKey name (public id) of the API key the request authenticated with, or empty
 * @param consumer name of the calling Consumer
 * @param tenant the consumer's tenant, or empty
 * @param model canonical name of the requested model (aliases resolved)
 * @param policies names of the RateLimitPolicy resources that apply: the matched route's followed
 *     by the consumer's. Duplicates count once; unknown names are ignored (config validation
 *     rejects dangling references before they reach a data plane).
 * @param estimatedInputTokens prompt tokens counted by a {@link TokenEstimator}; reserved against
 *     input and total token limits
 * @param maxOutputTokens the most output tokens the call may generate across all choices (see
 *     {@link TokenEstimator#maxOutputTokens}); reserved against output and total token limits
 */
public record RequestQuotaContext(
    String apiKey,
    String consumer,
    String tenant,
    String model,
    List<String> policies,
    long estimatedInputTokens,
    long maxOutputTokens) {

  public RequestQuotaContext {
    requireNonNull(apiKey, "apiKey");
    requireNonNull(consumer, "consumer");
    requireNonNull(tenant, "tenant");
    requireNonNull(model, "model");
    policies = List.copyOf(policies);
    checkArgument(
        estimatedInputTokens >= 0,
        "estimatedInputTokens: %s (expected: >= 0)",
        estimatedInputTokens);
    checkArgument(maxOutputTokens >= 0, "maxOutputTokens: %s (expected: >= 0)", maxOutputTokens);
  }

  /** Starts a context; every identity defaults to empty and every count to zero. */
  public static Builder builder() {
    return new Builder();
  }

  /** Builds a {@link RequestQuotaContext}. */
  public static final class Builder {
    private String apiKey = "";
    private String consumer = "";
    private String tenant = "";
    private String model = "";
    private final List<String> policies = new ArrayList<>();
    private long estimatedInputTokens;
    private long maxOutputTokens;

    private Builder() {}

    public Builder apiKey(String apiKey) {
      this.apiKey = requireNonNull(apiKey, "apiKey");
      return this;
    }

    public Builder consumer(String consumer) {
      this.consumer = requireNonNull(consumer, "consumer");
      return this;
    }

    public Builder tenant(String tenant) {
      this.tenant = requireNonNull(tenant, "tenant");
      return this;
    }

    public Builder model(String model) {
      this.model = requireNonNull(model, "model");
      return this;
    }

    /** Adds policy names; call it with the route's and then with the consumer's. */
    public Builder addPolicies(Iterable<String> names) {
      for (String name : names) {
        policies.add(requireNonNull(name, "policy name"));
      }
      return this;
    }

    public Builder addPolicies(String... names) {
      return addPolicies(List.of(names));
    }

    public Builder estimatedInputTokens(long tokens) {
      this.estimatedInputTokens = tokens;
      return this;
    }

    public Builder maxOutputTokens(long tokens) {
      this.maxOutputTokens = tokens;
      return this;
    }

    public RequestQuotaContext build() {
      return new RequestQuotaContext(
          apiKey, consumer, tenant, model, policies, estimatedInputTokens, maxOutputTokens);
    }
  }
}
