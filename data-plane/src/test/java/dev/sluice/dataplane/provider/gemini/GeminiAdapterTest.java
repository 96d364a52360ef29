package dev.sluice.dataplane.provider.gemini;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.protobuf.ByteString;
import com.google.protobuf.Struct;
import dev.sluice.config.v1.Backend;
import dev.sluice.config.v1.BackendKind;
import dev.sluice.config.v1.SecretRef;
import dev.sluice.dataplane.provider.ChatCall;
import dev.sluice.dataplane.provider.EmbedCall;
import dev.sluice.dataplane.provider.ProviderAdapter;
import dev.sluice.dataplane.provider.RecordingStreamListener;
import dev.sluice.dataplane.provider.SecretResolver;
import dev.sluice.dataplane.provider.UpstreamException;
import dev.sluice.dataplane.provider.UpstreamFailure;
import dev.sluice.dataplane.provider.UpstreamStream;
import dev.sluice.dataplane.provider.UpstreamTarget;
import dev.sluice.dataplane.provider.http.HttpUpstreamClient;
import dev.sluice.dataplane.provider.http.TlsContexts;
import dev.sluice.inference.v1.ChatMessage;
import dev.sluice.inference.v1.ChatRequest;
import dev.sluice.inference.v1.ChatResponse;
import dev.sluice.inference.v1.Choice;
import dev.sluice.inference.v1.ContentDelta;
import dev.sluice.inference.v1.ContentPart;
import dev.sluice.inference.v1.EmbedRequest;
import dev.sluice.inference.v1.EmbedResponse;
import dev.sluice.inference.v1.FinishReason;
import dev.sluice.inference.v1.ReasoningConfig;
import dev.sluice.inference.v1.ReasoningPart;
import dev.sluice.inference.v1.ResponseFormat;
import dev.sluice.inference.v1.ResponseFormatType;
import dev.sluice.inference.v1.Role;
import dev.sluice.inference.v1.StreamChatResponse;
import dev.sluice.inference.v1.Tool;
import dev.sluice.inference.v1.ToolCallDelta;
import dev.sluice.inference.v1.ToolCallPart;
import dev.sluice.inference.v1.ToolChoice;
import dev.sluice.inference.v1.ToolChoiceMode;
import dev.sluice.inference.v1.ToolResultPart;
import dev.sluice.inference.v1.Usage;
import dev.sluice.testing.fakes.FakeGeminiServer;
import dev.sluice.testing.fakes.FakeToolCall;
import dev.sluice.testing.fakes.GeminiReply;
import dev.sluice.testing.fakes.RecordedRequest;
import dev.sluice.testing.fakes.SseLineEnding;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioSocketChannel;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class GeminiAdapterTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String KEY = "AIza-test-key";
  private static final byte[] SIGNATURE = {(byte) 0xCA, (byte) 0xFE, 0x00, 0x7F};

  private static EventLoopGroup group;
  private FakeGeminiServer fake;
  private HttpUpstreamClient http;
  private ProviderAdapter gemini;

  @BeforeAll
  static void startLoops() {
    group = new MultiThreadIoEventLoopGroup(2, NioIoHandler.newFactory());
  }

  @AfterAll
  static void stopLoops() {
    group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
  }

  @BeforeEach
  void start() {
    fake = FakeGeminiServer.start();
    http = HttpUpstreamClient.create(group, NioSocketChannel.class);
    Map<String, String> env = Map.of("GEMINI_TEST_KEY", KEY);
    gemini =
        GeminiProvider.create(
            http, SecretResolver.create(env::get, System::nanoTime, Duration.ofSeconds(1)), new TlsContexts());
  }

  @AfterEach
  void stop() {
    http.close();
    fake.close();
  }

  private Backend backend() {
    return Backend.newBuilder()
        .setName("gemini-test")
        .setKind(BackendKind.BACKEND_KIND_GEMINI)
        .setBaseUrl(fake.baseUrl())
        .setApiKey(SecretRef.newBuilder().setEnvVar("GEMINI_TEST_KEY"))
        .build();
  }

  private ChatCall call(ChatRequest request) {
    return new ChatCall(request, new UpstreamTarget(backend(), "gemini-2.5-flash"), null, "req-g");
  }

  private static ContentPart text(String text) {
    return ContentPart.newBuilder().setText(text).build();
  }

  private static ChatRequest hello() {
    return ChatRequest.newBuilder()
        .addMessages(ChatMessage.newBuilder().setRole(Role.ROLE_USER).addParts(text("Hello")))
        .build();
  }

  private RecordingStreamListener stream(ChatRequest request) {
    RecordingStreamListener listener = new RecordingStreamListener();
    gemini.streamChat(call(request), listener);
    return listener;
  }

  private static Struct struct(String json) throws Exception {
    Struct.Builder b = Struct.newBuilder();
    com.google.protobuf.util.JsonFormat.parser().merge(json, b);
    return b.build();
  }

  private static UpstreamException failure(java.util.concurrent.Future<?> future) {
    try {
      future.get(10, TimeUnit.SECONDS);
    } catch (java.util.concurrent.ExecutionException e) {
      return (UpstreamException) e.getCause();
    } catch (Exception e) {
      throw new AssertionError(e);
    }
    throw new AssertionError("expected a failure");
  }

  @Nested
  class RequestMapping {
    @Test
    void mapsTheConversationToContentsWithSystemInstructionToolsAndConfig() throws Exception {
      ChatRequest request =
          ChatRequest.newBuilder()
              .addInstructions(text("You are helpful."))
              .addMessages(ChatMessage.newBuilder().setRole(Role.ROLE_DEVELOPER).addParts(text("Use metric units.")))
              .addMessages(ChatMessage.newBuilder().setRole(Role.ROLE_USER).addParts(text("Weather in Oslo?")))
              .addMessages(
                  ChatMessage.newBuilder()
                      .setRole(Role.ROLE_ASSISTANT)
                      .addParts(
                          ContentPart.newBuilder()
                              .setToolCall(
                                  ToolCallPart.newBuilder().setId("call_1").setName("get_weather").setArguments("{\"city\":\"Oslo\"}"))
                              .setSignature(ByteString.copyFrom(SIGNATURE))))
              .addMessages(
                  ChatMessage.newBuilder()
                      .setRole(Role.ROLE_TOOL)
                      .addParts(
                          ContentPart.newBuilder()
                              .setToolResult(ToolResultPart.newBuilder().setToolCallId("call_1").addContent(text("{\"temp\":4}")))))
              .addMessages(
                  ChatMessage.newBuilder()
                      .setRole(Role.ROLE_USER)
                      .addParts(
                          ContentPart.newBuilder()
                              .setToolResult(
                                  ToolResultPart.newBuilder()
                                      .setToolCallId("call_2")
                                      .setName("get_time")
                                      .setIsError(true)
                                      .addContent(text("clock broken")))))
              .addTools(
                  Tool.newBuilder()
                      .setName("get_weather")
                      .setDescription("Weather")
                      .setParameters(struct("{\"type\":\"object\",\"additionalProperties\":false}")))
              .setToolChoice(
                  ToolChoice.newBuilder().setMode(ToolChoiceMode.TOOL_CHOICE_MODE_FUNCTION).setFunctionName("get_weather"))
              .setTemperature(0.7)
              .setMaxOutputTokens(300)
              .setCandidateCount(2)
              .addStopSequences("END")
              .setSeed(9)
              .setResponseFormat(
                  ResponseFormat.newBuilder()
                      .setType(ResponseFormatType.RESPONSE_FORMAT_TYPE_JSON_SCHEMA)
                      .setName("w")
                      .setSchema(struct("{\"type\":\"object\"}")))
              .setReasoning(ReasoningConfig.newBuilder().setBudgetTokens(512).setIncludeReasoning(true))
              .build();

      gemini.chat(call(request)).get(10, TimeUnit.SECONDS);

      RecordedRequest sent = fake.takeRequest();
      assertThat(sent.path()).isEqualTo("/v1beta/models/gemini-2.5-flash:generateContent");
      assertThat(sent.header("x-goog-api-key")).isEqualTo(KEY);
      assertThat(sent.jsonBody())
          .isEqualTo(
              JSON.readTree(
                  """
                  {"contents":[
                     {"role":"user","parts":[{"text":"Weather in Oslo?"}]},
                     {"role":"model","parts":[
                       {"functionCall":{"name":"get_weather","args":{"city":"Oslo"}},"thoughtSignature":"yv4Afw=="}]},
                     {"role":"user","parts":[
                       {"functionResponse":{"name":"get_weather","response":{"temp":4}}},
                       {"functionResponse":{"name":"get_time","response":{"error":"clock broken"}}}]}],
                   "systemInstruction":{"parts":[{"text":"You are helpful."},{"text":"Use metric units."}]},
                   "tools":[{"functionDeclarations":[
                     {"name":"get_weather","description":"Weather",
                      "parametersJsonSchema":{"type":"object","additionalProperties":false}}]}],
                   "toolConfig":{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["get_weather"]}},
                   "generationConfig":{"temperature":0.7,"maxOutputTokens":300,"candidateCount":2,
                     "stopSequences":["END"],"seed":9,"responseMimeType":"application/json",
                     "responseJsonSchema":{"type":"object"},
                     "thinkingConfig":{"thinkingBudget":512,"includeThoughts":true}}}
                  """));
    }

    @Test
    void streamsFromTheSseEndpoint() throws Exception {
      stream(hello()).awaitCompletion();

      RecordedRequest sent = fake.takeRequest();
      assertThat(sent.path()).isEqualTo("/v1beta/models/gemini-2.5-flash:streamGenerateContent");
      assertThat(sent.query()).isEqualTo("alt=sse");
      assertThat(sent.header("accept")).isEqualTo("text/event-stream");
    }
  }

  @Nested
  class Unary {
    @Test
    void readsPartsSignaturesFunctionCallsAndUsage() throws Exception {
      fake.enqueue(
          GeminiReply.text("")
              .thenThought("Thinking about it.")
              .thenSignedText("Calling the tool.", SIGNATURE)
              .thenFunctionCalls(null, FakeToolCall.of("ignored", "get_weather", "{\"city\":\"Oslo\"}"))
              .usage(20, 7)
              .cachedTokens(5)
              .thoughtsTokens(3)
              .modelVersion("gemini-2.5-flash-001")
              .responseId("resp-1"));

      ChatResponse r = gemini.chat(call(hello())).get(10, TimeUnit.SECONDS);

      assertThat(r.getId()).isEqualTo("resp-1");
      assertThat(r.getProvider()).isEqualTo("gcp.gemini");
      assertThat(r.getProviderModel()).isEqualTo("gemini-2.5-flash-001");
      Choice choice = r.getChoices(0);
      List<ContentPart> parts = choice.getMessage().getPartsList();
      assertThat(parts.get(1)).isEqualTo(ContentPart.newBuilder().setReasoning(ReasoningPart.newBuilder().setText("Thinking about it.")).build());
      assertThat(parts.get(2)).isEqualTo(ContentPart.newBuilder().setText("Calling the tool.").setSignature(ByteString.copyFrom(SIGNATURE)).build());
      ToolCallPart call = parts.get(3).getToolCall();
      assertThat(call.getName()).isEqualTo("get_weather");
      assertThat(call.getArguments()).isEqualTo("{\"city\":\"Oslo\"}");
      assertThat(call.getId()).as("generated: Gemini sent none").startsWith("call_");
      assertThat(choice.getFinishReason()).isEqualTo(FinishReason.FINISH_REASON_TOOL_CALLS);
      assertThat(choice.getRawFinishReason()).isEqualTo("STOP");
      assertThat(r.getUsage())
          .isEqualTo(
              Usage.newBuilder()
                  .setInputTokens(20)
                  .setOutputTokens(10)
                  .setTotalTokens(30)
                  .setCacheReadInputTokens(5)
                  .setReasoningTokens(3)
                  .build());
    }

    @Test
    void aBlockedPromptIsAContentFilterFinish() throws Exception {
      fake.enqueue(GeminiReply.blocked("SAFETY"));

      Choice choice = gemini.chat(call(hello())).get(10, TimeUnit.SECONDS).getChoices(0);

      assertThat(choice.getFinishReason()).isEqualTo(FinishReason.FINISH_REASON_CONTENT_FILTER);
      assertThat(choice.getRawFinishReason()).isEqualTo("SAFETY");
      assertThat(choice.getMessage().getPartsList()).isEmpty();
    }

    @Test
    void mapsFinishReasons() throws Exception {
      Map<String, FinishReason> reasons =
          Map.of(
              "MAX_TOKENS", FinishReason.FINISH_REASON_LENGTH,
              "RECITATION", FinishReason.FINISH_REASON_CONTENT_FILTER,
              "MALFORMED_FUNCTION_CALL", FinishReason.FINISH_REASON_MALFORMED_TOOL_CALL,
              "LANGUAGE", FinishReason.FINISH_REASON_OTHER);
      for (var e : reasons.entrySet()) {
        fake.enqueue(GeminiReply.text("x").finishReason(e.getKey()));
        assertThat(gemini.chat(call(hello())).get(10, TimeUnit.SECONDS).getChoices(0).getFinishReason())
            .as(e.getKey())
            .isEqualTo(e.getValue());
      }
    }
  }

  @Nested
  class Streaming {
    @Test
    void streamsTextIntoOnePartAndCompletesWhenTheBodyEnds() throws Exception {
      fake.enqueue(GeminiReply.text("The sky is blue").usage(6, 4).responseId("resp-s").modelVersion("gemini-2.5-flash"));

      RecordingStreamListener listener = stream(hello());
      List<StreamChatResponse> events = listener.awaitCompletion();

      assertThat(events.get(0).getStarted().getId()).isEqualTo("resp-s");
      assertThat(events.get(0).getStarted().getProviderModel()).isEqualTo("gemini-2.5-flash");
      assertThat(listener.text(0)).isEqualTo("The sky is blue");
      assertThat(events.stream().filter(StreamChatResponse::hasContentDelta))
          .allSatisfy(e -> assertThat(e.getContentDelta().getPartIndex()).isZero());
      assertThat(events.get(events.size() - 2).getChoiceFinished().getFinishReason()).isEqualTo(FinishReason.FINISH_REASON_STOP);
      assertThat(events.get(events.size() - 1).getUsage())
          .isEqualTo(Usage.newBuilder().setInputTokens(6).setOutputTokens(4).setTotalTokens(10).build());
    }

    @Test
    void streamsThoughtsTextSignaturesAndFunctionCallsAsParts() throws Exception {
      fake.enqueue(
          GeminiReply.text("")
              .thenThought("Plan the call")
              .thenSignedText("Let me check", SIGNATURE)
              .thenFunctionCalls(null, FakeToolCall.of("fc_1", "get_weather", "{\"city\":\"Oslo\"}"))
              .withCallIds()
              .wordsPerChunk(2));

      RecordingStreamListener listener = stream(hello());
      List<StreamChatResponse> events = listener.awaitCompletion();

      List<ContentDelta> content =
          events.stream().filter(StreamChatResponse::hasContentDelta).map(StreamChatResponse::getContentDelta).toList();
      assertThat(content.stream().filter(ContentDelta::hasReasoningText).map(ContentDelta::getReasoningText).reduce("", String::concat))
          .isEqualTo("Plan the call");
      assertThat(content.stream().filter(ContentDelta::hasReasoningText)).allSatisfy(d -> assertThat(d.getPartIndex()).isZero());
      assertThat(content.stream().filter(ContentDelta::hasText).map(ContentDelta::getText).reduce("", String::concat))
          .isEqualTo("Let me check");
      assertThat(content.stream().filter(ContentDelta::hasText)).allSatisfy(d -> assertThat(d.getPartIndex()).isEqualTo(1));
      assertThat(content.stream().filter(ContentDelta::hasSignature).findFirst().orElseThrow())
          .isEqualTo(ContentDelta.newBuilder().setPartIndex(1).setSignature(ByteString.copyFrom(SIGNATURE)).build());
      assertThat(listener.toolCallDeltas())
          .containsExactly(
              ToolCallDelta.newBuilder()
                  .setPartIndex(2)
                  .setId("fc_1")
                  .setName("get_weather")
                  .setArgumentsDelta("{\"city\":\"Oslo\"}")
                  .build());
      assertThat(events.get(events.size() - 2).getChoiceFinished().getFinishReason())
          .isEqualTo(FinishReason.FINISH_REASON_TOOL_CALLS);
    }

    @Test
    void streamsSeveralCandidates() throws Exception {
      fake.enqueue(GeminiReply.text("a b"));

      RecordingStreamListener listener = stream(hello().toBuilder().setCandidateCount(2).build());
      List<StreamChatResponse> events = listener.awaitCompletion();

      assertThat(listener.text(0)).isEqualTo("a b");
      assertThat(listener.text(1)).isEqualTo("a b");
      assertThat(events.stream().filter(StreamChatResponse::hasChoiceFinished)).hasSize(2);
    }

    @Test
    void aBlockedPromptFinishesTheStreamAsAContentFilter() throws Exception {
      fake.enqueue(GeminiReply.blocked("PROHIBITED_CONTENT"));

      RecordingStreamListener listener = stream(hello());
      List<StreamChatResponse> events = listener.awaitCompletion();

      assertThat(events.get(1).getChoiceFinished().getFinishReason()).isEqualTo(FinishReason.FINISH_REASON_CONTENT_FILTER);
      assertThat(events.get(1).getChoiceFinished().getRawFinishReason()).isEqualTo("PROHIBITED_CONTENT");
    }

    static Stream<Arguments> framings() {
      return Stream.of(
          Arguments.of("LF", (UnaryOperator<GeminiReply>) r -> r.lineEnding(SseLineEnding.LF)),
          Arguments.of("CR", (UnaryOperator<GeminiReply>) r -> r.lineEnding(SseLineEnding.CR)),
          Arguments.of("comments", (UnaryOperator<GeminiReply>) GeminiReply::keepAliveComments),
          Arguments.of("multi-line data", (UnaryOperator<GeminiReply>) GeminiReply::multiLineData),
          Arguments.of("byte by byte", (UnaryOperator<GeminiReply>) r -> r.splitWritesEvery(1)));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("framings")
    void givesTheSameEventsUnderAwkwardFraming(String name, UnaryOperator<GeminiReply> quirk) throws Exception {
      fake.enqueue(GeminiReply.text("Some words here").thenFunctionCalls(null, FakeToolCall.of("x", "f", "{}")).withCallIds().responseId("r"));
      List<StreamChatResponse> plain = stream(hello()).awaitCompletion();
      fake.enqueue(
          quirk.apply(GeminiReply.text("Some words here").thenFunctionCalls(null, FakeToolCall.of("x", "f", "{}")).withCallIds().responseId("r")));

      assertThat(stream(hello()).awaitCompletion()).containsExactlyElementsOf(plain);
    }
  }

  @Nested
  class Failures {
    @Test
    void aMissingKeyIsMisconfiguredWithoutTouchingTheUpstream() throws Exception {
      Backend backend =
          backend().toBuilder().setApiKey(SecretRef.newBuilder().setEnvVar("NOT_SET_ANYWHERE")).build();
      ChatCall call = new ChatCall(hello(), new UpstreamTarget(backend, "gemini-2.5-flash"), null, "req-g");

      assertThat(failure(gemini.chat(call)).failure()).isEqualTo(UpstreamFailure.MISCONFIGURED);
      RecordingStreamListener listener = new RecordingStreamListener();
      gemini.streamChat(call, listener);
      assertThat(listener.awaitError().failure()).isEqualTo(UpstreamFailure.MISCONFIGURED);
      assertThat(listener.events()).isEmpty();
      assertThat(fake.requests()).isEmpty();
    }

    static Stream<Arguments> statuses() {
      return Stream.of(
          Arguments.of(400, "INVALID_ARGUMENT", UpstreamFailure.BAD_REQUEST),
          Arguments.of(403, "PERMISSION_DENIED", UpstreamFailure.AUTH_FAILED),
          Arguments.of(404, "NOT_FOUND", UpstreamFailure.BAD_REQUEST),
          Arguments.of(429, "RESOURCE_EXHAUSTED", UpstreamFailure.RATE_LIMITED),
          Arguments.of(500, "INTERNAL", UpstreamFailure.SERVER_ERROR),
          Arguments.of(503, "UNAVAILABLE", UpstreamFailure.SERVER_ERROR));
    }

    @ParameterizedTest(name = "HTTP {0} {1} is {2}")
    @MethodSource("statuses")
    void mapsHttpErrors(int status, String googleStatus, UpstreamFailure expected) throws Exception {
      fake.enqueue(GeminiReply.error(status, googleStatus, "secret provider text"));
      fake.enqueue(GeminiReply.error(status, googleStatus, "secret provider text"));

      for (UpstreamException e : List.of(failure(gemini.chat(call(hello()))), stream(hello()).awaitError())) {
        assertThat(e.failure()).isEqualTo(expected);
        assertThat(e.getMessage()).contains(googleStatus).doesNotContain("secret provider text");
      }
    }

    @Test
    void tooManyInputTokensIsAContextWindowOverflow() throws Exception {
      fake.enqueue(
          GeminiReply.error(400, "INVALID_ARGUMENT",
              "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576)."));

      UpstreamException e = stream(hello()).awaitError();

      assertThat(e.failure()).isEqualTo(UpstreamFailure.CONTEXT_WINDOW_EXCEEDED);
      assertThat(e.getMessage()).contains("INVALID_ARGUMENT").doesNotContain("1048576");
    }

    @Test
    void anErrorInsideTheStreamFailsIt() throws Exception {
      fake.enqueue(GeminiReply.text("one two three").errorEventAfter(2, 503, "UNAVAILABLE", "overloaded"));

      RecordingStreamListener listener = stream(hello());
      UpstreamException error = listener.awaitError();

      assertThat(error.failure()).isEqualTo(UpstreamFailure.SERVER_ERROR);
      assertThat(listener.text(0)).isEqualTo("one two");
      assertThat(listener.usageSoFar().getOutputTokens()).isEqualTo(2);
    }

    @Test
    void aStreamThatEndsWithoutAFinishReasonIsBroken() throws Exception {
      fake.enqueue(GeminiReply.text("cut short").omitFinishReason());

      assertThat(stream(hello()).awaitError().failure()).isEqualTo(UpstreamFailure.STREAM_BROKEN);
    }

    @Test
    void cancelClosesTheUpstreamConnection() throws Exception {
      fake.enqueue(GeminiReply.text("w ".repeat(400)).tokenInterval(Duration.ofMillis(5)));
      RecordingStreamListener listener = new RecordingStreamListener();
      UpstreamStream stream = gemini.streamChat(call(hello()), listener);
      listener.awaitFirstContent(Duration.ofSeconds(5));

      stream.cancel();

      fake.awaitOpenConnections(0, Duration.ofMillis(100));
      assertThat(listener.isDone()).isFalse();
    }
  }

  @Test
  void embedsABatchOfTexts() throws Exception {
    EmbedCall call =
        new EmbedCall(
            EmbedRequest.newBuilder().addInputs("alpha").addInputs("beta").setDimensions(5).build(),
            new UpstreamTarget(backend(), "text-embedding-004"), null, "r");

    EmbedResponse r = gemini.embed(call).get(10, TimeUnit.SECONDS);

    RecordedRequest sent = fake.takeRequest();
    assertThat(sent.path()).isEqualTo("/v1beta/models/text-embedding-004:batchEmbedContents");
    assertThat(sent.jsonBody().get("requests").get(1))
        .isEqualTo(
            JSON.readTree(
                "{\"model\":\"models/text-embedding-004\",\"content\":{\"parts\":[{\"text\":\"beta\"}]},"
                    + "\"outputDimensionality\":5}"));
    assertThat(r.getEmbeddingsList()).hasSize(2);
    assertThat(r.getEmbeddings(1).getIndex()).isEqualTo(1);
    assertThat(r.getEmbeddings(1).getValuesList()).hasSize(5);
  }
}
