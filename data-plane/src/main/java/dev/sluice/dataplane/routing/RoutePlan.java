package dev.sluice.dataplane.routing;

import static java.util.Objects.requireNonNull;

import com.google.common.collect.ImmutableList;
import com.google.common.hash.Hashing;
import dev.sluice.config.v1.RouteDestination;
import dev.sluice.config.v1.Stickiness;
import java.nio.charset.StandardCharsets;
import java.util.random.RandomGenerator;
import org.jspecify.annotations.Nullable;

/**
 * Where one request may go, decided once when it arrives: the matched route (if any), the
 * destinations in the order they may be tried (the chosen one, then the route's fallbacks), and the
 * retry settings.
 *
 * @param route the matched route, or null when none matched (then: the model's default version, no
 *     retries, no fallbacks)
 * @param destinations the chosen destination first, then the fallbacks that resolve
 * @param retry retry settings per destination
 */
record RoutePlan(
    @Nullable RouteEntry route, ImmutableList<Destination> destinations, RetrySettings retry) {
  RoutePlan {
    requireNonNull(destinations, "destinations");
    requireNonNull(retry, "retry");
  }

  /**
   * Plans a request for {@code model}: the first matching route in priority order, a destination
   * drawn by weight (by a hash of the stickiness key when the route has one and the request carries
   * it), and the route's fallbacks.
   *
   * @param endUser the request's end_user field, for end-user stickiness (empty when unset)
   */
  static RoutePlan of(
      RouteTable table,
      ModelEntry model,
      RoutingContext context,
      String endUser,
      RandomGenerator random) {
    RouteEntry route = table.match(model, context);
    if (route == null) {
      return new RoutePlan(
          null,
          ImmutableList.of(new Destination(model, model.defaultVersion())),
          RetrySettings.NONE);
    }
    ImmutableList.Builder<Destination> destinations = ImmutableList.builder();
    Destination primary = null;
    if (route.totalWeight() > 0) {
      String key = stickinessKey(route.stickiness(), context, endUser);
      long position =
          key == null
              ? random.nextInt(route.totalWeight())
              : Math.floorMod(
                  Hashing.murmur3_128().hashString(key, StandardCharsets.UTF_8).asLong(),
                  (long) route.totalWeight());
      primary = resolve(table, model, route.destinationAt(position));
    }
    destinations.add(primary != null ? primary : new Destination(model, model.defaultVersion()));
    for (RouteDestination fallback : route.fallbacks()) {
      Destination resolved = resolve(table, model, fallback);
      if (resolved != null) {
        destinations.add(resolved);
      }
    }
    return new RoutePlan(route, destinations.build(), route.retry());
  }

  private static @Nullable Destination resolve(
      RouteTable table, ModelEntry requested, RouteDestination destination) {
    ModelEntry model =
        destination.getModel().isEmpty() ? requested : table.model(destination.getModel());
    if (model == null) {
      return null;
    }
    VersionEntry version =
        destination.getModelVersion().isEmpty()
            ? model.defaultVersion()
            : model.version(destination.getModelVersion());
    return version == null ? null : new Destination(model, version);
  }

  private static @Nullable String stickinessKey(
      Stickiness stickiness, RoutingContext context, String endUser) {
    switch (stickiness.getKey()) {
      case STICKINESS_KEY_HEADER:
        return context.headers().get(stickiness.getHeader());
      case STICKINESS_KEY_END_USER:
        return endUser.isEmpty() ? null : endUser;
      case STICKINESS_KEY_CONSUMER:
        return context.consumer();
      default:
        return null;
    }
  }
}
