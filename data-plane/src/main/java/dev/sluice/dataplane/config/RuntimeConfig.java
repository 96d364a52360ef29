package dev.sluice.dataplane.config;

import static java.util.Objects.requireNonNull;

import com.google.common.collect.ImmutableMap;
import dev.sluice.config.v1.Backend;
import dev.sluice.config.v1.BackendKind;
import dev.sluice.config.v1.ConfigSnapshot;
import dev.sluice.config.v1.PromptTemplate;
import dev.sluice.config.v1.RateLimitPolicy;
import dev.sluice.config.v1.Resource;
import dev.sluice.dataplane.auth.AccessTable;
import dev.sluice.dataplane.ratelimit.RateLimitTable;
import dev.sluice.dataplane.routing.ProviderLookup;
import dev.sluice.dataplane.routing.RouteTable;
import dev.sluice.discovery.v1.ConfigSource;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.jspecify.annotations.Nullable;

/**
 * Everything a data plane serves from one config version: the routing table (models, versions,
 * backends, routes), the access table (API keys, consumers), the rate-limit table and the prompt
 * templates, built and validated from a {@link ConfigSnapshot}.
 *
 * <p>Immutable. The node holds exactly one current instance (see {@link ServingConfig}); a request
 * reads it once when it arrives and keeps it to the end, so a config change never alters a request
 * in flight.
 */
public final class RuntimeConfig {
  private final String versionInfo;
  private final ConfigSnapshot snapshot;
  private final ConfigSource source;
  private final RouteTable routes;
  private final AccessTable access;
  private final RateLimitTable rateLimits;
  private final ImmutableMap<String, PromptTemplate> templates;

  private RuntimeConfig(
      String versionInfo,
      ConfigSnapshot snapshot,
      ConfigSource source,
      RouteTable routes,
      AccessTable access,
      RateLimitTable rateLimits,
      ImmutableMap<String, PromptTemplate> templates) {
    this.versionInfo = versionInfo;
    this.snapshot = snapshot;
    this.source = source;
    this.routes = routes;
    this.access = access;
    this.rateLimits = rateLimits;
    this.templates = templates;
  }

  /**
   * Builds the runtime config of {@code snapshot}.
   *
   * @param versionInfo the discovery version, {@code <epoch>.<version>}
   * @param source where the snapshot came from
   * @param previous the config served now, whose backend load records and retry budgets carry over;
   *     null when none is served
   * @param providers the adapters this node calls backends through; a backend of a kind it has none
   *     for makes the snapshot unservable
   * @throws IllegalArgumentException when the snapshot cannot be served; the message names the
   *     resource and field
   */
  public static RuntimeConfig build(
      String versionInfo,
      ConfigSnapshot snapshot,
      ConfigSource source,
      @Nullable RuntimeConfig previous,
      ProviderLookup providers) {
    requireNonNull(versionInfo, "versionInfo");
    requireNonNull(snapshot, "snapshot");
    requireNonNull(source, "source");
    requireNonNull(providers, "providers");
    checkBackendKinds(snapshot.getResourcesList(), providers);
    RouteTable routes =
        RouteTable.build(snapshot.getResourcesList(), previous == null ? null : previous.routes);
    // JWKS fetched for a jwks_uri carry over, as backend load does: a push must not drop them.
    AccessTable access =
        AccessTable.build(snapshot.getResourcesList(), previous == null ? null : previous.access);
    RateLimitTable rateLimits = rateLimits(snapshot.getResourcesList());
    Map<String, PromptTemplate> templates = new HashMap<>();
    for (Resource resource : snapshot.getResourcesList()) {
      if (resource.hasPromptTemplate()
          && templates.put(resource.getPromptTemplate().getName(), resource.getPromptTemplate())
              != null) {
        throw new IllegalArgumentException(
            "prompt template " + resource.getPromptTemplate().getName() + ": duplicate name");
      }
    }
    return new RuntimeConfig(
        versionInfo, snapshot, source, routes, access, rateLimits, ImmutableMap.copyOf(templates));
  }

