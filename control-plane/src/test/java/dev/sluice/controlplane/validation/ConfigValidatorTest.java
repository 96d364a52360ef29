package dev.sluice.controlplane.validation;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.TextFormat;
import dev.sluice.config.v1.Resource;
import dev.sluice.config.v1.ResourceKind;
import dev.sluice.controlplane.store.ResourceKey;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

class ConfigValidatorTest {
  private static final List<String> VALID_CONFIG =
      List.of(
          """
          backend { name: "mock" kind: BACKEND_KIND_MOCK mock { tokens_per_response: 16 }
            labels { key: "team" value: "platform" } }
          """,
          """
          backend { name: "openai" kind: BACKEND_KIND_OPENAI api_key { env_var: "OPENAI_API_KEY" }
            timeouts { connect_timeout { seconds: 5 } }
            headers { name: "openai-organization" plain: "org-1" }
            headers { name: "x-extra-key" secret { file_path: "/run/secrets/extra" } } }
          """,
          """
          model { name: "chat" aliases: "Chat-Model:latest" groups: "standard"
            default_version: "v1" capabilities: MODEL_CAPABILITY_CHAT
            context_window_tokens: 8192 max_output_tokens: 1024
            versions { name: "v1" upstream_model: "mock-1" backends { backend: "mock" weight: 1 } }
            versions { name: "v2"
              backends { backend: "mock" upstream_model: "mock-2" weight: 3 }
              backends { backend: "openai" upstream_model: "gpt-4o-mini" weight: 1 } } }
          """,
          """
          route { name: "canary"
            match { models: "chat" headers { name: "x-team" regex: "a|b" } consumers: "team-a" }
            destinations { model_version: "v1" weight: 90 }
            destinations { model_version: "v2" weight: 10 }
            fallbacks { model: "chat" model_version: "v1" }
            fallback_on: RETRY_CONDITION_SERVER_ERROR
            retry_policy { max_attempts: 2 retry_on: RETRY_CONDITION_CONNECT_FAILURE
              backoff_base_interval { nanos: 100000000 } backoff_max_interval { seconds: 2 } }
            stickiness { key: STICKINESS_KEY_HEADER header: "x-session" }
            timeout { seconds: 30 }
            rate_limit_policies: "per-consumer" }
          """,
          """
          rate_limit_policy { name: "per-consumer" dimensions: RATE_LIMIT_DIMENSION_CONSUMER
            limits { metric: RATE_LIMIT_METRIC_REQUESTS amount: 100 window { seconds: 60 } }
            limits { metric: RATE_LIMIT_METRIC_TOTAL_TOKENS amount: 100000 window { seconds: 3600 } } }
          """,
          """
          consumer { name: "team-a" tenant: "acme" models: "chat" model_groups: "standard"
            rate_limit_policies: "per-consumer" }
          """,
          """
          api_key { name: "key-1" consumer: "team-a"
            hash { algorithm: API_KEY_HASH_ALGORITHM_SHA256 salt: "0123456789abcdef"
              digest: "0123456789abcdef0123456789abcdef" } }
          """,
          """
          prompt_template { name: "greeting" text: "Hello {{ user }}, not \\\\{{ this }}"
            variables_schema {
              fields { key: "type" value { string_value: "object" } }
              fields { key: "properties" value { struct_value {
                fields { key: "user" value { struct_value { } } } } } } } }
          """,
          """
          jwt_issuer { name: "idp" issuer: "https://idp.example.com" audiences: "sluice"
            algorithms: JWT_ALGORITHM_RS256 jwks_uri: "https://idp.example.com/jwks.json"
            clock_skew { seconds: 30 } }
          """);

  private final ConfigValidator validator = ConfigValidator.create();

  @Test
  void theReferenceConfigIsValid() {
    assertThat(validator.validate(config())).isEmpty();
  }

  @Test
  void anEmptyConfigIsValid() {
    assertThat(validator.validate(Map.of())).isEmpty();
  }

