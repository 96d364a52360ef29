package dev.sluice.controlplane.validation;

import static dev.sluice.controlplane.validation.FieldRules.quote;

import com.google.common.collect.ImmutableList;
import com.google.common.collect.ImmutableSet;
import com.google.common.collect.Sets;
import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import com.google.protobuf.util.Durations;
import dev.sluice.config.v1.ApiKey;
import dev.sluice.config.v1.ApiKeyHashAlgorithm;
import dev.sluice.config.v1.Backend;
import dev.sluice.config.v1.BackendKind;
import dev.sluice.config.v1.BackendTarget;
import dev.sluice.config.v1.Consumer;
import dev.sluice.config.v1.Header;
import dev.sluice.config.v1.HeaderMatch;
import dev.sluice.config.v1.JwtAlgorithm;
import dev.sluice.config.v1.JwtIssuer;
import dev.sluice.config.v1.LoadBalancingPolicy;
import dev.sluice.config.v1.Model;
import dev.sluice.config.v1.ModelVersion;
import dev.sluice.config.v1.PromptTemplate;
import dev.sluice.config.v1.RateLimit;
import dev.sluice.config.v1.RateLimitDimension;
import dev.sluice.config.v1.RateLimitMetric;
import dev.sluice.config.v1.RateLimitMode;
import dev.sluice.config.v1.RateLimitPolicy;
import dev.sluice.config.v1.Resource;
import dev.sluice.config.v1.RetryCondition;
import dev.sluice.config.v1.RetryPolicy;
import dev.sluice.config.v1.Route;
import dev.sluice.config.v1.RouteDestination;
import dev.sluice.config.v1.RouteMatch;
import dev.sluice.config.v1.StickinessKey;
import dev.sluice.controlplane.store.ResourceKey;
import dev.sluice.type.v1.ModelCapability;
import java.time.Duration;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;
import org.jspecify.annotations.Nullable;

/**
 * Sluice's config rules, as documented in the comments of {@code sluice/config/v1/*.proto}. One
 * method per kind; cross-resource rules use an {@link Index} built once per validation.
 */
final class StandardConfigValidator implements ConfigValidator {
  private static final Pattern ALIAS = Pattern.compile("[A-Za-z0-9._:/@-]{1,128}");
  private static final Pattern TEMPLATE_VARIABLE =
      Pattern.compile("\\{\\{\\s*([A-Za-z_][A-Za-z0-9_]*)\\s*}}");
  private static final Pattern GEMINI_API_VERSION = Pattern.compile("v[0-9a-z]{1,31}");
  private static final Pattern VERSION_TOKEN = Pattern.compile("[A-Za-z0-9._-]{1,64}");
  private static final Duration DAY = Duration.ofDays(1);
  private static final Duration TEN_MINUTES = Duration.ofMinutes(10);
  private static final int MAX_TEMPLATE_BYTES = 64 * 1024;
  private static final int MAX_UPSTREAM_MODEL_CHARS = 256;
  private static final int MAX_WEIGHT = 1000;
  private static final Set<Long> WINDOW_SECONDS = Set.of(1L, 60L, 3600L, 86400L);

  /**
   * The JWT algorithms data planes of this build verify (see the data plane's {@code JwtIssuers}).
   * Listed rather than derived from the enum: a value added to the API reaches this build's enum
   * before any data plane can verify it, and a JwtIssuer naming it would be NACKed by the fleet.
   */
  static final ImmutableSet<JwtAlgorithm> SUPPORTED_JWT_ALGORITHMS =
      Sets.immutableEnumSet(
          EnumSet.of(
              JwtAlgorithm.JWT_ALGORITHM_RS256,
              JwtAlgorithm.JWT_ALGORITHM_RS384,
              JwtAlgorithm.JWT_ALGORITHM_RS512,
              JwtAlgorithm.JWT_ALGORITHM_PS256,
              JwtAlgorithm.JWT_ALGORITHM_PS384,
              JwtAlgorithm.JWT_ALGORITHM_PS512,
              JwtAlgorithm.JWT_ALGORITHM_ES256,
              JwtAlgorithm.JWT_ALGORITHM_ES384,
              JwtAlgorithm.JWT_ALGORITHM_ES512,
              JwtAlgorithm.JWT_ALGORITHM_EDDSA));

  @Override
  public ImmutableList<Violation> validate(Map<ResourceKey, Resource> config) {
    ImmutableList.Builder<Violation> sink = ImmutableList.builder();
    Index index = new Index(config);
    for (Map.Entry<ResourceKey, Resource> e : new TreeMap<>(config).entrySet()) {
      Issues issues = new Issues(e.getKey(), sink);
      Resource resource = e.getValue();
      if (resource.getKindCase() == Resource.KindCase.KIND_NOT_SET) {
        issues.add("", "the resource has no kind set");
        continue;
      }
      if (!e.getKey().equals(ResourceKey.of(resource))) {
        issues.add("name", "does not match the key " + e.getKey());
      }
      int size = resource.getSerializedSize();
      if (size > MAX_RESOURCE_BYTES) {
        issues.add(
            "", "is " + size + " bytes encoded (expected: at most " + MAX_RESOURCE_BYTES + ")");
      }
      switch (resource.getKindCase()) {
        case BACKEND -> backend(issues, resource.getBackend());
        case MODEL -> model(issues, resource.getModel(), index);
        case ROUTE -> route(issues, resource.getRoute(), index);
        case RATE_LIMIT_POLICY -> rateLimitPolicy(issues, resource.getRateLimitPolicy());
        case CONSUMER -> consumer(issues, resource.getConsumer(), index);
        case API_KEY -> apiKey(issues, resource.getApiKey(), index);
        case PROMPT_TEMPLATE -> promptTemplate(issues, resource.getPromptTemplate());
        case JWT_ISSUER -> jwtIssuer(issues, resource.getJwtIssuer(), index);
        case KIND_NOT_SET -> throw new AssertionError();
      }
    }
    return sink.build();
  }

