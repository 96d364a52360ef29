package dev.sluice.dataplane.routing;

import com.google.common.collect.ImmutableList;
import com.google.common.collect.ImmutableMap;
import dev.sluice.config.v1.Backend;
import dev.sluice.config.v1.BackendKind;
import dev.sluice.config.v1.BackendTarget;
import dev.sluice.config.v1.Model;
import dev.sluice.config.v1.ModelVersion;
import dev.sluice.config.v1.Resource;
import dev.sluice.config.v1.Route;
import dev.sluice.config.v1.RouteDestination;
import dev.sluice.dataplane.provider.UpstreamTarget;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.jspecify.annotations.Nullable;

/**
 * The models, model versions, backends and routes of one config version, indexed for the request
 * path: model lookup by name or alias, routes in evaluation order, versions with their weighted
 * backends.
 *
 * <p>Immutable. A new table is built from each config snapshot and swapped in whole; requests in
 * flight keep the table they started with. Load and health records of backends and the retry
 * budgets of routes carry over from the previous table by name, so a config change does not forget
 * which backends are busy or ejected.
 */
public final class RouteTable {
  /** The table of a node that serves nothing. */
  public static final RouteTable EMPTY =
      new RouteTable(ImmutableMap.of(), ImmutableList.of(), ImmutableMap.of(), ImmutableList.of());

  private final ImmutableMap<String, ModelEntry> modelsByAnyName;
  private final ImmutableList<ModelEntry> models;
  private final ImmutableMap<String, BackendEntry> backends;
  private final ImmutableList<RouteEntry> routes;

  private RouteTable(
      ImmutableMap<String, ModelEntry> modelsByAnyName,
      ImmutableList<ModelEntry> models,
      ImmutableMap<String, BackendEntry> backends,
      ImmutableList<RouteEntry> routes) {
    this.modelsByAnyName = modelsByAnyName;
    this.models = models;
    this.backends = backends;
    this.routes = routes;
  }

  /**
   * Builds the table from the backends, models and routes among {@code resources} (other kinds are
   * ignored), reusing the load records and retry budgets of {@code previous}.
   *
   * @throws IllegalArgumentException when the resources cannot be served: a dangling reference, a
   *     duplicate name or alias, a missing upstream model, an invalid regular expression. The
   *     message names the resource and field.
   */
  public static RouteTable build(Iterable<Resource> resources, @Nullable RouteTable previous) {
    List<Backend> backendResources = new ArrayList<>();
    List<Model> modelResources = new ArrayList<>();
    List<Route> routeResources = new ArrayList<>();
    for (Resource resource : resources) {
      switch (resource.getKindCase()) {
        case BACKEND:
          backendResources.add(resource.getBackend());
          break;
        case MODEL:
          modelResources.add(resource.getModel());
          break;
        case ROUTE:
          routeResources.add(resource.getRoute());
          break;
        default:
          break;
      }
    }

    Map<String, BackendEntry> backends = new LinkedHashMap<>();
    for (Backend backend : backendResources) {
      String where = "backend " + backend.getName();
      if (backend.getKind() == BackendKind.BACKEND_KIND_UNSPECIFIED
          || backend.getKind() == BackendKind.UNRECOGNIZED) {
        throw new IllegalArgumentException(where + ": kind: unspecified or unknown");
      }
      BackendEntry old = previous == null ? null : previous.backends.get(backend.getName());
      BackendLoad load = old == null ? new BackendLoad() : old.load();
      if (backends.put(backend.getName(), new BackendEntry(backend, load)) != null) {
        throw new IllegalArgumentException(where + ": duplicate name");
      }
    }

    Map<String, ModelEntry> byAnyName = new HashMap<>();
    List<ModelEntry> models = new ArrayList<>();
    for (Model model : modelResources) {
      ModelEntry entry = modelEntry(model, backends);
      models.add(entry);
      if (byAnyName.put(model.getName(), entry) != null) {
        throw new IllegalArgumentException(
            "model " + model.getName() + ": duplicate name or alias");
      }
    }
    for (ModelEntry entry : models) {
      for (String alias : entry.model().getAliasesList()) {
        if (byAnyName.put(alias, entry) != null) {
          throw new IllegalArgumentException(
              "model "
                  + entry.name()
                  + ": aliases: "
                  + alias
                  + " is already a model name or alias");
        }
      }
    }
    models.sort(Comparator.comparing(ModelEntry::name));

    List<RouteEntry> routes = new ArrayList<>();
    Map<String, RetryBudget> oldBudgets = new HashMap<>();
    if (previous != null) {
      for (RouteEntry route : previous.routes) {
        oldBudgets.put(route.name(), route.budget());
      }
    }
    Set<String> routeNames = new HashSet<>();
    for (Route route : routeResources) {
      if (!routeNames.add(route.getName())) {
        throw new IllegalArgumentException("route " + route.getName() + ": duplicate name");
      }
      checkDestinations(route, route.getDestinationsList(), "destinations", byAnyName);
      checkDestinations(route, route.getFallbacksList(), "fallbacks", byAnyName);
      RetryBudget budget = oldBudgets.getOrDefault(route.getName(), new RetryBudget());
      routes.add(new RouteEntry(route, budget));
    }
    routes.sort(
        Comparator.comparingInt(RouteEntry::priority).reversed().thenComparing(RouteEntry::name));

    return new RouteTable(
        ImmutableMap.copyOf(byAnyName),
        ImmutableList.copyOf(models),
        ImmutableMap.copyOf(backends),
        ImmutableList.copyOf(routes));
  }