  static Stream<Arguments> brokenResources() {
    return Stream.of(
        broken("backend { name: \"Bad_Name\" kind: BACKEND_KIND_MOCK }", "backend/Bad_Name.name"),
        broken("backend { name: \"x\" }", "backend/x.kind"),
        broken(
            "backend { name: \"x\" kind: BACKEND_KIND_OPENAI_COMPATIBLE }", "backend/x.base_url"),
        broken(
            "backend { name: \"x\" kind: BACKEND_KIND_OPENAI_COMPATIBLE base_url: \"ftp://h/v1\" }",
            "backend/x.base_url"),
        broken(
            "backend { name: \"x\" kind: BACKEND_KIND_OPENAI_COMPATIBLE base_url: \"http://h/v1/\""
                + " }",
            "backend/x.base_url"),
        broken(
            "backend { name: \"x\" kind: BACKEND_KIND_OPENAI_COMPATIBLE"
                + " base_url: \"https://h/v1\" h2c: true }",
            "backend/x.h2c"),
        broken("backend { name: \"x\" kind: BACKEND_KIND_MOCK h2c: true }", "backend/x.h2c"),
        broken("backend { name: \"x\" kind: BACKEND_KIND_OPENAI }", "backend/x.api_key"),
        broken(
            "backend { name: \"x\" kind: BACKEND_KIND_ANTHROPIC api_key { } }",
            "backend/x.api_key"),
        broken(
            "backend { name: \"x\" kind: BACKEND_KIND_GEMINI api_key { env_var: \"1BAD\" } }",
            "backend/x.api_key.env_var"),
        broken(
            "backend { name: \"x\" kind: BACKEND_KIND_GEMINI api_key { file_path: \"keys/g\" } }",
            "backend/x.api_key.file_path"),
        broken(
            "backend { name: \"x\" kind: BACKEND_KIND_GEMINI api_key { file_path: \"/a/../b\" } }",
            "backend/x.api_key.file_path"),
        broken(
            "backend { name: \"x\" kind: BACKEND_KIND_OPENAI_COMPATIBLE base_url:"
                + " \"http://h:8000/v1\" headers { name: \"host\" plain: \"h\" } }",
            "backend/x.headers[0].name"),
        broken(
            "backend { name: \"x\" kind: BACKEND_KIND_OPENAI api_key { env_var: \"K\" }"
                + " headers { name: \"authorization\" secret { env_var: \"T\" } } }",
            "backend/x.headers[0].name"),
        broken(
            "backend { name: \"x\" kind: BACKEND_KIND_OPENAI_COMPATIBLE base_url: \"http://h/v1\""
                + " headers { name: \"x-a\" plain: \"1\" } headers { name: \"x-a\" plain: \"2\" }"
                + " }",
            "backend/x.headers[1].name"),
        broken(
            "backend { name: \"x\" kind: BACKEND_KIND_OPENAI_COMPATIBLE base_url: \"http://h/v1\""
                + " headers { name: \"x-a\" } }",
            "backend/x.headers[0]"),
        broken(
            "backend { name: \"x\" kind: BACKEND_KIND_OPENAI api_key { env_var: \"K\" }"
                + " anthropic { api_version: \"2023-06-01\" } }",
            "backend/x.anthropic"),
        broken(
            "backend { name: \"x\" kind: BACKEND_KIND_MOCK mock { tokens_per_response: -1 } }",
            "backend/x.mock.tokens_per_response"),
        broken(
            "backend { name: \"x\" kind: BACKEND_KIND_MOCK mock { tokens_per_second: -2 } }",
            "backend/x.mock.tokens_per_second"),
        broken(
            "backend { name: \"x\" kind: BACKEND_KIND_OPENAI api_key { env_var: \"K\" }"
                + " timeouts { connect_timeout { } } }",
            "backend/x.timeouts.connect_timeout"),
        broken(
            "backend { name: \"x\" kind: BACKEND_KIND_OPENAI api_key { env_var: \"K\" }"
                + " max_concurrent_requests: -1 }",
            "backend/x.max_concurrent_requests"),
        broken(
            "backend { name: \"x\" kind: BACKEND_KIND_OPENAI api_key { env_var: \"K\" }"
                + " tls { client_certificate_file: \"/etc/cert.pem\" } }",
            "backend/x.tls.client_key"),
        broken(
            "backend { name: \"x\" kind: BACKEND_KIND_OPENAI_COMPATIBLE base_url: \"http://h/v1\""
                + " tls { ca_file: \"/etc/ca.pem\" } }",
            "backend/x.tls"),
        broken(
            "backend { name: \"x\" kind: BACKEND_KIND_OPENAI api_key { env_var: \"K\" }"
                + " outlier_detection { base_ejection_time { seconds: 60 }"
                + " max_ejection_time { seconds: 10 } } }",
            "backend/x.outlier_detection.max_ejection_time"),
        broken(
            "backend { name: \"x\" kind: BACKEND_KIND_MOCK labels { key: \"Bad Key\" value: \"v\" }"
                + " }",
            "backend/x.labels[Bad Key]"),
        broken(
            "backend { name: \"x\" kind: BACKEND_KIND_MOCK labels { key: \"k\" value: \"a b\" } }",
            "backend/x.labels[k]"),
        broken(
            "backend { name: \"x\" kind: BACKEND_KIND_MOCK description: \""
                + "d".repeat(1025)
                + "\" }",
            "backend/x.description"),
        broken(
            "model { name: \"solo\" versions { name: \"v1\" upstream_model: \"m\""
                + " backends { backend: \"mock\" weight: 1001 } } }",
            "model/solo.versions[0].backends[0].weight"),
        broken(
            "model { name: \"solo\" versions { name: \"v1\" upstream_model: \"m\""
                + " backends { backend: \"nope\" } } }",
            "model/solo.versions[0].backends[0].backend"),
        broken(
            "model { name: \"solo\" versions { name: \"v1\" backends { backend: \"mock\" } } }",
            "model/solo.versions[0].backends[0].upstream_model"),
        broken(
            "model { name: \"solo\" versions { name: \"v1\" upstream_model: \"m\""
                + " backends { backend: \"mock\" } backends { backend: \"mock\" } } }",
            "model/solo.versions[0].backends[1].backend"),
        broken("model { name: \"solo\" }", "model/solo.versions"),
        broken(
            "model { name: \"solo\" versions { name: \"v1\" upstream_model: \"m\" } }",
            "model/solo.versions[0].backends"),
        broken(
            "model { name: \"solo\" default_version: \"v9\" versions { name: \"v1\""
                + " upstream_model: \"m\" backends { backend: \"mock\" } } }",
            "model/solo.default_version"),
        broken(
            "model { name: \"solo\" versions { name: \"v1\" upstream_model: \"m\""
                + " backends { backend: \"mock\" } } versions { name: \"v1\" upstream_model: \"m\""
                + " backends { backend: \"mock\" } } }",
            "model/solo.versions[1].name"),
        broken(
            "model { name: \"solo\" aliases: \"chat\" versions { name: \"v1\" upstream_model: \"m\""
                + " backends { backend: \"mock\" } } }",
            "model/solo.aliases[0]"),
        broken(
            "model { name: \"solo\" aliases: \"Chat-Model:latest\" versions { name: \"v1\""
                + " upstream_model: \"m\" backends { backend: \"mock\" } } }",
            "model/solo.aliases[0]"),
        broken(
            "model { name: \"solo\" aliases: \"solo\" versions { name: \"v1\""
                + " upstream_model: \"m\" backends { backend: \"mock\" } } }",
            "model/solo.aliases[0]"),
        broken(
            "model { name: \"solo\" aliases: \"other\" aliases: \"other\" versions {"
                + " name: \"v1\" upstream_model: \"m\" backends { backend: \"mock\" } } }",
            "model/solo.aliases[1]"),
        broken(
            "model { name: \"solo\" aliases: \"bad alias\" versions { name: \"v1\""
                + " upstream_model: \"m\" backends { backend: \"mock\" } } }",
            "model/solo.aliases[0]"),
        broken(
            "model { name: \"solo\" context_window_tokens: 100 max_output_tokens: 200 versions {"
                + " name: \"v1\" upstream_model: \"m\" backends { backend: \"mock\" } } }",
            "model/solo.max_output_tokens"),
        broken(
            "model { name: \"solo\" capabilities: MODEL_CAPABILITY_UNSPECIFIED versions {"
                + " name: \"v1\" upstream_model: \"m\" backends { backend: \"mock\" } } }",
            "model/solo.capabilities[0]"),
        broken(
            "route { name: \"r\" destinations { model: \"chat\" weight: 1001 } }",
            "route/r.destinations[0].weight"),
        broken(
            "route { name: \"r\" destinations { model: \"nope\" } }",
            "route/r.destinations[0].model"),
        broken(
            "route { name: \"r\" destinations { model: \"chat\" model_version: \"v9\" } }",
            "route/r.destinations[0].model_version"),
        broken(
            "route { name: \"r\" destinations { model_version: \"v1\" } }",
            "route/r.destinations[0].model_version"),
        broken(
            "route { name: \"r\" match { models: \"chat\" } destinations { model_version: \"v9\" }"
                + " }",
            "route/r.destinations[0].model_version"),
        broken(
            "route { name: \"r\" destinations { model: \"chat\" } destinations { model: \"chat\" }"
                + " }",
            "route/r.destinations[1]"),
        broken(
            "route { name: \"r\" match { models: \"Chat-Model:latest\" } }",
            "route/r.match.models[0]"),
        broken(
            "route { name: \"r\" match { consumers: \"nobody\" } }", "route/r.match.consumers[0]"),
        broken(
            "route { name: \"r\" match { headers { name: \"x-a\" regex: \"(\" } } }",
            "route/r.match.headers[0].regex"),
        broken(
            "route { name: \"r\" match { headers { name: \"X-Upper\" } } }",
            "route/r.match.headers[0].name"),
        broken(
            "route { name: \"r\" fallbacks { model: \"chat\" } fallback_on:"
                + " RETRY_CONDITION_UNSPECIFIED }",
            "route/r.fallback_on[0]"),
        broken("route { name: \"r\" fallback_on: RETRY_CONDITION_TIMEOUT }", "route/r.fallback_on"),
        broken(
            "route { name: \"r\" retry_policy { max_attempts: 6 } }",
            "route/r.retry_policy.max_attempts"),
        broken(
            "route { name: \"r\" retry_policy { budget { budget_percent: 120 } } }",
            "route/r.retry_policy.budget.budget_percent"),
        broken(
            "route { name: \"r\" stickiness { key: STICKINESS_KEY_HEADER } }",
            "route/r.stickiness.header"),
        broken(
            "route { name: \"r\" stickiness { key: STICKINESS_KEY_CONSUMER header: \"x\" } }",
            "route/r.stickiness.header"),
        broken(
            "route { name: \"r\" rate_limit_policies: \"nope\" }",
            "route/r.rate_limit_policies[0]"),
        broken("route { name: \"r\" timeout { seconds: -1 } }", "route/r.timeout"),
        broken(
            "rate_limit_policy { name: \"p\" limits { metric: RATE_LIMIT_METRIC_REQUESTS amount: 1"
                + " window { seconds: 30 } } }",
            "rate_limit_policy/p.limits[0].window"),
        broken(
            "rate_limit_policy { name: \"p\" limits { metric: RATE_LIMIT_METRIC_REQUESTS"
                + " window { seconds: 1 } } }",
            "rate_limit_policy/p.limits[0].amount"),
        broken(
            "rate_limit_policy { name: \"p\" limits { amount: 1 window { seconds: 1 } } }",
            "rate_limit_policy/p.limits[0].metric"),
        broken(
            "rate_limit_policy { name: \"p\" limits { metric: RATE_LIMIT_METRIC_REQUESTS amount: 5"
                + " burst: 6 window { seconds: 60 } } }",
            "rate_limit_policy/p.limits[0].burst"),
        broken(
            "rate_limit_policy { name: \"p\" limits { metric: RATE_LIMIT_METRIC_REQUESTS amount: 5"
                + " burst: -1 window { seconds: 60 } } }",
            "rate_limit_policy/p.limits[0].burst"),
        broken("rate_limit_policy { name: \"p\" }", "rate_limit_policy/p.limits"),
        broken(
            "rate_limit_policy { name: \"p\" dimensions: RATE_LIMIT_DIMENSION_MODEL dimensions:"
                + " RATE_LIMIT_DIMENSION_MODEL limits { metric: RATE_LIMIT_METRIC_REQUESTS amount:"
                + " 1 window { seconds: 1 } } }",
            "rate_limit_policy/p.dimensions[1]"),
        broken("consumer { name: \"c\" models: \"nope\" }", "consumer/c.models[0]"),
        broken("consumer { name: \"c\" tenant: \"Acme\" }", "consumer/c.tenant"),
        broken(
            "consumer { name: \"c\" rate_limit_policies: \"nope\" }",
            "consumer/c.rate_limit_policies[0]"),
        broken(
            "api_key { name: \"k\" consumer: \"nobody\" hash { algorithm:"
                + " API_KEY_HASH_ALGORITHM_SHA256 salt: \"0123456789abcdef\" digest:"
                + " \"0123456789abcdef0123456789abcdef\" } }",
            "api_key/k.consumer"),
        broken(
            "api_key { name: \"k\" consumer: \"team-a\" hash { algorithm:"
                + " API_KEY_HASH_ALGORITHM_SHA256 salt: \"short\" digest:"
                + " \"0123456789abcdef0123456789abcdef\" } }",
            "api_key/k.hash.salt"),
        broken("api_key { name: \"k\" consumer: \"team-a\" }", "api_key/k.hash"),
        broken(
            "prompt_template { name: \"t\" text: \"Hi {{ who }}\" }",
            "prompt_template/t.variables_schema"),
        broken("prompt_template { name: \"t\" text: \"Hi {{ 1x }}\" }", "prompt_template/t.text"),
        broken("prompt_template { name: \"t\" }", "prompt_template/t.text"),
        broken(
            "prompt_template { name: \"big\" text: \"x\" variables_schema { fields { key:"
                + " \"description\" value { string_value: \""
                + "x".repeat(300 * 1024)
                + "\" } } } }",
            "prompt_template/big"),
        broken(
            "jwt_issuer { name: \"j\" issuer: \"https://other\" audiences: \"a\""
                + " algorithms: JWT_ALGORITHM_ES256 jwks_uri: \"http://other/jwks\" }",
            "jwt_issuer/j.jwks_uri"),
        broken(
            "jwt_issuer { name: \"j\" issuer: \"https://idp.example.com\" audiences: \"a\""
                + " algorithms: JWT_ALGORITHM_ES256 jwks_file: \"/etc/jwks.json\" }",
            "jwt_issuer/j.issuer"),
        broken(
            "jwt_issuer { name: \"j\" issuer: \"https://other\" audiences: \"a\""
                + " jwks_file: \"/etc/jwks.json\" }",
            "jwt_issuer/j.algorithms"),
        broken(
            "jwt_issuer { name: \"j\" issuer: \"https://other\" audiences: \"a\""
                + " algorithms: JWT_ALGORITHM_ES256 jwks_file: \"/etc/jwks.json\""
                + " clock_skew { seconds: 301 } }",
            "jwt_issuer/j.clock_skew"),
        broken(
            "jwt_issuer { name: \"j\" issuer: \"https://other\" audiences: \"a\""
                + " algorithms: JWT_ALGORITHM_ES256 jwks_uri: \"http://127.example.com/jwks\" }",
            "jwt_issuer/j.jwks_uri"),
        broken(
            "jwt_issuer { name: \"j\" issuer: \"https://other\" audiences: \"a\""
                + " algorithms: JWT_ALGORITHM_ES256 jwks_uri: \"ftp://idp.example.com/jwks\" }",
            "jwt_issuer/j.jwks_uri"),
        broken(
            "jwt_issuer { name: \"j\" issuer: \"https://other\" audiences: \"a\""
                + " algorithms: JWT_ALGORITHM_ES256 jwks_uri: \"https://idp.example.com/jwks#k\" }",
            "jwt_issuer/j.jwks_uri"),
        broken(
            "jwt_issuer { name: \"j\" issuer: \"https://other\" audiences: \"a\""
                + " algorithms: JWT_ALGORITHM_ES256 jwks_file: \"etc/jwks.json\" }",
            "jwt_issuer/j.jwks_file"),
        broken(
            "jwt_issuer { name: \"j\" issuer: \"https://other\" audiences: \"a\""
                + " algorithms: JWT_ALGORITHM_UNSPECIFIED jwks_file: \"/etc/jwks.json\" }",
            "jwt_issuer/j.algorithms[0]"),
        broken(
            "jwt_issuer { name: \"j\" issuer: \"https://other\" audiences: \"a\""
                + " algorithms: JWT_ALGORITHM_ES256 algorithms: 99 jwks_file: \"/etc/jwks.json\" }",
            "jwt_issuer/j.algorithms[1]"));
  }