  private static void common(
      Issues issues, String name, String description, Map<String, String> labels) {
    FieldRules.name(issues, "name", name);
    FieldRules.maxChars(issues, "description", description, MAX_DESCRIPTION_CHARS);
    FieldRules.labels(issues, "labels", labels);
  }

  // ---- Backend

  private static void backend(Issues issues, Backend b) {
    common(issues, b.getName(), b.getDescription(), b.getLabelsMap());
    BackendKind kind = b.getKind();
    if (kind == BackendKind.BACKEND_KIND_UNSPECIFIED || kind == BackendKind.UNRECOGNIZED) {
      issues.add("kind", "required (for example BACKEND_KIND_OPENAI)");
      return;
    }
    boolean needsUrl =
        kind == BackendKind.BACKEND_KIND_OPENAI_COMPATIBLE
            || kind == BackendKind.BACKEND_KIND_SLUICE_GRPC;
    if (b.getBaseUrl().isEmpty()) {
      if (needsUrl) {
        issues.add("base_url", "required for " + kind.name());
      }
    } else {
      FieldRules.httpUrl(issues, "base_url", b.getBaseUrl(), false);
    }
    if (b.getH2C()) {
      if (kind == BackendKind.BACKEND_KIND_MOCK || kind == BackendKind.BACKEND_KIND_SLUICE_GRPC) {
        issues.add("h2c", "applies only to HTTP backends, not " + kind.name());
      } else if (!b.getBaseUrl().startsWith("http://")) {
        issues.add("h2c", "needs an http base_url; over https, TLS ALPN chooses HTTP/2");
      }
    }
    boolean needsKey =
        kind == BackendKind.BACKEND_KIND_OPENAI
            || kind == BackendKind.BACKEND_KIND_ANTHROPIC
            || kind == BackendKind.BACKEND_KIND_GEMINI;
    if (b.hasApiKey()) {
      FieldRules.secretRef(issues, "api_key", b.getApiKey());
    } else if (needsKey) {
      issues.add("api_key", "required for " + kind.name() + " (a secret reference)");
    }
    headers(issues, b);
    if (b.hasTimeouts()) {
      var t = b.getTimeouts();
      if (t.hasConnectTimeout()) {
        FieldRules.positiveDuration(
            issues, "timeouts.connect_timeout", t.getConnectTimeout(), TEN_MINUTES);
      }
      if (t.hasRequestTimeout()) {
        FieldRules.positiveDuration(issues, "timeouts.request_timeout", t.getRequestTimeout(), DAY);
      }
      if (t.hasStreamIdleTimeout()) {
        FieldRules.positiveDuration(
            issues, "timeouts.stream_idle_timeout", t.getStreamIdleTimeout(), DAY);
      }
    }
    if (b.getMaxConcurrentRequests() < 0) {
      issues.add(
          "max_concurrent_requests",
          b.getMaxConcurrentRequests() + " (expected: >= 0; 0 means unlimited)");
    }
    if (b.hasTls()) {
      tls(issues, b);
    }
    if (b.hasOutlierDetection()) {
      var o = b.getOutlierDetection();
      if (o.getConsecutiveFailures() < 0) {
        issues.add(
            "outlier_detection.consecutive_failures",
            o.getConsecutiveFailures() + " (expected: >= 0)");
      }
      if (o.hasBaseEjectionTime()) {
        FieldRules.positiveDuration(
            issues, "outlier_detection.base_ejection_time", o.getBaseEjectionTime(), DAY);
      }
      if (o.hasMaxEjectionTime()) {
        FieldRules.positiveDuration(
            issues, "outlier_detection.max_ejection_time", o.getMaxEjectionTime(), DAY);
      }
      if (o.hasBaseEjectionTime()
          && o.hasMaxEjectionTime()
          && Durations.isValid(o.getBaseEjectionTime())
          && Durations.isValid(o.getMaxEjectionTime())
          && Durations.compare(o.getBaseEjectionTime(), o.getMaxEjectionTime()) > 0) {
        issues.add(
            "outlier_detection.max_ejection_time",
            "is shorter than base_ejection_time "
                + Durations.toString(o.getBaseEjectionTime()));
      }
    }
    settings(issues, b);
  }