  /**
   * Refuses a snapshot with a backend of a kind this node has no adapter for. The control plane
   * accepts every kind its own build knows, and a fleet is upgraded one node at a time, so a
   * control plane newer than some data planes can hand them a backend kind they cannot call (or one
   * whose number their build does not even know). Refusing the whole snapshot turns that version
   * skew into a NACK the operator sees in the fleet status, while the node keeps serving its last
   * good config; accepting it would only fail the backend's calls later, one by one. (An
   * unspecified kind is an invalid config, not skew: the route table reports it.)
   */
  private static void checkBackendKinds(List<Resource> resources, ProviderLookup providers) {
    List<String> errors = new ArrayList<>();
    for (Resource resource : resources) {
      if (!resource.hasBackend()) {
        continue;
      }
      Backend backend = resource.getBackend();
      BackendKind kind = backend.getKind();
      if (kind == BackendKind.BACKEND_KIND_UNSPECIFIED) {
        continue;
      }
      String name =
          kind == BackendKind.UNRECOGNIZED
              ? "backend kind number " + backend.getKindValue()
              : kind.name();
      if (kind == BackendKind.UNRECOGNIZED || !providers.supports(kind)) {
        errors.add(
            "backend "
                + backend.getName()
                + ": kind: "
                + name
                + " is not supported by this data plane build");
      }
    }
    if (!errors.isEmpty()) {
      throw new IllegalArgumentException(String.join("; ", errors));
    }
  }

  /**
   * Compiles the RateLimitPolicy resources and checks that every policy a Route or Consumer names
   * exists. A dangling name is rejected here rather than ignored at admission: ignoring it would
   * quietly lift a limit the operator believes is in force.
   */
  private static RateLimitTable rateLimits(List<Resource> resources) {
    List<RateLimitPolicy> policies = new ArrayList<>();
    for (Resource resource : resources) {
      if (resource.hasRateLimitPolicy()) {
        policies.add(resource.getRateLimitPolicy());
      }
    }
    RateLimitTable table = RateLimitTable.compile(policies);
    Set<String> known = table.policyNames();
    List<String> errors = new ArrayList<>();
    for (Resource resource : resources) {
      if (resource.hasRoute()) {
        checkReferences(
            "route " + resource.getRoute().getName(),
            resource.getRoute().getRateLimitPoliciesList(),
            known,
            errors);
      } else if (resource.hasConsumer()) {
        checkReferences(
            "consumer " + resource.getConsumer().getName(),
            resource.getConsumer().getRateLimitPoliciesList(),
            known,
            errors);
      }
    }
    if (!errors.isEmpty()) {
      throw new IllegalArgumentException(String.join("; ", errors));
    }
    return table;
  }

  private static void checkReferences(
      String where, List<String> names, Set<String> known, List<String> errors) {
    for (int i = 0; i < names.size(); i++) {
      if (!known.contains(names.get(i))) {
        errors.add(
            where
                + ": rate_limit_policies["
                + i
                + "]: "
                + names.get(i)
                + " is not a RateLimitPolicy");
      }
    }
  }

  /** The same config, reported as coming from {@code newSource}. */
  public RuntimeConfig withSource(ConfigSource newSource) {
    return newSource == source
        ? this
        : new RuntimeConfig(versionInfo, snapshot, newSource, routes, access, rateLimits, templates);
  }

  /** The discovery version, {@code <epoch>.<version>}. */
  public String versionInfo() {
    return versionInfo;
  }

  /** The control plane's digest of the snapshot's content. */
  public String digest() {
    return snapshot.getDigest();
  }

  public ConfigSnapshot snapshot() {
    return snapshot;
  }

  public ConfigSource source() {
    return source;
  }

  public RouteTable routes() {
    return routes;
  }

  public AccessTable access() {
    return access;
  }

  /** The compiled rate-limit policies; {@link RateLimitTable#isEmpty() empty} when there are none. */
  public RateLimitTable rateLimits() {
    return rateLimits;
  }

  /** The prompt template named {@code name}, or null when there is none. */
  public @Nullable PromptTemplate promptTemplate(String name) {
    return templates.get(name);
  }

  @Override
  public String toString() {
    return "RuntimeConfig{version="
        + versionInfo
        + ", digest="
        + digest()
        + ", source="
        + source
        + "}";
  }
}