  @ParameterizedTest(name = "{0}")
  @ValueSource(
      strings = {
        "http://127.0.0.1:8080/jwks",
        "http://localhost/jwks",
        "http://[::1]:9000/jwks",
        "HTTPS://idp.example.com/keys/",
        "https://login.example.com/common/discovery/keys?appid=sluice"
      })
  void aJwksUriIsHttpsOrLoopbackHttpAsDataPlanesRequire(String uri) {
    Map<ResourceKey, Resource> config = config();
    Resource resource =
        parse(
            "jwt_issuer { name: \"j\" issuer: \"https://other\" audiences: \"a\""
                + " algorithms: JWT_ALGORITHM_EDDSA jwks_uri: \""
                + uri
                + "\" }");
    config.put(ResourceKey.of(resource), resource);

    assertThat(validator.validate(config)).isEmpty();
  }

  @ParameterizedTest(name = "{1}")
  @MethodSource("brokenResources")
  void aBrokenResourceIsReportedAtItsFieldPath(String resourceText, String expectedPath) {
    Map<ResourceKey, Resource> config = config();
    Resource resource = parse(resourceText);
    config.put(ResourceKey.of(resource), resource);

    List<Violation> violations = validator.validate(config);

    assertThat(violations).extracting(Violation::path).containsExactly(expectedPath);
    assertThat(violations.get(0).description()).isNotBlank();
  }

