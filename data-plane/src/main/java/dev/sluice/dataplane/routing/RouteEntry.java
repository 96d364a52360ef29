package dev.sluice.dataplane.routing;

import static java.util.Objects.requireNonNull;

import com.google.common.collect.ImmutableList;
import com.google.common.collect.ImmutableSet;
import com.google.common.collect.Sets;
import com.google.protobuf.util.Durations;
import dev.sluice.config.v1.RetryCondition;
import dev.sluice.config.v1.Route;
import dev.sluice.config.v1.RouteDestination;
import dev.sluice.config.v1.Stickiness;
import dev.sluice.config.v1.StickinessKey;
import java.util.EnumSet;
import org.jspecify.annotations.Nullable;

/** A compiled {@link Route}: its match conditions, weighted destinations and attempt policy. */
final class RouteEntry {
  /** What {@code fallback_on} means when empty. */
  private static final ImmutableSet<RetryCondition> DEFAULT_FALLBACK_ON =
      Sets.immutableEnumSet(
          RetryCondition.RETRY_CONDITION_CONNECT_FAILURE,
          RetryCondition.RETRY_CONDITION_SERVER_ERROR,
          RetryCondition.RETRY_CONDITION_RATE_LIMITED,
          RetryCondition.RETRY_CONDITION_TIMEOUT);

  private final Route route;
  private final ImmutableSet<String> models;
  private final ImmutableSet<String> consumers;
  private final ImmutableSet<String> tenants;
  private final ImmutableList<HeaderCondition> headers;
  private final ImmutableList<RouteDestination> destinations;

  /** cumulativeWeights[i] is the sum of the effective weights of destinations 0..i. */
  private final int[] cumulativeWeights;

  private final ImmutableList<RouteDestination> fallbacks;
  private final ImmutableSet<RetryCondition> fallbackOn;
  private final RetrySettings retry;
  private final long timeoutNanos;
  private final RetryBudget budget;
  private final ImmutableList<String> rateLimitPolicies;

  RouteEntry(Route route, RetryBudget budget) {
    this.route = requireNonNull(route, "route");
    this.budget = requireNonNull(budget, "budget");
    String where = "route " + route.getName();
    this.models = ImmutableSet.copyOf(route.getMatch().getModelsList());
    this.consumers = ImmutableSet.copyOf(route.getMatch().getConsumersList());
    this.tenants = ImmutableSet.copyOf(route.getMatch().getTenantsList());
    ImmutableList.Builder<HeaderCondition> conditions = ImmutableList.builder();
    for (int i = 0; i < route.getMatch().getHeadersCount(); i++) {
      conditions.add(
          HeaderCondition.of(route.getMatch().getHeaders(i), where + ": match.headers[" + i + "]"));
    }
    this.headers = conditions.build();
    this.destinations = ImmutableList.copyOf(route.getDestinationsList());
    this.cumulativeWeights = new int[destinations.size()];
    boolean allZero = destinations.stream().allMatch(d -> d.getWeight() == 0);
    int sum = 0;
    for (int i = 0; i < destinations.size(); i++) {
      int weight = allZero ? 1 : destinations.get(i).getWeight();
      if (weight < 0) {
        throw new IllegalArgumentException(
            where + ": destinations[" + i + "].weight: " + weight + " (expected: 0 to 1000)");
      }
      sum += weight;
      cumulativeWeights[i] = sum;
    }
    this.fallbacks = ImmutableList.copyOf(route.getFallbacksList());
    this.fallbackOn =
        route.getFallbackOnCount() == 0
            ? DEFAULT_FALLBACK_ON
            : Sets.immutableEnumSet(EnumSet.copyOf(route.getFallbackOnList()));
    this.retry =
        route.hasRetryPolicy() ? RetrySettings.of(route.getRetryPolicy()) : RetrySettings.NONE;
    this.timeoutNanos = route.hasTimeout() ? Durations.toNanos(route.getTimeout()) : 0;
    this.rateLimitPolicies = ImmutableList.copyOf(route.getRateLimitPoliciesList());
    Stickiness stickiness = route.getStickiness();
    if (stickiness.getKey() == StickinessKey.STICKINESS_KEY_HEADER
        && stickiness.getHeader().isEmpty()) {
      throw new IllegalArgumentException(
          where
              + ": stickiness.header: empty (expected: a header name with STICKINESS_KEY_HEADER)");
    }
  }

  String name() {
    return route.getName();
  }

  int priority() {
    return route.getPriority();
  }

  boolean matches(
      String model,
      @Nullable String consumer,
      @Nullable String tenant,
      RequestHeaders requestHeaders) {
    if (!models.isEmpty() && !models.contains(model)) {
      return false;
    }
    if (!consumers.isEmpty() && (consumer == null || !consumers.contains(consumer))) {
      return false;
    }
    if (!tenants.isEmpty() && (tenant == null || !tenants.contains(tenant))) {
      return false;
    }
    for (HeaderCondition condition : headers) {
      if (!condition.matches(requestHeaders)) {
        return false;
      }
    }
    return true;
  }

  ImmutableList<RouteDestination> destinations() {
    return destinations;
  }

  /**
   * The destination at {@code position} of the weight line, {@code 0 <= position < totalWeight()}.
   */
  RouteDestination destinationAt(long position) {
    for (int i = 0; i < cumulativeWeights.length; i++) {
      if (position < cumulativeWeights[i]) {
        return destinations.get(i);
      }
    }
    return destinations.get(destinations.size() - 1);
  }

  int totalWeight() {
    return cumulativeWeights.length == 0 ? 0 : cumulativeWeights[cumulativeWeights.length - 1];
  }

  Stickiness stickiness() {
    return route.getStickiness();
  }

  ImmutableList<RouteDestination> fallbacks() {
    return fallbacks;
  }

  boolean fallsBackOn(RetryCondition condition) {
    return fallbackOn.contains(condition);
  }

  RetrySettings retry() {
    return retry;
  }

  /** The route timeout in nanoseconds; 0 means none. */
  long timeoutNanos() {
    return timeoutNanos;
  }

  RetryBudget budget() {
    return budget;
  }

  /** Names of the RateLimitPolicy resources that apply to requests on this route. */
  ImmutableList<String> rateLimitPolicies() {
    return rateLimitPolicies;
  }
}
