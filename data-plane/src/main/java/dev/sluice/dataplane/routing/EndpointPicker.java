package dev.sluice.dataplane.routing;

import com.google.common.collect.ImmutableList;
import java.util.Set;
import java.util.random.RandomGenerator;
import org.jspecify.annotations.Nullable;

/**
 * Chooses the backend of a model version for one attempt and takes a request slot on it.
 *
 * <p>Candidates are the version's backends with a weight, preferring in this order: backends that
 * are not ejected, not yet tried by this request, and below their concurrency limit; then tried
 * ones again; then (only when {@code mayUseEjected}) ejected ones, so a version whose every backend
 * is ejected still serves when it is the last resort. Among candidates it uses the version's
 * policy: power of two choices on {@link BackendLoad#cost()} with samples drawn by weight (the
 * default), or smooth weighted round robin.
 *
 * <p>Stateless and allocation-light; safe from any thread.
 */
final class EndpointPicker {
  /** Why no backend was picked. */
  enum Shortage {
    /** Every weighted backend is ejected (and ejected ones may not be used). */
    ALL_EJECTED,
    /** Every usable backend is at its {@code max_concurrent_requests}. */
    AT_CAPACITY
  }

  /** A backend with a request slot taken, or the reason there is none. */
  record Pick(@Nullable Endpoint endpoint, @Nullable Shortage shortage) {}

  private EndpointPicker() {}

  static Pick pick(
      VersionEntry version,
      Set<String> tried,
      boolean mayUseEjected,
      RandomGenerator random,
      long nowNanos) {
    ImmutableList<Endpoint> endpoints = version.endpoints();
    int n = endpoints.size();
    boolean[] usable = new boolean[n];
    boolean anyHealthy = false;
    // Pass 1: healthy and untried. Pass 2: healthy. Pass 3: anything with a weight.
    for (int pass = 1; pass <= 3; pass++) {
      if (pass == 3 && !mayUseEjected) {
        break;
      }
      int count = 0;
      for (int i = 0; i < n; i++) {
        Endpoint e = endpoints.get(i);
        boolean healthy = !e.backend().load().isEjected(nowNanos);
        anyHealthy |= healthy && e.weight() > 0;
        usable[i] =
            e.weight() > 0
                && (healthy || pass == 3)
                && (pass > 1 || !tried.contains(e.backendName()))
                && !e.backend().load().atCapacity(e.backend().maxConcurrentRequests());
        if (usable[i]) {
          count++;
        }
      }
      while (count > 0) {
        int chosen =
            version.roundRobin()
                ? roundRobin(version, usable)
                : powerOfTwoChoices(endpoints, usable, random);
        Endpoint e = endpoints.get(chosen);
        if (e.backend().load().tryAcquire(e.backend().maxConcurrentRequests())) {
          return new Pick(e, null);
        }
        // Filled up since we looked: leave it out and choose again.
        usable[chosen] = false;
        count--;
      }
    }
    return new Pick(
        null, anyHealthy || mayUseEjected ? Shortage.AT_CAPACITY : Shortage.ALL_EJECTED);
  }

  private static int powerOfTwoChoices(
      ImmutableList<Endpoint> endpoints, boolean[] usable, RandomGenerator random) {
    int total = 0;
    for (int i = 0; i < usable.length; i++) {
      if (usable[i]) {
        total += endpoints.get(i).weight();
      }
    }
    int first = byWeight(endpoints, usable, random.nextInt(total));
    int second = byWeight(endpoints, usable, random.nextInt(total));
    if (first == second) {
      return first;
    }
    double a = endpoints.get(first).backend().load().cost();
    double b = endpoints.get(second).backend().load().cost();
    return b < a ? second : first;
  }

  private static int byWeight(ImmutableList<Endpoint> endpoints, boolean[] usable, int position) {
    int last = -1;
    for (int i = 0; i < usable.length; i++) {
      if (usable[i]) {
        position -= endpoints.get(i).weight();
        last = i;
        if (position < 0) {
          return i;
        }
      }
    }
    return last;
  }

  private static int roundRobin(VersionEntry version, boolean[] usable) {
    int[] order = version.roundRobinOrder();
    int start = version.nextRoundRobinPosition();
    for (int step = 0; step < order.length; step++) {
      int candidate = order[(start + step) % order.length];
      if (usable[candidate]) {
        return candidate;
      }
    }
    // Unreachable while some usable endpoint has a weight: every weighted endpoint is in order.
    for (int i = 0; i < usable.length; i++) {
      if (usable[i]) {
        return i;
      }
    }
    throw new IllegalStateException("no usable endpoint");
  }
}