  private static void headers(Issues issues, Backend b) {
    FieldRules.maxCount(issues, "headers", b.getHeadersList(), 32);
    Set<String> seen = new HashSet<>();
    for (int i = 0; i < b.getHeadersCount(); i++) {
      Header h = b.getHeaders(i);
      String field = "headers[" + i + "]";
      String name = h.getName();
      if (name.isEmpty()) {
        issues.add(field + ".name", "required");
      } else if (name.startsWith(":")) {
        issues.add(field + ".name", quote(name) + " is a pseudo-header, which cannot be set");
      } else if (!FieldRules.HEADER_NAME.matcher(name).matches() || name.length() > 256) {
        issues.add(field + ".name", quote(name) + " is not a lower-case header name");
      } else if (FieldRules.RESERVED_HEADERS.contains(name)) {
        issues.add(field + ".name", quote(name) + " is managed by the gateway and cannot be set");
      } else if (name.equals("authorization") && b.hasApiKey()) {
        issues.add(
            field + ".name", "'authorization' can be set only when api_key is unset");
      } else if (!seen.add(name)) {
        issues.add(field + ".name", "duplicate header " + quote(name));
      }
      switch (h.getValueCase()) {
        case PLAIN -> {
          if (FieldRules.CREDENTIAL_HEADERS.contains(name)) {
            issues.add(
                field + ".plain",
                quote(name) + " carries a credential: use secret (a secret reference) instead");
          } else if (h.getPlain().chars().anyMatch(c -> c == '\r' || c == '\n' || c == 0)) {
            issues.add(field + ".plain", "must not contain CR, LF or NUL");
          } else if (h.getPlain().length() > 8192) {
            issues.add(field + ".plain", "is longer than 8192 characters");
          }
        }
        case SECRET -> FieldRules.secretRef(issues, field + ".secret", h.getSecret());
        case VALUE_NOT_SET -> issues.add(field, "set exactly one of plain and secret");
      }
    }
  }

  private static void tls(Issues issues, Backend b) {
    var tls = b.getTls();
    BackendKind kind = b.getKind();
    if (kind == BackendKind.BACKEND_KIND_MOCK) {
      issues.add("tls", "MOCK backends make no network calls; remove tls");
      return;
    }
    if (b.getBaseUrl().startsWith("http://")) {
      issues.add("tls", "applies only to https base URLs");
    }
    if (!tls.getCaFile().isEmpty()) {
      FieldRules.absolutePath(issues, "tls.ca_file", tls.getCaFile());
    }
    boolean hasCert = !tls.getClientCertificateFile().isEmpty();
    if (hasCert) {
      FieldRules.absolutePath(
          issues, "tls.client_certificate_file", tls.getClientCertificateFile());
      if (!tls.hasClientKey()) {
        issues.add("tls.client_key", "required with client_certificate_file");
      }
    }
    if (tls.hasClientKey()) {
      if (!hasCert) {
        issues.add("tls.client_key", "needs client_certificate_file");
      }
      FieldRules.secretRef(issues, "tls.client_key", tls.getClientKey());
    }
    if (!tls.getServerName().isEmpty()
        && !tls.getServerName().matches("[A-Za-z0-9.-]{1,253}")) {
      issues.add("tls.server_name", quote(tls.getServerName()) + " is not a host name");
    }
  }

  private static void settings(Issues issues, Backend b) {
    BackendKind kind = b.getKind();
    switch (b.getSettingsCase()) {
      case OPENAI -> {
        if (kind != BackendKind.BACKEND_KIND_OPENAI
            && kind != BackendKind.BACKEND_KIND_OPENAI_COMPATIBLE) {
          issues.add(
              "openai",
              "applies only to OPENAI and OPENAI_COMPATIBLE backends, not " + kind.name());
        }
        String v = b.getOpenai().getApiVersion();
        if (!v.isEmpty() && !VERSION_TOKEN.matcher(v).matches()) {
          issues.add("openai.api_version", quote(v) + " is not a version (for example 2024-10-21)");
        }
      }
      case ANTHROPIC -> {
        if (kind != BackendKind.BACKEND_KIND_ANTHROPIC) {
          issues.add("anthropic", "applies only to ANTHROPIC backends, not " + kind.name());
        }
        var a = b.getAnthropic();
        if (!a.getApiVersion().isEmpty() && !VERSION_TOKEN.matcher(a.getApiVersion()).matches()) {
          issues.add(
              "anthropic.api_version",
              quote(a.getApiVersion()) + " is not a version (for example 2023-06-01)");
        }
        FieldRules.maxCount(issues, "anthropic.beta_features", a.getBetaFeaturesList(), 32);
        for (int i = 0; i < a.getBetaFeaturesCount(); i++) {
          if (!VERSION_TOKEN.matcher(a.getBetaFeatures(i)).matches()) {
            issues.add(
                "anthropic.beta_features[" + i + "]",
                quote(a.getBetaFeatures(i)) + " is not a beta feature name");
          }
        }
        FieldRules.unique(issues, "anthropic.beta_features", a.getBetaFeaturesList(), "feature");
      }
      case GEMINI -> {
        if (kind != BackendKind.BACKEND_KIND_GEMINI) {
          issues.add("gemini", "applies only to GEMINI backends, not " + kind.name());
        }
        String v = b.getGemini().getApiVersion();
        if (!v.isEmpty() && !GEMINI_API_VERSION.matcher(v).matches()) {
          issues.add("gemini.api_version", quote(v) + " is not a version (for example v1beta)");
        }
      }
      case MOCK -> {
        if (kind != BackendKind.BACKEND_KIND_MOCK) {
          issues.add("mock", "applies only to MOCK backends, not " + kind.name());
        }
        var m = b.getMock();
        FieldRules.range(
            issues, "mock.tokens_per_response", m.getTokensPerResponse(), 0, 1_000_000);
        if (!Double.isFinite(m.getTokensPerSecond()) || m.getTokensPerSecond() < 0) {
          issues.add("mock.tokens_per_second", m.getTokensPerSecond() + " (expected: >= 0)");
        }
        if (m.hasTimeToFirstToken()) {
          var ttft = m.getTimeToFirstToken();
          if (!Durations.isValid(ttft) || Durations.isNegative(ttft)) {
            issues.add("mock.time_to_first_token", "is not a valid non-negative duration");
          } else if (Durations.toNanos(ttft) > TEN_MINUTES.toNanos()) {
            issues.add(
                "mock.time_to_first_token", Durations.toString(ttft) + " (expected: at most 600s)");
          }
        }
        FieldRules.range(issues, "mock.embedding_dimensions", m.getEmbeddingDimensions(), 0, 8192);
      }
      case SETTINGS_NOT_SET -> {}
    }
  }

