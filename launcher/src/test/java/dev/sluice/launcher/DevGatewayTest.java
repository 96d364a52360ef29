package dev.sluice.launcher;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.client.ChatEventStream;
import dev.sluice.client.Messages;
import dev.sluice.client.SluiceClient;
import dev.sluice.client.SluiceException;
import dev.sluice.inference.v1.ChatRequest;
import dev.sluice.inference.v1.ModelInfo;
import dev.sluice.inference.v1.StreamChatResponse;
import io.grpc.Status;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The whole dev gateway in this JVM: control plane, data plane, the dev config, the mock model. */
@Timeout(120)
class DevGatewayTest {
  /** The launcher module runs its tests in launcher/; the samples are one level up. */
  private static final Path DEV_YAML = Path.of("..", "config-samples", "dev.yaml");
  private static final InetSocketAddress ANY_LOOPBACK_PORT = new InetSocketAddress("127.0.0.1", 0);

  @TempDir Path state;

  @Test
  void servesTheDevModelsAndStreamsFromTheMockModel() throws Exception {
    try (DevGateway gateway = DevGateway.start(settings(List.of(DEV_YAML)))) {
      assertThat(gateway.models()).extracting(ModelInfo::getName).contains("mock-chat", "mock-embed");
      assertThat(gateway.configVersion()).isPositive();

      List<StreamChatResponse> events = new ArrayList<>();
      try (SluiceClient client =
              SluiceClient.builder().target(gateway.dataPlaneTarget()).plaintext().build();
          ChatEventStream stream =
              client.streamChat(
                  ChatRequest.newBuilder()
                      .setModel("mock-chat")
                      .addMessages(Messages.user("Hello"))
                      .build())) {
        stream.forEachRemaining(events::add);
      }
      assertThat(events.get(0).hasStarted()).isTrue();
      assertThat(events.get(events.size() - 1).getUsage().getOutputTokens()).isPositive();
    }
  }

  @Test
  void appliesEverySampleTogetherAndNamesTheKeysTheyNeed() throws Exception {
    Path samples = DEV_YAML.getParent();

    try (DevGateway gateway = DevGateway.start(settings(List.of(samples)))) {
      assertThat(gateway.models()).extracting(ModelInfo::getName).contains("mock-chat", "gpt-4o-mini");
      Map<String, Boolean> keys =
          gateway.secretEnvironmentVariables(Map.of("OPENAI_API_KEY", "sk-test"));
      assertThat(keys).containsEntry("OPENAI_API_KEY", true).hasSizeGreaterThan(1);
      keys.forEach(
          (name, set) -> assertThat(set).as(name).isEqualTo(name.equals("OPENAI_API_KEY")));
    }
  }

  @Test
  void keepsItsAdminTokenPrivateAndReusesIt() throws Exception {
    DevState devState = DevState.locate(state, Map.of());
    try (DevGateway gateway = DevGateway.start(settings(List.of(DEV_YAML)))) {
      assertThat(gateway.controlPlaneTarget()).startsWith("127.0.0.1:");
    }
    String token = Files.readString(devState.adminTokenFile(), UTF_8).strip();

    assertThat(Files.getPosixFilePermissions(devState.adminTokenFile()))
        .extracting(Object::toString)
        .containsExactlyInAnyOrder("OWNER_READ", "OWNER_WRITE");
    assertThat(devState.adminToken()).isEqualTo(token);
  }

  @Test
  void refusesAConfigTheControlPlaneFindsInvalidAndStopsEverything() throws Exception {
    Path invalid =
        Files.writeString(
            state.resolve("invalid.yaml"),
            "model: {name: dangling, versions: [{name: v1, backends: [{backend: missing}]}]}\n",
            UTF_8);

    assertThatThrownBy(() -> DevGateway.start(settings(List.of(invalid))))
        .isInstanceOfSatisfying(
            SluiceException.class,
            e -> {
              assertThat(e.code()).isEqualTo(Status.Code.INVALID_ARGUMENT);
              assertThat(e.reason()).isEqualTo("INVALID_CONFIG");
            });
    // Everything started was stopped: the same state directory opens again.
    try (DevGateway gateway = DevGateway.start(settings(List.of(DEV_YAML)))) {
      assertThat(gateway.models()).isNotEmpty();
    }
  }

  @Test
  void servesPrometheusMetricsWhenAsked() throws Exception {
    DevGateway.Settings withMetrics =
        new DevGateway.Settings(
            ANY_LOOPBACK_PORT,
            ANY_LOOPBACK_PORT,
            DevState.locate(state, Map.of()),
            List.of(DEV_YAML),
            ANY_LOOPBACK_PORT);
    try (DevGateway gateway = DevGateway.start(withMetrics)) {
      String url = gateway.metricsUrl();
      assertThat(url).startsWith("http://127.0.0.1:").endsWith("/metrics");

      java.net.http.HttpResponse<String> scrape =
          java.net.http.HttpClient.newHttpClient()
              .send(
                  java.net.http.HttpRequest.newBuilder(java.net.URI.create(url)).build(),
                  java.net.http.HttpResponse.BodyHandlers.ofString());

      assertThat(scrape.statusCode()).isEqualTo(200);
      assertThat(scrape.body()).contains("sluice_config_info{");
    }
    try (DevGateway without = DevGateway.start(settings(List.of(DEV_YAML)))) {
      assertThat(without.metricsUrl()).isNull();
    }
  }

  @Test
  void saysWhichAddressIsTakenWhenThePortIsInUse() throws Exception {
    try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
      InetSocketAddress busy = new InetSocketAddress("127.0.0.1", taken.getLocalPort());

      assertThatThrownBy(
              () ->
                  DevGateway.start(
                      new DevGateway.Settings(
                          busy, ANY_LOOPBACK_PORT, DevState.locate(state, Map.of()), List.of(DEV_YAML))))
          .isInstanceOf(CommandFailure.class)
          .hasMessageContaining("cannot listen on 127.0.0.1:" + taken.getLocalPort())
          .hasMessageContaining("--listen");
    }
  }

  private DevGateway.Settings settings(List<Path> config) {
    return new DevGateway.Settings(
        ANY_LOOPBACK_PORT, ANY_LOOPBACK_PORT, DevState.locate(state, Map.of()), config);
  }
}
