package dev.sluice.integration.controlplane;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import com.google.protobuf.TextFormat;
import dev.sluice.config.v1.ConfigSnapshot;
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
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

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

  private static EventLoopGroup loops;
  private static ProviderRegistry providers;

  private final ConfigValidator validator = ConfigValidator.create();

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
                + " digest: \"0123456789abcdef0123456789abcdef\" } }"));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("configsTheDataPlaneRefuses")
  void whatTheDataPlaneRefusesToServeTheControlPlaneRefusesToCommit(
      String what, String brokenResource) {
    List<Resource> config = parse(BASE);
    config.add(parse(brokenResource));

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

  // ---- helpers

  private static Arguments broken(String what, String resource) {
    return Arguments.of(what, resource);
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