  // ---- Model

  private static void model(Issues issues, Model m, Index index) {
    common(issues, m.getName(), m.getDescription(), m.getLabelsMap());
    FieldRules.maxCount(issues, "aliases", m.getAliasesList(), 32);
    for (int i = 0; i < m.getAliasesCount(); i++) {
      String alias = m.getAliases(i);
      String field = "aliases[" + i + "]";
      if (!ALIAS.matcher(alias).matches()) {
        issues.add(
            field,
            quote(alias) + " is not a valid alias (expected: 1 to 128 characters of A-Z, a-z, 0-9"
                + " and ._:/@-)");
        continue;
      }
      if (alias.equals(m.getName())) {
        // The model's own name is already one of its public names; data planes index names and
        // aliases in one namespace and refuse the duplicate, so it must not get this far.
        issues.add(field, quote(alias) + " is the model's own name (an alias is another name)");
        continue;
      }
      String owner = index.publicNameOwner(alias);
      if (!m.getName().equals(owner)) {
        issues.add(field, quote(alias) + " is already a name or alias of model " + quote(owner));
      }
    }
    FieldRules.unique(issues, "aliases", m.getAliasesList(), "alias");
    for (int i = 0; i < m.getGroupsCount(); i++) {
      FieldRules.name(issues, "groups[" + i + "]", m.getGroups(i));
    }
    FieldRules.unique(issues, "groups", m.getGroupsList(), "group");
    if (m.getVersionsCount() == 0) {
      issues.add("versions", "at least one version is required");
    }
    Set<String> versionNames = new HashSet<>();
    for (int i = 0; i < m.getVersionsCount(); i++) {
      modelVersion(issues, "versions[" + i + "]", m.getVersions(i), versionNames, index);
    }
    if (!m.getDefaultVersion().isEmpty() && !versionNames.contains(m.getDefaultVersion())) {
      issues.add(
          "default_version", "names no version of this model: " + quote(m.getDefaultVersion()));
    }
    for (int i = 0; i < m.getCapabilitiesCount(); i++) {
      ModelCapability c = m.getCapabilities(i);
      if (c == ModelCapability.MODEL_CAPABILITY_UNSPECIFIED || c == ModelCapability.UNRECOGNIZED) {
        issues.add("capabilities[" + i + "]", "is not a capability");
      }
    }
    FieldRules.unique(issues, "capabilities", m.getCapabilitiesList(), "capability");
    if (m.getContextWindowTokens() < 0) {
      issues.add("context_window_tokens", m.getContextWindowTokens() + " (expected: >= 0)");
    }
    if (m.getMaxOutputTokens() < 0) {
      issues.add("max_output_tokens", m.getMaxOutputTokens() + " (expected: >= 0)");
    }
    if (m.getContextWindowTokens() > 0 && m.getMaxOutputTokens() > m.getContextWindowTokens()) {
      issues.add(
          "max_output_tokens",
          m.getMaxOutputTokens()
              + " (expected: at most context_window_tokens "
              + m.getContextWindowTokens()
              + ")");
    }
  }

  private static void modelVersion(
      Issues issues, String field, ModelVersion v, Set<String> versionNames, Index index) {
    FieldRules.name(issues, field + ".name", v.getName());
    if (!v.getName().isEmpty() && !versionNames.add(v.getName())) {
      issues.add(field + ".name", "duplicate version " + quote(v.getName()));
    }
    FieldRules.maxChars(
        issues, field + ".upstream_model", v.getUpstreamModel(), MAX_UPSTREAM_MODEL_CHARS);
    if (v.getLoadBalancing() == LoadBalancingPolicy.UNRECOGNIZED) {
      issues.add(field + ".load_balancing", "is not a load-balancing policy");
    }
    if (v.getBackendsCount() == 0) {
      issues.add(field + ".backends", "at least one backend is required");
    }
    Set<String> backends = new HashSet<>();
    for (int j = 0; j < v.getBackendsCount(); j++) {
      BackendTarget t = v.getBackends(j);
      String tf = field + ".backends[" + j + "]";
      if (t.getBackend().isEmpty()) {
        issues.add(tf + ".backend", "required");
      } else if (!index.backends.contains(t.getBackend())) {
        issues.add(tf + ".backend", "no backend named " + quote(t.getBackend()));
      } else if (!backends.add(t.getBackend())) {
        issues.add(tf + ".backend", "duplicate backend " + quote(t.getBackend()));
      }
      FieldRules.maxChars(
          issues, tf + ".upstream_model", t.getUpstreamModel(), MAX_UPSTREAM_MODEL_CHARS);
      if (t.getUpstreamModel().isEmpty() && v.getUpstreamModel().isEmpty()) {
        issues.add(
            tf + ".upstream_model", "required when the version sets no upstream_model");
      }
      FieldRules.range(issues, tf + ".weight", t.getWeight(), 0, MAX_WEIGHT);
    }
  }

