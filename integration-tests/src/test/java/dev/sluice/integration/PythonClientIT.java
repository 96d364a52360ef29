package dev.sluice.integration;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.client.ChatEventStream;
import dev.sluice.client.Messages;
import dev.sluice.controlplane.store.ConfigStore;
import dev.sluice.inference.v1.ChatRequest;
import dev.sluice.inference.v1.StreamChatResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A client in another language, using nothing but the proto files: Python stubs are generated
 * from {@code proto/} as examples/python/README.md says, and {@code examples/python/stream_chat.py}
 * streams from a running gateway.
 *
 * <p>The interpreter is the first of {@code $SLUICE_PYTHON}, {@code python3} on the PATH and
 * {@code /usr/bin/python3} that can import grpc. Without one the test fails, saying what to
 * install: a polyglot client is part of what Sluice promises.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(180)
class PythonClientIT {
  private static final String PROMPT = "Hello from Python";

  @TempDir static Path work;
  private GatewayFixture gateway;
  private String python;
  private Path stubs;

  @BeforeAll
  void startGatewayAndGenerateStubs() throws Exception {
    python = pythonWithGrpc();
    gateway = GatewayFixture.start(ConfigStore.embedded(work.resolve("store")));
    gateway.apply(
        TestConfig.mockBackend("mock", 12, 0), TestConfig.chatModel("mock-chat", "mock", "mock-1"));
    stubs = work.resolve("stubs");
    try (ChildProcess generate =
        ChildProcess.start(
            List.of(
                Repository.root().resolve("examples/python/generate_stubs.sh").toString(),
                stubs.toString()),
            Repository.root(),
            Map.of("PYTHON", python))) {
      int exit = generate.awaitExit(Duration.ofSeconds(120));
      assertThat(exit).as("generate_stubs.sh: %s%s", generate.stdout(), generate.stderr()).isZero();
    }
    assertThat(stubs.resolve("sluice/inference/v1/inference_service_pb2_grpc.py")).exists();
  }

  @AfterAll
  void stopGateway() throws Exception {
    if (gateway != null) {
      gateway.close();
    }
  }

  @Test
  void streamsTheSameAnswerTheJavaClientGets() throws Exception {
    List<StreamChatResponse> javaEvents = new ArrayList<>();
    try (ChatEventStream events =
        gateway
            .client()
            .streamChat(
                ChatRequest.newBuilder()
                    .setModel("mock-chat")
                    .addMessages(Messages.user(PROMPT))
                    .build())) {
      events.forEachRemaining(javaEvents::add);
    }
    String javaText =
        javaEvents.stream()
            .filter(StreamChatResponse::hasContentDelta)
            .map(e -> e.getContentDelta().getText())
            .reduce("", String::concat);
    StreamChatResponse usage = javaEvents.get(javaEvents.size() - 1);

    try (ChildProcess client = streamChat("--model", "mock-chat", "--events", PROMPT)) {
      int exit = client.awaitExit(Duration.ofSeconds(60));

      assertThat(exit).as(client.stderr()).isZero();
      assertThat(client.stdout()).isEqualTo(javaText + "\n");
      assertThat(client.stderr())
          .contains(
              "[usage] "
                  + usage.getUsage().getInputTokens()
                  + " input + "
                  + usage.getUsage().getOutputTokens()
                  + " output = "
                  + usage.getUsage().getTotalTokens()
                  + " tokens | finish STOP");
      assertThat(eventLines(client.stderr()))
          .startsWith("started")
          .endsWith("content_delta", "choice_finished", "usage")
          .containsOnly("started", "content_delta", "choice_finished", "usage");
    }
  }

  @Test
  void reportsAGatewayErrorWithItsCodeAndReason() throws Exception {
    try (ChildProcess client = streamChat("--model", "no-such-model", PROMPT)) {
      int exit = client.awaitExit(Duration.ofSeconds(60));

      assertThat(exit).isEqualTo(1);
      assertThat(client.stderr()).contains("error: NOT_FOUND").contains("[MODEL_NOT_FOUND]");
    }
  }

  private ChildProcess streamChat(String... args) {
    List<String> command = new ArrayList<>();
    command.add(python);
    command.add(Repository.root().resolve("examples/python/stream_chat.py").toString());
    command.addAll(List.of("--stubs", stubs.toString(), "--target", gateway.dataPlaneTarget()));
    command.addAll(List.of(args));
    return ChildProcess.start(command, work, Map.of());
  }

  private static List<String> eventLines(String stderr) {
    return stderr
        .lines()
        .filter(line -> line.startsWith("[event "))
        .map(line -> line.substring("[event ".length(), line.length() - 1))
        .toList();
  }

  /** The first candidate interpreter that can import grpc; fails loudly when there is none. */
  private static String pythonWithGrpc() throws Exception {
    List<String> candidates = new ArrayList<>();
    String configured = System.getenv("SLUICE_PYTHON");
    if (configured != null && !configured.isBlank()) {
      candidates.add(configured);
    }
    candidates.add("python3");
    candidates.add("/usr/bin/python3");
    List<String> tried = new ArrayList<>();
    for (String candidate : candidates) {
      try {
        Process probe =
            new ProcessBuilder(candidate, "-c", "import grpc").redirectErrorStream(true).start();
        probe.getInputStream().readAllBytes();
        if (probe.waitFor() == 0) {
          return candidate;
        }
        tried.add(candidate + " (no grpc module)");
      } catch (java.io.IOException e) {
        tried.add(candidate + " (not found)");
      }
    }
    throw new AssertionError(
        "no Python with gRPC: tried "
            + tried
            + ". Install it (Debian: apt-get install python3-grpcio protobuf-compiler"
            + " protobuf-compiler-grpc) or set SLUICE_PYTHON; scripts/test does this.");
  }
}
