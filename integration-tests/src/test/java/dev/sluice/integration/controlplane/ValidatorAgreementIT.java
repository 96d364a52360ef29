package dev.sluice.integration.controlplane;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import com.google.protobuf.TextFormat;
import com.nimbusds.jose.jwk.JWKSet;
import com.nimbusds.jose.jwk.RSAKey;
import com.nimbusds.jose.jwk.gen.RSAKeyGenerator;
import dev.sluice.config.v1.ConfigSnapshot;
import dev.sluice.config.v1.JwtAlgorithm;
import dev.sluice.config.v1.Resource;
import dev.sluice.controlplane.config.ConfigDocuments;
import dev.sluice.controlplane.store.ResourceKey;
import dev.sluice.controlplane.validation.ConfigValidator;
import dev.sluice.controlplane.validation.Violation;
import dev.sluice.dataplane.config.RuntimeConfig;
import dev.sluice.dataplane.provider.ProviderRegistry;
import dev.sluice.dataplane.provider.SecretResolver;
import dev.sluice.discovery.v1.ConfigSource;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioSocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The control plane and the data plane judge a config alike: whatever a data plane would refuse to
 * serve, the control plane refuses to commit, so no version it validated is NACKed by the whole
 * fleet. The data plane additionally refuses what only it can know about (a backend kind its build
 * lacks, a version older than the one it serves); those are not compared here.
 *
 * <p>The data plane's verdict is that of this build: its real provider registry, every kind.
 */
class ValidatorAgreementIT {
  /** Valid to both: a MOCK backend and a chat model on it, for the cases to break. */
  private static final List<String> BASE =
      List.of(
          "backend { name: \"mock\" kind: BACKEND_KIND_MOCK mock { tokens_per_response: 4 } }",
          """
          model { name: "chat" aliases: "chat-latest" capabilities: MODEL_CAPABILITY_CHAT
            versions { name: "v1" upstream_model: "mock-1" backends { backend: "mock" } } }
          """,
          "consumer { name: \"team-a\" models: \"chat\" }");

  private static final String SOLO_VERSIONS =
      " versions { name: \"v1\" upstream_model: \"m\" backends { backend: \"mock\" } } }";

  /** Stands for {@link #jwksFile} in resource texts. */
  private static final String JWKS = "/JWKS_FILE";

  private static EventLoopGroup loops;
  private static ProviderRegistry providers;

  /** A readable JWKS file holding one RSA public key. */
  @TempDir static Path jwksDirectory;

  private static Path jwksFile;

  private final ConfigValidator validator = ConfigValidator.create();

  @BeforeAll
  static void writeAJwksFile() throws Exception {
    jwksFile = jwksDirectory.resolve("jwks.json");
    RSAKey key = new RSAKeyGenerator(2048).keyID("rsa-1").generate();
    Files.writeString(jwksFile, new JWKSet(key.toPublicJWK()).toString());
  }

  @BeforeAll
  static void startThisBuildsProviders() {
    loops = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
    providers =
        ProviderRegistry.create(loops, NioSocketChannel.class, SecretResolver.fromEnvironment());
  }

  @AfterAll
  static void stopProviders() {
    providers.close();
    loops.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
  }

  @Test
  void theBaseConfigIsAcceptedByBoth() {
    List<Resource> config = parse(BASE);

    assertThat(validator.validate(index(config))).isEmpty();
    assertThat(serve(config).routes().model("chat-latest")).isNotNull();
  }

  @Test
  void everyConfigSampleTheControlPlaneAcceptsTheDataPlaneServes() {
    List<Resource> samples = ConfigDocuments.readResources(samplesDirectory());

    assertThat(validator.validate(index(samples))).isEmpty();
    assertThat(serve(samples).routes().models()).isNotEmpty();
  }