  // ---- Route

  private static void route(Issues issues, Route r, Index index) {
    common(issues, r.getName(), r.getDescription(), r.getLabelsMap());
    List<String> matchedModels = List.of();
    if (r.hasMatch()) {
      RouteMatch match = r.getMatch();
      matchedModels = match.getModelsList();
      for (int i = 0; i < match.getModelsCount(); i++) {
        String model = match.getModels(i);
        String field = "match.models[" + i + "]";
        if (index.models.containsKey(model)) {
          continue;
        }
        String owner = index.aliasOwner(model);
        if (owner != null) {
          issues.add(field, quote(model) + " is an alias; use the model name " + quote(owner));
        } else {
          issues.add(field, "no model named " + quote(model));
        }
      }
      FieldRules.unique(issues, "match.models", match.getModelsList(), "model");
      for (int i = 0; i < match.getHeadersCount(); i++) {
        headerMatch(issues, "match.headers[" + i + "]", match.getHeaders(i));
      }
      for (int i = 0; i < match.getConsumersCount(); i++) {
        String consumer = match.getConsumers(i);
        if (!index.consumers.contains(consumer)) {
          issues.add("match.consumers[" + i + "]", "no consumer named " + quote(consumer));
        }
      }
      FieldRules.unique(issues, "match.consumers", match.getConsumersList(), "consumer");
      for (int i = 0; i < match.getTenantsCount(); i++) {
        FieldRules.name(issues, "match.tenants[" + i + "]", match.getTenants(i));
      }
      FieldRules.unique(issues, "match.tenants", match.getTenantsList(), "tenant");
    }
    FieldRules.maxCount(issues, "destinations", r.getDestinationsList(), 16);
    Set<String> destinations = new HashSet<>();
    for (int i = 0; i < r.getDestinationsCount(); i++) {
      RouteDestination d = r.getDestinations(i);
      String field = "destinations[" + i + "]";
      destination(issues, field, d, matchedModels, index);
      FieldRules.range(issues, field + ".weight", d.getWeight(), 0, MAX_WEIGHT);
      if (!destinations.add(index.canonical(d.getModel()) + "\n" + d.getModelVersion())) {
        issues.add(field, "duplicate destination (same model and version as an earlier one)");
      }
    }
    if (r.hasStickiness()) {
      var s = r.getStickiness();
      if (s.getKey() == StickinessKey.UNRECOGNIZED) {
        issues.add("stickiness.key", "is not a stickiness key");
      } else if (s.getKey() == StickinessKey.STICKINESS_KEY_HEADER) {
        if (s.getHeader().isEmpty()) {
          issues.add("stickiness.header", "required with STICKINESS_KEY_HEADER");
        } else if (!FieldRules.HEADER_NAME.matcher(s.getHeader()).matches()) {
          issues.add(
              "stickiness.header", quote(s.getHeader()) + " is not a lower-case header name");
        }
      } else if (!s.getHeader().isEmpty()) {
        issues.add("stickiness.header", "set only with STICKINESS_KEY_HEADER");
      }
    }
    FieldRules.maxCount(issues, "fallbacks", r.getFallbacksList(), 8);
    for (int i = 0; i < r.getFallbacksCount(); i++) {
      RouteDestination d = r.getFallbacks(i);
      destination(issues, "fallbacks[" + i + "]", d, matchedModels, index);
      FieldRules.range(issues, "fallbacks[" + i + "].weight", d.getWeight(), 0, MAX_WEIGHT);
    }
    retryConditions(issues, "fallback_on", r.getFallbackOnList());
    if (r.getFallbackOnCount() > 0 && r.getFallbacksCount() == 0) {
      issues.add("fallback_on", "has no effect without fallbacks");
    }
    if (r.hasRetryPolicy()) {
      retryPolicy(issues, r.getRetryPolicy());
    }
    if (r.hasTimeout()) {
      FieldRules.positiveDuration(issues, "timeout", r.getTimeout(), DAY);
    }
    for (int i = 0; i < r.getRateLimitPoliciesCount(); i++) {
      String policy = r.getRateLimitPolicies(i);
      if (!index.policies.contains(policy)) {
        issues.add("rate_limit_policies[" + i + "]", "no rate limit policy named " + quote(policy));
      }
    }
    FieldRules.unique(issues, "rate_limit_policies", r.getRateLimitPoliciesList(), "policy");
  }

  private static void destination(
      Issues issues, String field, RouteDestination d, List<String> matchedModels, Index index) {
    String version = d.getModelVersion();
    if (!d.getModel().isEmpty()) {
      String model = index.canonical(d.getModel());
      if (!index.models.containsKey(model)) {
        issues.add(field + ".model", "no model named " + quote(d.getModel()));
        return;
      }
      if (!version.isEmpty() && !index.hasVersion(model, version)) {
        issues.add(
            field + ".model_version",
            "model " + quote(model) + " has no version " + quote(version));
      }
      return;
    }
    if (version.isEmpty()) {
      return;
    }
    if (matchedModels.isEmpty()) {
      issues.add(
          field + ".model_version",
          "needs model, or match.models, to say which model's version " + quote(version) + " is");
      return;
    }
    for (String matched : matchedModels) {
      if (index.models.containsKey(matched) && !index.hasVersion(matched, version)) {
        issues.add(
            field + ".model_version",
            "matched model " + quote(matched) + " has no version " + quote(version));
      }
    }
  }

