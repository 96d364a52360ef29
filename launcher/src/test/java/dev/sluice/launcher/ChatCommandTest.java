package dev.sluice.launcher;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Any;
import com.google.rpc.ErrorInfo;
import dev.sluice.inference.v1.ChatRequest;
import dev.sluice.inference.v1.ChatResponse;
import dev.sluice.inference.v1.ChatStarted;
import dev.sluice.inference.v1.Choice;
import dev.sluice.inference.v1.ChoiceFinished;
import dev.sluice.inference.v1.ContentDelta;
import dev.sluice.inference.v1.FinishReason;
import dev.sluice.inference.v1.InferenceServiceGrpc;
import dev.sluice.inference.v1.StreamChatRequest;
import dev.sluice.inference.v1.StreamChatResponse;
import dev.sluice.inference.v1.Usage;
import dev.sluice.client.Messages;
import io.grpc.Status;
import io.grpc.protobuf.StatusProto;
import io.grpc.stub.StreamObserver;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(60)
class ChatCommandTest {
  private final List<ChatRequest> received = new CopyOnWriteArrayList<>();
  private volatile boolean failMidStream;
  private LoopbackServer gateway;

  private final class FakeInference extends InferenceServiceGrpc.InferenceServiceImplBase {
    @Override
    public void streamChat(StreamChatRequest request, StreamObserver<StreamChatResponse> response) {
      received.add(request.getChat());
      if (request.getChat().getModel().equals("nope")) {
        response.onError(
            StatusProto.toStatusRuntimeException(
                com.google.rpc.Status.newBuilder()
                    .setCode(Status.Code.NOT_FOUND.value())
                    .setMessage("model \"nope\" not found")
                    .addDetails(
                        Any.pack(
                            ErrorInfo.newBuilder()
                                .setDomain("sluice.dev")
                                .setReason("MODEL_NOT_FOUND")
                                .build()))
                    .build()));
        return;
      }
      response.onNext(
          StreamChatResponse.newBuilder()
              .setStarted(ChatStarted.newBuilder().setModel("mock-chat").setBackend("mock"))
              .build());
      for (String token : List.of("Hello", ",", " world")) {
        response.onNext(
            StreamChatResponse.newBuilder()
                .setContentDelta(ContentDelta.newBuilder().setText(token))
                .build());
      }
      if (failMidStream) {
        response.onNext(usage(4, 3));
        response.onError(Status.UNAVAILABLE.withDescription("upstream reset").asException());
        return;
      }
      response.onNext(
          StreamChatResponse.newBuilder()
              .setChoiceFinished(
                  ChoiceFinished.newBuilder()
                      .setFinishReason(FinishReason.FINISH_REASON_STOP)
                      .setRawFinishReason("stop"))
              .build());
      response.onNext(usage(4, 3));
      response.onCompleted();
    }

    @Override
    public void chat(ChatRequest request, StreamObserver<ChatResponse> response) {
      received.add(request);
      response.onNext(
          ChatResponse.newBuilder()
              .setModel("mock-chat")
              .setBackend("mock")
              .addChoices(
                  Choice.newBuilder()
                      .setMessage(Messages.assistant("Whole answer"))
                      .setFinishReason(FinishReason.FINISH_REASON_STOP))
              .setUsage(Usage.newBuilder().setInputTokens(4).setOutputTokens(2).setTotalTokens(6))
              .build());
      response.onCompleted();
    }

    private StreamChatResponse usage(int input, int output) {
      return StreamChatResponse.newBuilder()
          .setUsage(
              Usage.newBuilder()
                  .setInputTokens(input)
                  .setOutputTokens(output)
                  .setTotalTokens(input + output))
          .build();
    }
  }

  @BeforeEach
  void startGateway() throws Exception {
    gateway = LoopbackServer.serving(new FakeInference());
  }

  @AfterEach
  void stopGateway() throws Exception {
    gateway.close();
  }

