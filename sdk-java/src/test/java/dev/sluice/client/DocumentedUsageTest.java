package dev.sluice.client;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.inference.v1.ChatRequest;
import dev.sluice.inference.v1.ChatResponse;
import dev.sluice.inference.v1.ChatStarted;
import dev.sluice.inference.v1.Choice;
import dev.sluice.inference.v1.ContentDelta;
import dev.sluice.inference.v1.ListModelsResponse;
import dev.sluice.inference.v1.ModelInfo;
import dev.sluice.inference.v1.StreamChatResponse;
import dev.sluice.inference.v1.Usage;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The Java example of docs/clients.md, kept compiling and working: the body of {@link #example}
 * is the snippet (printing to {@code out} instead of {@code System.out}).
 */
@Timeout(60)
class DocumentedUsageTest {
  @Test
  void theDocumentedExampleWorks() throws Exception {
    try (FakeGateway gateway = FakeGateway.start()) {
      gateway.chat =
          (request, response) -> {
            response.onNext(
                ChatResponse.newBuilder()
                    .addChoices(Choice.newBuilder().setMessage(Messages.assistant("Hi")))
                    .build());
            response.onCompleted();
          };
      gateway.streamChat =
          (request, response) -> {
            response.onNext(
                StreamChatResponse.newBuilder().setStarted(ChatStarted.getDefaultInstance()).build());
            response.onNext(
                StreamChatResponse.newBuilder()
                    .setContentDelta(ContentDelta.newBuilder().setText("Hello!"))
                    .build());
            response.onNext(
                StreamChatResponse.newBuilder()
                    .setUsage(Usage.newBuilder().setOutputTokens(2))
                    .build());
            response.onCompleted();
          };
      gateway.listModels =
          (request, response) -> {
            response.onNext(
                ListModelsResponse.newBuilder()
                    .addModels(ModelInfo.newBuilder().setName("mock-chat"))
                    .build());
            response.onCompleted();
          };
      ByteArrayOutputStream printed = new ByteArrayOutputStream();

      List<ModelInfo> models =
          example(gateway.target(), new PrintStream(printed, true, StandardCharsets.UTF_8));

      assertThat(models).extracting(ModelInfo::getName).containsExactly("mock-chat");
      assertThat(printed.toString(StandardCharsets.UTF_8))
          .contains("Hello!\n2 tokens")
          .contains("Hello!\n"); // once from the iterator, once from the listener
    }
  }

  private static List<ModelInfo> example(String target, PrintStream out) throws Exception {
    CountDownLatch listenerDone = new CountDownLatch(1);
    List<ModelInfo> models;
    // --- docs/clients.md ---
    try (SluiceClient client = SluiceClient.builder()
        .target(target)
        .plaintext()                                  // sluice dev; TLS is the default
        .deadline(Duration.ofMinutes(5))              // default 10 minutes, per call
        .build()) {

      ChatRequest request = ChatRequest.newBuilder()
          .setModel("mock-chat")
          .addMessages(Messages.user("Hello"))
          .build();

      // Whole answer.
      ChatResponse answer = client.chat(request);

      // Streamed, pulling events; closing early cancels the call on the gateway.
      try (ChatEventStream events = client.streamChat(request)) {
        while (events.hasNext()) {
          StreamChatResponse event = events.next();
          if (event.hasContentDelta()) {
            out.print(event.getContentDelta().getText());
          } else if (event.hasUsage()) {
            out.println("\n" + event.getUsage().getOutputTokens() + " tokens");
          }
        }
      }

      // Streamed, pushed to a listener; the handle cancels.
      ChatStream stream = client.streamChat(request, new ChatStreamListener() {
        @Override public void onContentDelta(ContentDelta delta) { out.print(delta.getText()); }
        @Override public void onCompleted() { out.println(); listenerDone.countDown(); }
        @Override public void onError(SluiceException error) { out.println(error.getMessage()); }
      });

      models = client.listModels();
      // --- end of the snippet ---
      assertThat(answer.getChoices(0).getMessage().getParts(0).getText()).isEqualTo("Hi");
      assertThat(listenerDone.await(10, TimeUnit.SECONDS)).isTrue();
      assertThat(stream.isDone()).isTrue();
    }
    return models;
  }
}