  private static void headerMatch(Issues issues, String field, HeaderMatch h) {
    if (h.getName().isEmpty()) {
      issues.add(field + ".name", "required");
    } else if (!FieldRules.HEADER_NAME.matcher(h.getName()).matches()) {
      issues.add(field + ".name", quote(h.getName()) + " is not a lower-case header name");
    }
    if (h.getValueMatchCase() == HeaderMatch.ValueMatchCase.REGEX) {
      try {
        Pattern.compile(h.getRegex());
      } catch (PatternSyntaxException e) {
        issues.add(field + ".regex", "is not a valid regular expression: " + e.getDescription());
      }
      if (h.getRegex().length() > 1024) {
        issues.add(field + ".regex", "is longer than 1024 characters");
      }
    }
  }

  private static void retryConditions(Issues issues, String field, List<RetryCondition> conditions) {
    for (int i = 0; i < conditions.size(); i++) {
      RetryCondition c = conditions.get(i);
      if (c == RetryCondition.RETRY_CONDITION_UNSPECIFIED || c == RetryCondition.UNRECOGNIZED) {
        issues.add(field + "[" + i + "]", "is not a retry condition");
      }
    }
    FieldRules.unique(issues, field, conditions, "condition");
  }

  private static void retryPolicy(Issues issues, RetryPolicy p) {
    FieldRules.range(issues, "retry_policy.max_attempts", p.getMaxAttempts(), 0, 5);
    if (p.hasPerTryTimeout()) {
      FieldRules.positiveDuration(
          issues, "retry_policy.per_try_timeout", p.getPerTryTimeout(), DAY);
    }
    retryConditions(issues, "retry_policy.retry_on", p.getRetryOnList());
    if (p.hasBackoffBaseInterval()) {
      FieldRules.positiveDuration(
          issues, "retry_policy.backoff_base_interval", p.getBackoffBaseInterval(), TEN_MINUTES);
    }
    if (p.hasBackoffMaxInterval()) {
      FieldRules.positiveDuration(
          issues, "retry_policy.backoff_max_interval", p.getBackoffMaxInterval(), TEN_MINUTES);
    }
    if (p.hasBackoffBaseInterval()
        && p.hasBackoffMaxInterval()
        && Durations.isValid(p.getBackoffBaseInterval())
        && Durations.isValid(p.getBackoffMaxInterval())
        && Durations.compare(p.getBackoffBaseInterval(), p.getBackoffMaxInterval()) > 0) {
      issues.add(
          "retry_policy.backoff_max_interval",
          "is shorter than backoff_base_interval "
              + Durations.toString(p.getBackoffBaseInterval()));
    }
    if (p.hasBudget()) {
      double percent = p.getBudget().getBudgetPercent();
      if (!Double.isFinite(percent) || percent < 0 || percent > 100) {
        issues.add("retry_policy.budget.budget_percent", percent + " (expected: 0 to 100)");
      }
      if (p.getBudget().getMinRetriesPerSecond() < 0) {
        issues.add(
            "retry_policy.budget.min_retries_per_second",
            p.getBudget().getMinRetriesPerSecond() + " (expected: >= 0)");
      }
    }
  }

  // ---- RateLimitPolicy

  private static void rateLimitPolicy(Issues issues, RateLimitPolicy p) {
    common(issues, p.getName(), p.getDescription(), p.getLabelsMap());
    for (int i = 0; i < p.getDimensionsCount(); i++) {
      RateLimitDimension d = p.getDimensions(i);
      if (d == RateLimitDimension.RATE_LIMIT_DIMENSION_UNSPECIFIED
          || d == RateLimitDimension.UNRECOGNIZED) {
        issues.add("dimensions[" + i + "]", "is not a dimension");
      }
    }
    FieldRules.unique(issues, "dimensions", p.getDimensionsList(), "dimension");
    if (p.getLimitsCount() == 0) {
      issues.add("limits", "at least one limit is required");
    }
    FieldRules.maxCount(issues, "limits", p.getLimitsList(), 16);
    for (int i = 0; i < p.getLimitsCount(); i++) {
      RateLimit l = p.getLimits(i);
      String field = "limits[" + i + "]";
      if (l.getMetric() == RateLimitMetric.RATE_LIMIT_METRIC_UNSPECIFIED
          || l.getMetric() == RateLimitMetric.UNRECOGNIZED) {
        issues.add(field + ".metric", "required (for example RATE_LIMIT_METRIC_REQUESTS)");
      }
      if (l.getAmount() <= 0) {
        issues.add(field + ".amount", l.getAmount() + " (expected: > 0)");
      }
      if (l.getBurst() < 0 || (l.getAmount() > 0 && l.getBurst() > l.getAmount())) {
        issues.add(
            field + ".burst",
            l.getBurst() + " (expected: 0 for no pacing, or 1 to amount, " + l.getAmount() + ")");
      }
      if (!l.hasWindow()) {
        issues.add(field + ".window", "required: 1s, 60s, 3600s or 86400s");
      } else if (!Durations.isValid(l.getWindow())
          || l.getWindow().getNanos() != 0
          || !WINDOW_SECONDS.contains(l.getWindow().getSeconds())) {
        issues.add(
            field + ".window",
            (Durations.isValid(l.getWindow()) ? Durations.toString(l.getWindow()) : "invalid")
                + " (expected: 1s, 60s, 3600s or 86400s)");
      }
    }
    if (p.getMode() == RateLimitMode.UNRECOGNIZED) {
      issues.add("mode", "is not a rate limit mode");
    }
  }