  private static ModelEntry modelEntry(Model model, Map<String, BackendEntry> backends) {
    String where = "model " + model.getName();
    if (model.getVersionsCount() == 0) {
      throw new IllegalArgumentException(where + ": versions: empty (expected: at least one)");
    }
    Map<String, VersionEntry> versions = new LinkedHashMap<>();
    for (int v = 0; v < model.getVersionsCount(); v++) {
      ModelVersion version = model.getVersions(v);
      String versionWhere = where + ": versions[" + v + "]";
      if (version.getBackendsCount() == 0) {
        throw new IllegalArgumentException(
            versionWhere + ".backends: empty (expected: at least one)");
      }
      boolean allZero = version.getBackendsList().stream().allMatch(b -> b.getWeight() == 0);
      ImmutableList.Builder<Endpoint> endpoints = ImmutableList.builder();
      Set<String> seen = new HashSet<>();
      for (int b = 0; b < version.getBackendsCount(); b++) {
        BackendTarget target = version.getBackends(b);
        String targetWhere = versionWhere + ".backends[" + b + "]";
        BackendEntry backend = backends.get(target.getBackend());
        if (backend == null) {
          throw new IllegalArgumentException(
              targetWhere + ".backend: " + target.getBackend() + " does not exist");
        }
        if (!seen.add(target.getBackend())) {
          throw new IllegalArgumentException(
              targetWhere + ".backend: " + target.getBackend() + " is listed twice");
        }
        if (target.getWeight() < 0 || target.getWeight() > 1000) {
          throw new IllegalArgumentException(
              targetWhere + ".weight: " + target.getWeight() + " (expected: 0 to 1000)");
        }
        String upstreamModel =
            target.getUpstreamModel().isEmpty()
                ? version.getUpstreamModel()
                : target.getUpstreamModel();
        if (upstreamModel.isEmpty()
            && backend.backend().getKind() != BackendKind.BACKEND_KIND_MOCK) {
          throw new IllegalArgumentException(
              targetWhere + ".upstream_model: empty, and so is the version's upstream_model");
        }
        endpoints.add(
            new Endpoint(
                backend,
                new UpstreamTarget(backend.backend(), upstreamModel),
                allZero ? 1 : target.getWeight()));
      }
      if (versions.put(
              version.getName(),
              new VersionEntry(
                  model.getName(),
                  version.getName(),
                  endpoints.build(),
                  version.getLoadBalancing()))
          != null) {
        throw new IllegalArgumentException(
            versionWhere + ".name: " + version.getName() + " is used twice");
      }
    }
    VersionEntry defaultVersion =
        model.getDefaultVersion().isEmpty()
            ? versions.values().iterator().next()
            : versions.get(model.getDefaultVersion());
    if (defaultVersion == null) {
      throw new IllegalArgumentException(
          where + ": default_version: " + model.getDefaultVersion() + " is not a version");
    }
    return new ModelEntry(model, ImmutableMap.copyOf(versions), defaultVersion);
  }

  private static void checkDestinations(
      Route route,
      List<RouteDestination> destinations,
      String field,
      Map<String, ModelEntry> models) {
    for (int i = 0; i < destinations.size(); i++) {
      RouteDestination d = destinations.get(i);
      String where = "route " + route.getName() + ": " + field + "[" + i + "]";
      if (d.getWeight() < 0 || d.getWeight() > 1000) {
        throw new IllegalArgumentException(
            where + ".weight: " + d.getWeight() + " (expected: 0 to 1000)");
      }
      List<String> targets =
          d.getModel().isEmpty() ? route.getMatch().getModelsList() : List.of(d.getModel());
      for (String name : targets) {
        ModelEntry model = models.get(name);
        if (model == null) {
          throw new IllegalArgumentException(where + ".model: " + name + " does not exist");
        }
        if (!d.getModelVersion().isEmpty() && model.version(d.getModelVersion()) == null) {
          throw new IllegalArgumentException(
              where + ".model_version: " + d.getModelVersion() + " is not a version of " + name);
        }
      }
    }
  }

  /**
   * The route a request for {@code model} takes: the first, in priority order, whose match
   * succeeds; null when none does.
   */
  @Nullable RouteEntry match(ModelEntry model, RoutingContext context) {
    for (RouteEntry route : routes) {
      if (route.matches(model.name(), context.consumer(), context.tenant(), context.headers())) {
        return route;
      }
    }
    return null;
  }

  /**
   * Names of the RateLimitPolicy resources of the route a request for {@code model} takes (the same
   * route the router will plan it on, since both match against this table); empty when no route
   * matches or the route names none. Lets rate limits be checked before the router is called.
   */
  public ImmutableList<String> rateLimitPolicies(ModelEntry model, RoutingContext context) {
    RouteEntry route = match(model, context);
    return route == null ? ImmutableList.of() : route.rateLimitPolicies();
  }

  /** The model named {@code nameOrAlias}, or null when there is none. */
  public @Nullable ModelEntry model(String nameOrAlias) {
    return modelsByAnyName.get(nameOrAlias);
  }

  /** Every model, in name order. */
  public ImmutableList<ModelEntry> models() {
    return models;
  }

  ImmutableList<RouteEntry> routes() {
    return routes;
  }

  @Nullable BackendEntry backend(String name) {
    return backends.get(name);
  }
}