  static Stream<Arguments> deletions() {
    return Stream.of(
        Arguments.of(
            key(ResourceKind.RESOURCE_KIND_BACKEND, "mock"),
            List.of(
                "model/chat.versions[0].backends[0].backend",
                "model/chat.versions[1].backends[0].backend")),
        Arguments.of(
            key(ResourceKind.RESOURCE_KIND_RATE_LIMIT_POLICY, "per-consumer"),
            List.of(
                "route/canary.rate_limit_policies[0]",
                "consumer/team-a.rate_limit_policies[0]")),
        Arguments.of(
            key(ResourceKind.RESOURCE_KIND_CONSUMER, "team-a"),
            List.of("route/canary.match.consumers[0]", "api_key/key-1.consumer")),
        Arguments.of(
            key(ResourceKind.RESOURCE_KIND_MODEL, "chat"),
            List.of(
                "route/canary.match.models[0]",
                "route/canary.fallbacks[0].model",
                "consumer/team-a.models[0]")));
  }

  @ParameterizedTest(name = "deleting {0}")
  @MethodSource("deletions")
  void deletingAReferencedResourceReportsEveryReferringField(
      ResourceKey deleted, List<String> expectedPaths) {
    Map<ResourceKey, Resource> config = config();
    config.remove(deleted);

    assertThat(validator.validate(config))
        .extracting(Violation::path)
        .containsExactlyElementsOf(expectedPaths);
  }