  // ---- Consumer

  private static void consumer(Issues issues, Consumer c, Index index) {
    common(issues, c.getName(), c.getDescription(), c.getLabelsMap());
    if (!c.getTenant().isEmpty()) {
      FieldRules.name(issues, "tenant", c.getTenant());
    }
    for (int i = 0; i < c.getModelsCount(); i++) {
      String model = c.getModels(i);
      if (!model.equals("*") && index.publicNameOwner(model) == null) {
        issues.add("models[" + i + "]", "no model named " + quote(model) + " (or use '*')");
      }
    }
    FieldRules.unique(issues, "models", c.getModelsList(), "model");
    for (int i = 0; i < c.getModelGroupsCount(); i++) {
      FieldRules.name(issues, "model_groups[" + i + "]", c.getModelGroups(i));
    }
    FieldRules.unique(issues, "model_groups", c.getModelGroupsList(), "group");
    for (int i = 0; i < c.getRateLimitPoliciesCount(); i++) {
      String policy = c.getRateLimitPolicies(i);
      if (!index.policies.contains(policy)) {
        issues.add("rate_limit_policies[" + i + "]", "no rate limit policy named " + quote(policy));
      }
    }
    FieldRules.unique(issues, "rate_limit_policies", c.getRateLimitPoliciesList(), "policy");
  }

  // ---- ApiKey

  private static void apiKey(Issues issues, ApiKey k, Index index) {
    common(issues, k.getName(), k.getDescription(), k.getLabelsMap());
    if (k.getConsumer().isEmpty()) {
      issues.add("consumer", "required");
    } else if (!index.consumers.contains(k.getConsumer())) {
      issues.add("consumer", "no consumer named " + quote(k.getConsumer()));
    }
    if (!k.hasHash()) {
      issues.add("hash", "required (API keys are created with AdminService.CreateApiKey)");
    } else {
      var h = k.getHash();
      if (h.getAlgorithm() != ApiKeyHashAlgorithm.API_KEY_HASH_ALGORITHM_SHA256) {
        issues.add("hash.algorithm", "must be API_KEY_HASH_ALGORITHM_SHA256");
      }
      if (h.getSalt().size() < 16) {
        issues.add("hash.salt", "is " + h.getSalt().size() + " bytes (expected: at least 16)");
      }
      if (h.getDigest().size() != 32) {
        issues.add("hash.digest", "is " + h.getDigest().size() + " bytes (expected: 32)");
      }
    }
    if (k.hasExpireTime()) {
      FieldRules.timestamp(issues, "expire_time", k.getExpireTime());
    }
    if (k.hasCreateTime()) {
      FieldRules.timestamp(issues, "create_time", k.getCreateTime());
    }
  }

  // ---- PromptTemplate

  private static void promptTemplate(Issues issues, PromptTemplate t) {
    common(issues, t.getName(), t.getDescription(), t.getLabelsMap());
    String text = t.getText();
    if (text.isEmpty()) {
      issues.add("text", "required");
    }
    int bytes = FieldRules.utf8Length(text);
    if (bytes > MAX_TEMPLATE_BYTES) {
      issues.add("text", "is " + bytes + " bytes (expected: at most " + MAX_TEMPLATE_BYTES + ")");
      return;
    }
    Set<String> used = new LinkedHashSet<>();
    for (int at = text.indexOf("{{"); at >= 0; at = text.indexOf("{{", at + 2)) {
      if (at > 0 && text.charAt(at - 1) == '\\') {
        continue;
      }
      Matcher m = TEMPLATE_VARIABLE.matcher(text).region(at, text.length());
      if (!m.lookingAt()) {
        issues.add(
            "text",
            "has an invalid variable at character "
                + at
                + " (expected: {{name}} with name matching [A-Za-z_][A-Za-z0-9_]*, or \\{{ for a"
                + " literal)");
        return;
      }
      used.add(m.group(1));
    }
    Map<String, Value> properties = Map.of();
    if (t.hasVariablesSchema()) {
      Struct schema = t.getVariablesSchema();
      Value type = schema.getFieldsMap().get("type");
      if (type != null && !type.getStringValue().equals("object")) {
        issues.add("variables_schema.type", "must be \"object\"");
      }
      Value props = schema.getFieldsMap().get("properties");
      if (props != null) {
        if (!props.hasStructValue()) {
          issues.add("variables_schema.properties", "must be an object");
        } else {
          properties = props.getStructValue().getFieldsMap();
        }
      }
    }
    for (String variable : used) {
      if (!properties.containsKey(variable)) {
        issues.add(
            "variables_schema",
            "does not declare the variable " + quote(variable) + " used in text");
      }
    }
  }