  static Stream<Arguments> configsTheDataPlaneRefuses() {
    return Stream.of(
        broken(
            "a model alias equal to its own name",
            "model { name: \"solo\" aliases: \"solo\"" + SOLO_VERSIONS),
        broken(
            "a model alias equal to another model's name",
            "model { name: \"solo\" aliases: \"chat\"" + SOLO_VERSIONS),
        broken(
            "a model alias another model has too",
            "model { name: \"solo\" aliases: \"chat-latest\"" + SOLO_VERSIONS),
        broken(
            "a model alias listed twice",
            "model { name: \"solo\" aliases: \"x\" aliases: \"x\"" + SOLO_VERSIONS),
        broken("a model without versions", "model { name: \"solo\" }"),
        broken(
            "a model version without backends",
            "model { name: \"solo\" versions { name: \"v1\" upstream_model: \"m\" } }"),
        broken(
            "a model version on a backend that does not exist",
            "model { name: \"solo\" versions { name: \"v1\" upstream_model: \"m\""
                + " backends { backend: \"nope\" } } }"),
        broken(
            "a model version listing a backend twice",
            "model { name: \"solo\" versions { name: \"v1\" upstream_model: \"m\""
                + " backends { backend: \"mock\" } backends { backend: \"mock\" } } }"),
        broken(
            "a backend weight above 1000",
            "model { name: \"solo\" versions { name: \"v1\" upstream_model: \"m\""
                + " backends { backend: \"mock\" weight: 1001 } } }"),
        broken(
            "two versions with one name",
            "model { name: \"solo\" versions { name: \"v1\" upstream_model: \"m\""
                + " backends { backend: \"mock\" } } versions { name: \"v1\" upstream_model: \"m\""
                + " backends { backend: \"mock\" } } }"),
        broken(
            "a default version that is not a version",
            "model { name: \"solo\" default_version: \"v9\"" + SOLO_VERSIONS),
        broken("a backend without a kind", "backend { name: \"nokind\" }"),
        broken(
            "a route to a model that does not exist",
            "route { name: \"r\" destinations { model: \"nope\" } }"),
        broken(
            "a route to a version its model lacks",
            "route { name: \"r\" destinations { model: \"chat\" model_version: \"v9\" } }"),
        broken(
            "a route matching a model that does not exist",
            "route { name: \"r\" match { models: \"nope\" } destinations { } }"),
        broken(
            "a route destination weight above 1000",
            "route { name: \"r\" destinations { model: \"chat\" weight: 1001 } }"),
        broken(
            "a route fallback to a model that does not exist",
            "route { name: \"r\" fallbacks { model: \"nope\" } }"),
        broken(
            "an invalid header regular expression",
            "route { name: \"r\" match { headers { name: \"x-a\" regex: \"(\" } } }"),
        broken(
            "header stickiness without a header",
            "route { name: \"r\" stickiness { key: STICKINESS_KEY_HEADER } }"),
        broken(
            "a route naming a rate-limit policy that does not exist",
            "route { name: \"r\" rate_limit_policies: \"nope\" }"),
        broken(
            "a consumer naming a rate-limit policy that does not exist",
            "consumer { name: \"c\" rate_limit_policies: \"nope\" }"),
        broken("a rate-limit policy without limits", "rate_limit_policy { name: \"p\" }"),
        broken(
            "a rate-limit window the limiter does not support",
            "rate_limit_policy { name: \"p\" limits { metric: RATE_LIMIT_METRIC_REQUESTS"
                + " amount: 1 window { seconds: 30 } } }"),
        broken(
            "a rate limit without an amount",
            "rate_limit_policy { name: \"p\" limits { metric: RATE_LIMIT_METRIC_REQUESTS"
                + " window { seconds: 60 } } }"),
        broken(
            "a rate-limit dimension named twice",
            "rate_limit_policy { name: \"p\" dimensions: RATE_LIMIT_DIMENSION_MODEL"
                + " dimensions: RATE_LIMIT_DIMENSION_MODEL limits {"
                + " metric: RATE_LIMIT_METRIC_REQUESTS amount: 1 window { seconds: 60 } } }"),
        broken(
            "an API key of a consumer that does not exist",
            "api_key { name: \"k\" consumer: \"nobody\" hash {"
                + " algorithm: API_KEY_HASH_ALGORITHM_SHA256 salt: \"0123456789abcdef\""
                + " digest: \"0123456789abcdef0123456789abcdef\" } }"),
        broken("an API key without a hash", "api_key { name: \"k\" consumer: \"team-a\" }"),
        broken(
            "an API key with a short salt",
            "api_key { name: \"k\" consumer: \"team-a\" hash {"
                + " algorithm: API_KEY_HASH_ALGORITHM_SHA256 salt: \"short\""
                + " digest: \"0123456789abcdef0123456789abcdef\" } }"),
        broken(
            "a JWT issuer fetching keys over http from a host that is not loopback",
            issuer("jwks_uri: \"http://idp.example.com/jwks\"")),
        broken(
            "a JWT issuer fetching keys over http from a name that starts like a loopback address",
            issuer("jwks_uri: \"http://127.0.0.1.example.com/jwks\"")),
        broken(
            "a JWT issuer whose jwks_uri is not an http(s) URL",
            issuer("jwks_uri: \"ftp://idp.example.com/jwks\"")),
        broken(
            "a JWT issuer whose jwks_uri has no host",
            issuer("jwks_uri: \"https:///jwks\"")),
        broken("a JWT issuer with a relative jwks_file", issuer("jwks_file: \"jwks.json\"")),
        broken("a JWT issuer without a key source", issuer("")),
        broken(
            "a JWT issuer without algorithms",
            "jwt_issuer { name: \"j\" issuer: \"https://idp.example.com\" audiences: \"sluice\""
                + " jwks_file: \"" + JWKS + "\" }"),
        broken(
            "a JWT issuer with an unset algorithm",
            issuer("algorithms: JWT_ALGORITHM_UNSPECIFIED jwks_file: \"" + JWKS + "\"")),
        broken(
            "a JWT issuer with an algorithm number this build does not know",
            issuer("algorithms: 99 jwks_file: \"" + JWKS + "\"")),
        broken(
            "a JWT issuer without audiences",
            "jwt_issuer { name: \"j\" issuer: \"https://idp.example.com\""
                + " algorithms: JWT_ALGORITHM_RS256 jwks_file: \"" + JWKS + "\" }"),
        broken(
            "a JWT issuer with an empty audience",
            issuer("audiences: \"\" jwks_file: \"" + JWKS + "\"")),
        broken(
            "a JWT issuer without an issuer",
            "jwt_issuer { name: \"j\" audiences: \"sluice\" algorithms: JWT_ALGORITHM_RS256"
                + " jwks_file: \"" + JWKS + "\" }"),
        broken(
            "a JWT clock skew above five minutes",
            issuer("clock_skew { seconds: 301 } jwks_file: \"" + JWKS + "\"")),
        broken(
            "a JWKS cache duration of zero",
            issuer("jwks_cache_duration { } jwks_file: \"" + JWKS + "\"")),
        broken(
            "two JWT issuers with one iss",
            issuer("jwks_file: \"" + JWKS + "\""),
            "jwt_issuer { name: \"j2\" issuer: \"https://idp.example.com\" audiences: \"sluice\""
                + " algorithms: JWT_ALGORITHM_RS256 jwks_file: \"" + JWKS + "\" }"));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("configsTheDataPlaneRefuses")
  void whatTheDataPlaneRefusesToServeTheControlPlaneRefusesToCommit(
      String what, List<String> brokenResources) {
    List<Resource> config = parse(BASE);
    brokenResources.forEach(text -> config.add(parse(text.replace(JWKS, jwksFile.toString()))));

    Throwable dataPlane = catchThrowable(() -> serve(config));
    List<Violation> controlPlane = validator.validate(index(config));

    assertThat(dataPlane)
        .as("the data plane's verdict")
        .isInstanceOf(IllegalArgumentException.class);
    assertThat(controlPlane)
        .as(
            "the control plane's verdict on what the data plane refused (%s)",
            dataPlane.getMessage())
        .isNotEmpty();
  }

  /**
   * Both directions for algorithms: the control plane accepts exactly those a data plane of this
   * build verifies, so an algorithm added to the API cannot be committed before data planes know
   * it.
   */
  @ParameterizedTest(name = "{0}")
  @EnumSource(value = JwtAlgorithm.class, names = "UNRECOGNIZED", mode = EnumSource.Mode.EXCLUDE)
  void everyJwtAlgorithmIsJudgedAlikeByBoth(JwtAlgorithm algorithm) {
    List<Resource> config = parse(BASE);
    config.add(
        parse(
            "jwt_issuer { name: \"j\" issuer: \"https://idp.example.com\" audiences: \"sluice\""
                + " algorithms: "
                + algorithm.name()
                + " jwks_file: \""
                + jwksFile
                + "\" }"));

    boolean dataPlaneServes = catchThrowable(() -> serve(config)) == null;
    List<Violation> controlPlane = validator.validate(index(config));

    assertThat(controlPlane.isEmpty())
        .as("the control plane accepts %s (violations: %s)", algorithm, controlPlane)
        .isEqualTo(dataPlaneServes);
  }

  @ParameterizedTest(name = "{0}")
  @ValueSource(
      strings = {"http://127.0.0.1:1/jwks", "http://localhost:1/jwks", "http://[::1]:1/jwks"})
  void aJwksUriOverHttpOnALoopbackHostIsAcceptedByBoth(String uri) {
    List<Resource> config = parse(BASE);
    config.add(parse(issuer("jwks_uri: \"" + uri + "\"")));

    assertThat(validator.validate(index(config))).isEmpty();
    assertThat(serve(config).access().hasJwtIssuers()).isTrue();
  }

  // ---- helpers

  private static Arguments broken(String what, String... resources) {
    return Arguments.of(what, List.of(resources));
  }

  /**
   * A JwtIssuer valid but for {@code rest} (its key source, or a field that breaks it plus one):
   * {@value #JWKS} in it stands for a readable JWKS file, so the data plane refuses it for the
   * intended reason only.
   */
  private static String issuer(String rest) {
    boolean hasAlgorithms = rest.contains("algorithms:");
    return "jwt_issuer { name: \"j\" issuer: \"https://idp.example.com\" audiences: \"sluice\""
        + (hasAlgorithms ? "" : " algorithms: JWT_ALGORITHM_RS256")
        + " "
        + rest
        + " }";
  }

  private static RuntimeConfig serve(List<Resource> config) {
    ConfigSnapshot snapshot =
        ConfigSnapshot.newBuilder().setVersion(1).addAllResources(config).build();
    return RuntimeConfig.build(
        "1a.1",
        snapshot,
        ConfigSource.CONFIG_SOURCE_CONTROL_PLANE,
        null,
        kind -> providers.supports(kind) ? providers.forKind(kind) : null);
  }

  private static Map<ResourceKey, Resource> index(List<Resource> config) {
    Map<ResourceKey, Resource> byKey = new TreeMap<>();
    config.forEach(r -> byKey.put(ResourceKey.of(r), r));
    return byKey;
  }

  private static List<Resource> parse(List<String> texts) {
    List<Resource> resources = new ArrayList<>();
    texts.forEach(text -> resources.add(parse(text)));
    return resources;
  }

  private static Resource parse(String text) {
    try {
      return TextFormat.parse(text, Resource.class);
    } catch (TextFormat.ParseException e) {
      throw new IllegalArgumentException("not a resource: " + text, e);
    }
  }

  /**
   * {@code config-samples/}: from the repository root the build passes, else next to this module.
   */
  private static Path samplesDirectory() {
    String root = System.getProperty("sluice.repository");
    return (root == null ? Path.of("..") : Path.of(root)).resolve("config-samples");
  }
}