  @Test
  void everyViolationIsReportedNotJustTheFirst() {
    Map<ResourceKey, Resource> config = config();
    Resource resource =
        parse(
            "backend { name: \"x\" kind: BACKEND_KIND_OPENAI max_concurrent_requests: -1"
                + " timeouts { request_timeout { seconds: -5 } } }");
    config.put(ResourceKey.of(resource), resource);

    assertThat(validator.validate(config))
        .extracting(Violation::path)
        .containsExactly(
            "backend/x.api_key",
            "backend/x.timeouts.request_timeout",
            "backend/x.max_concurrent_requests");
  }

  /**
   * model.proto: aliases are "unique across all model names and aliases", the model's own name
   * included. Data planes index names and aliases together and refuse such a model, so a config the
   * control plane let through would be NACKed by the whole fleet.
   */
  @Test
  void anAliasEqualToTheModelsOwnNameIsRejectedAsTheDataPlaneWouldRejectIt() {
    Map<ResourceKey, Resource> config = config();
    Resource resource =
        parse(
            "model { name: \"fresh\" aliases: \"fresh\" capabilities: MODEL_CAPABILITY_CHAT"
                + " versions { name: \"v1\" upstream_model: \"mock-1\""
                + " backends { backend: \"mock\" } } }");
    config.put(ResourceKey.of(resource), resource);

    List<Violation> violations = validator.validate(config);

    assertThat(violations)
        .singleElement()
        .satisfies(
            v -> {
              assertThat(v.path()).isEqualTo("model/fresh.aliases[0]");
              assertThat(v.description()).contains("the model's own name");
            });
  }