  // ---- JwtIssuer

  private static void jwtIssuer(Issues issues, JwtIssuer j, Index index) {
    common(issues, j.getName(), j.getDescription(), j.getLabelsMap());
    if (j.getIssuer().isEmpty()) {
      issues.add("issuer", "required");
    } else {
      FieldRules.maxChars(issues, "issuer", j.getIssuer(), 1024);
      String owner = index.issuerOwners.get(j.getIssuer());
      if (owner != null && !owner.equals(j.getName())) {
        issues.add("issuer", quote(j.getIssuer()) + " is already the issuer of " + quote(owner));
      }
    }
    if (j.getAudiencesCount() == 0) {
      issues.add("audiences", "at least one audience is required");
    }
    for (int i = 0; i < j.getAudiencesCount(); i++) {
      if (j.getAudiences(i).isEmpty()) {
        issues.add("audiences[" + i + "]", "must not be empty");
      }
      FieldRules.maxChars(issues, "audiences[" + i + "]", j.getAudiences(i), 1024);
    }
    if (j.getAlgorithmsCount() == 0) {
      issues.add("algorithms", "at least one algorithm is required");
    }
    for (int i = 0; i < j.getAlgorithmsCount(); i++) {
      JwtAlgorithm a = j.getAlgorithms(i);
      if (a == JwtAlgorithm.JWT_ALGORITHM_UNSPECIFIED) {
        issues.add("algorithms[" + i + "]", "required (for example JWT_ALGORITHM_RS256)");
      } else if (a == JwtAlgorithm.UNRECOGNIZED) {
        issues.add(
            "algorithms[" + i + "]",
            "algorithm number " + j.getAlgorithmsValue(i) + " is not supported by this build");
      } else if (!SUPPORTED_JWT_ALGORITHMS.contains(a)) {
        issues.add("algorithms[" + i + "]", a.name() + " is not supported by this build");
      }
    }
    FieldRules.unique(issues, "algorithms", j.getAlgorithmsList(), "algorithm");
    switch (j.getJwksSourceCase()) {
      case JWKS_FILE -> FieldRules.absolutePath(issues, "jwks_file", j.getJwksFile());
      case JWKS_URI -> FieldRules.jwksUri(issues, "jwks_uri", j.getJwksUri());
      case JWKSSOURCE_NOT_SET ->
          issues.add("jwks_file", "set exactly one of jwks_file and jwks_uri");
    }
    if (j.hasJwksCacheDuration()) {
      FieldRules.positiveDuration(issues, "jwks_cache_duration", j.getJwksCacheDuration(), DAY);
    }
    if (j.hasClockSkew()) {
      var skew = j.getClockSkew();
      if (!Durations.isValid(skew)
          || Durations.isNegative(skew)
          || Durations.toSeconds(skew) > 300
          || (Durations.toSeconds(skew) == 300 && skew.getNanos() > 0)) {
        issues.add("clock_skew", "must be between 0s and 300s");
      }
    }
    FieldRules.maxChars(issues, "consumer_claim", j.getConsumerClaim(), 256);
  }

  /** Names and cross-references of one config, computed once per validation. */
  private static final class Index {
    final Set<String> backends = new HashSet<>();
    final Map<String, Model> models = new HashMap<>();
    final Set<String> policies = new HashSet<>();
    final Set<String> consumers = new HashSet<>();
    /** Public name (model name or alias) → the model that claims it first, in key order. */
    final Map<String, String> publicNames = new HashMap<>();

    final Map<String, String> issuerOwners = new HashMap<>();

    Index(Map<ResourceKey, Resource> config) {
      TreeMap<ResourceKey, Resource> sorted = new TreeMap<>(config);
      for (Resource r : sorted.values()) {
        switch (r.getKindCase()) {
          case BACKEND -> backends.add(r.getBackend().getName());
          case MODEL -> {
            models.put(r.getModel().getName(), r.getModel());
            publicNames.put(r.getModel().getName(), r.getModel().getName());
          }
          case RATE_LIMIT_POLICY -> policies.add(r.getRateLimitPolicy().getName());
          case CONSUMER -> consumers.add(r.getConsumer().getName());
          case JWT_ISSUER -> issuerOwners.putIfAbsent(r.getJwtIssuer().getIssuer(), r.getJwtIssuer().getName());
          default -> {}
        }
      }
      // Aliases after all names, so a model name always wins over an alias.
      for (Resource r : sorted.values()) {
        if (r.getKindCase() == Resource.KindCase.MODEL) {
          for (String alias : r.getModel().getAliasesList()) {
            publicNames.putIfAbsent(alias, r.getModel().getName());
          }
        }
      }
    }

    /** The model whose name or alias {@code publicName} is, or null. */
    @Nullable String publicNameOwner(String publicName) {
      return publicNames.get(publicName);
    }

    /** The model whose alias (not name) {@code name} is, or null. */
    @Nullable String aliasOwner(String name) {
      return models.containsKey(name) ? null : publicNames.get(name);
    }

    /** The canonical model name of a model name or alias; the input if unknown. */
    String canonical(String publicName) {
      String owner = publicNames.get(publicName);
      return owner == null ? publicName : owner;
    }

    boolean hasVersion(String model, String version) {
      Model m = models.get(model);
      return m != null && m.getVersionsList().stream().anyMatch(v -> v.getName().equals(version));
    }
  }
}
