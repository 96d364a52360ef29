package dev.sluice.dataplane.provider.mock;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.util.Durations;
import dev.sluice.config.v1.Backend;
import dev.sluice.config.v1.BackendKind;
import dev.sluice.config.v1.MockSettings;
import dev.sluice.dataplane.provider.ChatCall;
import dev.sluice.dataplane.provider.EmbedCall;
import dev.sluice.dataplane.provider.ProviderAdapter;
import dev.sluice.dataplane.provider.RecordingStreamListener;
import dev.sluice.dataplane.provider.UpstreamFailure;
import dev.sluice.dataplane.provider.UpstreamStream;
import dev.sluice.dataplane.provider.UpstreamTarget;
import dev.sluice.inference.v1.ChatMessage;
import dev.sluice.inference.v1.ChatRequest;
import dev.sluice.inference.v1.ChatResponse;
import dev.sluice.inference.v1.ContentPart;
import dev.sluice.inference.v1.EmbedRequest;
import dev.sluice.inference.v1.EmbedResponse;
import dev.sluice.inference.v1.EmbeddingEncoding;
import dev.sluice.inference.v1.FinishReason;
import dev.sluice.inference.v1.Role;
import dev.sluice.inference.v1.StreamChatResponse;
import dev.sluice.inference.v1.Usage;
import io.grpc.Deadline;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class MockAdapterTest {
  private static EventLoopGroup group;
  private static ProviderAdapter mock;

  @BeforeAll
  static void start() {
    group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
    mock = MockProvider.create(group);
  }

  @AfterAll
  static void stop() {
    group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
  }

  private static Backend backend(MockSettings settings) {
    return Backend.newBuilder()
        .setName("mock-1")
        .setKind(BackendKind.BACKEND_KIND_MOCK)
        .setMock(settings)
        .build();
  }

  private static ChatRequest ask(String text) {
    return ChatRequest.newBuilder()
        .setModel("mock")
        .addMessages(
            ChatMessage.newBuilder().setRole(Role.ROLE_USER).addParts(ContentPart.newBuilder().setText(text)))
        .build();
  }

  private static ChatCall call(MockSettings settings, ChatRequest request) {
    return new ChatCall(request, new UpstreamTarget(backend(settings), "mock-model-v1"), null, "req-m");
  }

  private static String text(ChatResponse r) {
    return r.getChoices(0).getMessage().getParts(0).getText();
  }

  @Test
  void answersTheSameRequestWithTheSameText() throws Exception {
    ChatResponse first = mock.chat(call(MockSettings.getDefaultInstance(), ask("Tell me a story"))).get(5, TimeUnit.SECONDS);
    ChatResponse again = mock.chat(call(MockSettings.getDefaultInstance(), ask("Tell me a story"))).get(5, TimeUnit.SECONDS);
    ChatResponse other = mock.chat(call(MockSettings.getDefaultInstance(), ask("Something else"))).get(5, TimeUnit.SECONDS);

    assertThat(text(again)).isEqualTo(text(first));
    assertThat(text(other)).isNotEqualTo(text(first));
    assertThat(first.getProvider()).isEqualTo("mock");
    assertThat(first.getBackend()).isEqualTo("mock-1");
    assertThat(first.getProviderModel()).isEqualTo("mock-model-v1");
    assertThat(first.getRequestId()).isEqualTo("req-m");
  }

  @Test
  void aConfiguredSeedFixesTheTextWhateverTheRequest() throws Exception {
    MockSettings seeded = MockSettings.newBuilder().setSeed(7).build();

    String a = text(mock.chat(call(seeded, ask("one"))).get(5, TimeUnit.SECONDS));
    String b = text(mock.chat(call(seeded, ask("two"))).get(5, TimeUnit.SECONDS));

    assertThat(a).isEqualTo(b);
  }

  @Test
  void generates32TokensByDefaultWithHonestUsage() throws Exception {
    String prompt = "x".repeat(41); // 41 characters: 11 tokens at 4 characters per token

    ChatResponse r = mock.chat(call(MockSettings.getDefaultInstance(), ask(prompt))).get(5, TimeUnit.SECONDS);

    assertThat(text(r).split(" ")).hasSize(32);
    assertThat(text(r)).endsWith(".");
    assertThat(r.getChoices(0).getFinishReason()).isEqualTo(FinishReason.FINISH_REASON_STOP);
    assertThat(r.getUsage())
        .isEqualTo(Usage.newBuilder().setInputTokens(11).setOutputTokens(32).setTotalTokens(43).build());
  }

  @Test
  void streamsTheSameTextAsTheUnaryAnswer() throws Exception {
    MockSettings settings = MockSettings.newBuilder().setTokensPerResponse(20).build();
    String unary = text(mock.chat(call(settings, ask("same"))).get(5, TimeUnit.SECONDS));
    RecordingStreamListener listener = new RecordingStreamListener();

    mock.streamChat(call(settings, ask("same")), listener);
    List<StreamChatResponse> events = listener.awaitCompletion();

    assertThat(listener.text(0)).isEqualTo(unary);
    assertThat(events).hasSize(1 + 20 + 1 + 1);
    assertThat(events.get(0).getStarted().getProvider()).isEqualTo("mock");
    assertThat(events.get(21).getChoiceFinished().getFinishReason()).isEqualTo(FinishReason.FINISH_REASON_STOP);
    assertThat(events.get(22).getUsage().getOutputTokens()).isEqualTo(20);
  }

  @Test
  void theRequestsMaxOutputTokensCapsTheAnswerAndFinishesWithLength() throws Exception {
    MockSettings settings = MockSettings.newBuilder().setTokensPerResponse(100).build();
    RecordingStreamListener listener = new RecordingStreamListener();

    mock.streamChat(call(settings, ask("cap me").toBuilder().setMaxOutputTokens(5).build()), listener);
    List<StreamChatResponse> events = listener.awaitCompletion();

    assertThat(events.stream().filter(StreamChatResponse::hasContentDelta)).hasSize(5);
    StreamChatResponse finished = events.get(events.size() - 2);
    assertThat(finished.getChoiceFinished().getFinishReason()).isEqualTo(FinishReason.FINISH_REASON_LENGTH);
    assertThat(finished.getChoiceFinished().getRawFinishReason()).isEqualTo("length");
    assertThat(events.get(events.size() - 1).getUsage().getOutputTokens()).isEqualTo(5);
  }

  @Test
  void generatesOneAnswerPerRequestedCandidate() throws Exception {
    RecordingStreamListener listener = new RecordingStreamListener();

    mock.streamChat(call(MockSettings.newBuilder().setTokensPerResponse(4).build(),
        ask("twice").toBuilder().setCandidateCount(2).build()), listener);
    List<StreamChatResponse> events = listener.awaitCompletion();

    assertThat(listener.text(0)).isNotEmpty().isNotEqualTo(listener.text(1));
    assertThat(events.get(events.size() - 1).getUsage().getOutputTokens()).isEqualTo(8);
  }

  @Test
  void pacesTokensWithTheEventLoopScheduler() throws Exception {
    MockSettings settings =
        MockSettings.newBuilder()
            .setTokensPerResponse(6)
            .setTokensPerSecond(50)
            .setTimeToFirstToken(Durations.fromMillis(100))
            .build();
    RecordingStreamListener listener = new RecordingStreamListener();
    long start = System.nanoTime();

    mock.streamChat(call(settings, ask("paced")), listener);
    listener.awaitFirstContent(Duration.ofSeconds(5));
    long firstToken = System.nanoTime() - start;
    listener.awaitCompletion();
    long total = System.nanoTime() - start;

    // 100 ms to the first token, then 5 gaps of 20 ms: the pacing is behaviour, not speed.
    assertThat(Duration.ofNanos(firstToken)).isGreaterThanOrEqualTo(Duration.ofMillis(100));
    assertThat(Duration.ofNanos(total)).isGreaterThanOrEqualTo(Duration.ofMillis(200));
  }

  @Test
  void stopsWhenTheListenerIsNotReadyAndGoesOnWhenResumed() throws Exception {
    RecordingStreamListener listener = new RecordingStreamListener();
    listener.pauseAfterEvents = 4;

    UpstreamStream stream =
        mock.streamChat(call(MockSettings.newBuilder().setTokensPerResponse(50).build(), ask("slow reader")), listener);
    Thread.sleep(200);
    assertThat(listener.events()).hasSize(4);
    assertThat(listener.isDone()).isFalse();

    listener.ready = true;
    stream.resume();
    listener.awaitCompletion();
    assertThat(listener.events().stream().filter(StreamChatResponse::hasContentDelta)).hasSize(50);
  }

  @Test
  void cancelStopsTheStreamWithoutFurtherCallbacks() throws Exception {
    RecordingStreamListener listener = new RecordingStreamListener();
    UpstreamStream stream =
        mock.streamChat(
            call(MockSettings.newBuilder().setTokensPerResponse(1000).setTokensPerSecond(200).build(), ask("cancel")),
            listener);
    listener.awaitFirstContent(Duration.ofSeconds(5));

    stream.cancel();
    Thread.sleep(50);
    int callbacks = listener.callbacks();
    Thread.sleep(150);

    assertThat(listener.callbacks()).isEqualTo(callbacks);
    assertThat(listener.isDone()).isFalse();
  }

  @Test
  void aDeadlineShorterThanTheGenerationEndsItWithTimeoutAndTheUsageSoFar() throws Exception {
    MockSettings slow = MockSettings.newBuilder().setTokensPerResponse(100).setTokensPerSecond(50).build();
    ChatCall call =
        new ChatCall(ask("late"), new UpstreamTarget(backend(slow), "m"), Deadline.after(150, TimeUnit.MILLISECONDS), "r");
    RecordingStreamListener listener = new RecordingStreamListener();

    mock.streamChat(call, listener);

    assertThat(listener.awaitError().failure()).isEqualTo(UpstreamFailure.TIMEOUT);
    assertThat(listener.usageSoFar().getOutputTokens()).isBetween(1, 99);
  }

  @Test
  void embedsTextsAsDeterministicUnitVectors() throws Exception {
    EmbedRequest request = EmbedRequest.newBuilder().setModel("e").addInputs("alpha").addInputs("beta").build();
    EmbedCall call =
        new EmbedCall(request, new UpstreamTarget(backend(MockSettings.newBuilder().setEmbeddingDimensions(24).build()), "m"), null, "r");

    EmbedResponse first = mock.embed(call).get(5, TimeUnit.SECONDS);
    EmbedResponse again = mock.embed(call).get(5, TimeUnit.SECONDS);

    assertThat(first).isEqualTo(again);
    assertThat(first.getEmbeddingsList()).hasSize(2);
    for (var e : first.getEmbeddingsList()) {
      assertThat(e.getValuesList()).hasSize(24);
      double norm = e.getValuesList().stream().mapToDouble(v -> v * v).sum();
      assertThat(norm).isCloseTo(1.0, org.assertj.core.data.Offset.offset(1e-5));
    }
    assertThat(first.getEmbeddings(0).getValuesList()).isNotEqualTo(first.getEmbeddings(1).getValuesList());
    assertThat(first.getUsage()).isEqualTo(Usage.newBuilder().setInputTokens(3).setTotalTokens(3).build());
  }

  @Test
  void embedsInTheRequestedDimensionsAndEncoding() throws Exception {
    EmbedRequest request =
        EmbedRequest.newBuilder()
            .addInputs("alpha")
            .setDimensions(8)
            .setEncoding(EmbeddingEncoding.EMBEDDING_ENCODING_BASE64)
            .build();
    EmbedCall call = new EmbedCall(request, new UpstreamTarget(backend(MockSettings.getDefaultInstance()), "m"), null, "r");

    EmbedResponse r = mock.embed(call).get(5, TimeUnit.SECONDS);

    assertThat(r.getEmbeddings(0).getValuesList()).isEmpty();
    var floats = r.getEmbeddings(0).getData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
    assertThat(floats.remaining()).isEqualTo(8);
    double norm = 0;
    while (floats.hasRemaining()) {
      float f = floats.get();
      norm += f * f;
    }
    assertThat(norm).isCloseTo(1.0, org.assertj.core.data.Offset.offset(1e-5));
  }
}
