package dev.sluice.dataplane.routing;

import static java.util.Objects.requireNonNull;

import com.google.common.collect.ImmutableList;
import com.google.common.math.IntMath;
import dev.sluice.config.v1.LoadBalancingPolicy;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One version of a model and the backends that serve it, as a load balancer sees them.
 *
 * <p>Immutable except for the round-robin cursor, which starts over with each config version
 * (harmless: round robin has no memory worth keeping).
 */
final class VersionEntry {
  private final String modelName;
  private final String name;
  private final ImmutableList<Endpoint> endpoints;
  private final LoadBalancingPolicy policy;
  private final int totalWeight;

  /** Endpoint indexes in smooth weighted round-robin order (nginx's algorithm), one cycle. */
  private final int[] roundRobinOrder;

  private final AtomicInteger roundRobinCursor = new AtomicInteger();

  VersionEntry(
      String modelName,
      String name,
      ImmutableList<Endpoint> endpoints,
      LoadBalancingPolicy policy) {
    this.modelName = requireNonNull(modelName, "modelName");
    this.name = requireNonNull(name, "name");
    this.endpoints = requireNonNull(endpoints, "endpoints");
    this.policy = requireNonNull(policy, "policy");
    int total = 0;
    for (Endpoint e : endpoints) {
      total += e.weight();
    }
    this.totalWeight = total;
    this.roundRobinOrder = smoothRoundRobinOrder(endpoints);
  }

  String modelName() {
    return modelName;
  }

  String name() {
    return name;
  }

  ImmutableList<Endpoint> endpoints() {
    return endpoints;
  }

  boolean roundRobin() {
    return policy == LoadBalancingPolicy.LOAD_BALANCING_POLICY_WEIGHTED_ROUND_ROBIN;
  }

  int totalWeight() {
    return totalWeight;
  }

  int[] roundRobinOrder() {
    return roundRobinOrder;
  }

  int nextRoundRobinPosition() {
    return roundRobinCursor.getAndIncrement() & Integer.MAX_VALUE;
  }

  private static int[] smoothRoundRobinOrder(ImmutableList<Endpoint> endpoints) {
    int gcd = 0;
    for (Endpoint e : endpoints) {
      if (e.weight() > 0) {
        gcd = gcd == 0 ? e.weight() : IntMath.gcd(gcd, e.weight());
      }
    }
    if (gcd == 0) {
      return new int[0];
    }
    int[] weights = new int[endpoints.size()];
    int total = 0;
    for (int i = 0; i < weights.length; i++) {
      weights[i] = endpoints.get(i).weight() / gcd;
      total += weights[i];
    }
    int[] order = new int[total];
    int[] current = new int[weights.length];
    for (int slot = 0; slot < total; slot++) {
      int best = -1;
      for (int i = 0; i < weights.length; i++) {
        current[i] += weights[i];
        if (weights[i] > 0 && (best < 0 || current[i] > current[best])) {
          best = i;
        }
      }
      current[best] -= total;
      order[slot] = best;
    }
    return order;
  }
}