  @Test
  void streamsTheAnswerToStdoutAndTheUsageToStderr() {
    CommandRun run =
        CommandRun.of("chat", "-m", "mock-chat", "--server", gateway.target(), "Hi", "there");

    assertThat(run.exitCode()).isZero();
    assertThat(run.out()).isEqualTo("Hello, world" + System.lineSeparator());
    assertThat(run.err())
        .contains("[4 input + 3 output = 7 tokens | finish STOP (stop) | model mock-chat via mock]");
    assertThat(received.get(0).getMessages(0).getParts(0).getText()).isEqualTo("Hi there");
  }

  @Test
  void sendsTheModelSystemInstructionsAndMaxTokens() {
    CommandRun.of(
        "chat", "-m", "mock-chat", "--server", gateway.target(),
        "--system", "Be brief.", "--max-tokens", "5", "Hi");

    ChatRequest request = received.get(0);
    assertThat(request.getModel()).isEqualTo("mock-chat");
    assertThat(request.getInstructions(0).getText()).isEqualTo("Be brief.");
    assertThat(request.getMaxOutputTokens()).isEqualTo(5);
  }

  @Test
  void sendsTheApiKeyAsABearerToken() {
    CommandRun.of(
        "chat", "-m", "mock-chat", "--server", gateway.target(), "--api-key", "sk-cli-test", "Hi");

    assertThat(gateway.lastAuthorization()).isEqualTo("Bearer sk-cli-test");
  }

  @Test
  void reportsAGatewayErrorWithItsReasonAndExitsWithOne() {
    CommandRun run = CommandRun.of("chat", "-m", "nope", "--server", gateway.target(), "Hi");

    assertThat(run.exitCode()).isEqualTo(1);
    assertThat(run.out()).isEmpty();
    assertThat(run.err()).contains("error: NOT_FOUND: model \"nope\" not found [MODEL_NOT_FOUND]");
  }

  @Test
  void keepsThePartialAnswerAndReportsTheUsageOfAStreamThatBreaks() {
    failMidStream = true;

    CommandRun run = CommandRun.of("chat", "-m", "mock-chat", "--server", gateway.target(), "Hi");

    assertThat(run.exitCode()).isEqualTo(1);
    assertThat(run.out()).isEqualTo("Hello, world" + System.lineSeparator());
    assertThat(run.err())
        .contains("[4 input + 3 output = 7 tokens")
        .contains("error: UNAVAILABLE: upstream reset");
  }

  @Test
  void usesTheUnaryCallWithNoStream() {
    CommandRun run =
        CommandRun.of("chat", "-m", "mock-chat", "--server", gateway.target(), "--no-stream", "Hi");

    assertThat(run.exitCode()).isZero();
    assertThat(run.out()).isEqualTo("Whole answer" + System.lineSeparator());
    assertThat(run.err()).contains("[4 input + 2 output = 6 tokens | finish STOP");
  }

  @Test
  void rejectsANonPositiveMaxTokensBeforeCalling() {
    CommandRun run =
        CommandRun.of(
            "chat", "-m", "mock-chat", "--server", gateway.target(), "--max-tokens", "0", "Hi");

    assertThat(run.exitCode()).isEqualTo(1);
    assertThat(run.err()).contains("--max-tokens: 0 (expected: > 0)");
    assertThat(received).isEmpty();
  }

  @Test
  void requiresAModel() {
    CommandRun run = CommandRun.of("chat", "--server", gateway.target(), "Hi");

    assertThat(run.exitCode()).isEqualTo(2);
    assertThat(run.err()).contains("Missing required option: '--model=MODEL'");
  }

  @Test
  void reportsAnUnreachableGatewayClearly() throws Exception {
    String target = gateway.target();
    gateway.close();

    CommandRun run = CommandRun.of("chat", "-m", "mock-chat", "--server", target, "Hi");

    assertThat(run.exitCode()).isEqualTo(1);
    assertThat(run.err()).startsWith("error: UNAVAILABLE");
  }
}