  @Test
  void secretsInUrlsAndCredentialHeadersAreNeverEchoed() {
    Map<ResourceKey, Resource> config = config();
    Resource resource =
        parse(
            "backend { name: \"x\" kind: BACKEND_KIND_OPENAI_COMPATIBLE"
                + " base_url: \"https://user:hunter2@h/v1?key=hunter3\""
                + " headers { name: \"x-api-key\" plain: \"hunter4\" } }");
    config.put(ResourceKey.of(resource), resource);

    List<Violation> violations = validator.validate(config);

    assertThat(violations)
        .extracting(Violation::path)
        .containsExactly("backend/x.base_url", "backend/x.headers[0].plain");
    assertThat(violations.toString()).doesNotContain("hunter");
  }

  @Test
  void aViolationBecomesABadRequestFieldViolationWithItsQualifiedPath() {
    Violation violation =
        new Violation(key(ResourceKind.RESOURCE_KIND_BACKEND, "openai"), "base_url", "bad");

    assertThat(violation.toFieldViolation().getField()).isEqualTo("backend/openai.base_url");
    assertThat(violation.toFieldViolation().getDescription()).isEqualTo("bad");
  }

  // ---- helpers

  private static Arguments broken(String resourceText, String expectedPath) {
    return Arguments.of(resourceText, expectedPath);
  }

  private static ResourceKey key(ResourceKind kind, String name) {
    return new ResourceKey(kind, name);
  }

  private static Map<ResourceKey, Resource> config() {
    Map<ResourceKey, Resource> config = new TreeMap<>();
    for (String text : VALID_CONFIG) {
      Resource resource = parse(text);
      config.put(ResourceKey.of(resource), resource);
    }
    return config;
  }

  private static Resource parse(String text) {
    try {
      return TextFormat.parse(text, Resource.class);
    } catch (TextFormat.ParseException e) {
      throw new IllegalArgumentException(e);
    }
  }
}
