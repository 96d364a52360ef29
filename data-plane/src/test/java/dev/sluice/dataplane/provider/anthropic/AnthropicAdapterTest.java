package dev.sluice.dataplane.provider.anthropic;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.protobuf.ByteString;
import com.google.protobuf.Struct;
import com.google.protobuf.util.Durations;
import dev.sluice.config.v1.AnthropicSettings;
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
import dev.sluice.inference.v1.CacheControl;
import dev.sluice.inference.v1.ChatMessage;
import dev.sluice.inference.v1.ChatRequest;
import dev.sluice.inference.v1.ChatResponse;
import dev.sluice.inference.v1.Choice;
import dev.sluice.inference.v1.ContentDelta;
import dev.sluice.inference.v1.ContentPart;
import dev.sluice.inference.v1.EmbedRequest;
import dev.sluice.inference.v1.FinishReason;
import dev.sluice.inference.v1.ImagePart;
import dev.sluice.inference.v1.ReasoningConfig;
import dev.sluice.inference.v1.ReasoningEffort;
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
import dev.sluice.testing.fakes.AnthropicReply;
import dev.sluice.testing.fakes.FakeAnthropicServer;
import dev.sluice.testing.fakes.FakeToolCall;
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

class AnthropicAdapterTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String KEY = "sk-ant-test-abcdef";

  private static EventLoopGroup group;
  private FakeAnthropicServer fake;
  private HttpUpstreamClient http;
  private ProviderAdapter anthropic;

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
    fake = FakeAnthropicServer.start();
    http = HttpUpstreamClient.create(group, NioSocketChannel.class);
    Map<String, String> env = Map.of("ANTHROPIC_TEST_KEY", KEY);
    anthropic =
        AnthropicProvider.create(
            http, SecretResolver.create(env::get, System::nanoTime, Duration.ofSeconds(1)), new TlsContexts());
  }

  @AfterEach
  void stop() {
    http.close();
    fake.close();
  }

  private Backend.Builder backend() {
    return Backend.newBuilder()
        .setName("anthropic-test")
        .setKind(BackendKind.BACKEND_KIND_ANTHROPIC)
        .setBaseUrl(fake.baseUrl())
        .setApiKey(SecretRef.newBuilder().setEnvVar("ANTHROPIC_TEST_KEY"));
  }

  private ChatCall call(Backend backend, ChatRequest request) {
    return new ChatCall(request, new UpstreamTarget(backend, "claude-sonnet-4-5"), null, "req-a");
  }

  private ChatCall call(ChatRequest request) {
    return call(backend().build(), request);
  }

  private static ContentPart text(String text) {
    return ContentPart.newBuilder().setText(text).build();
  }

  private static ChatRequest hello() {
    return ChatRequest.newBuilder()
        .addMessages(ChatMessage.newBuilder().setRole(Role.ROLE_USER).addParts(text("Hello")))
        .build();
  }

  private RecordingStreamListener stream(ChatCall call) {
    RecordingStreamListener listener = new RecordingStreamListener();
    anthropic.streamChat(call, listener);
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
    void mapsTheConversationToMessagesWithSystemToolsAndThinking() throws Exception {
      ChatRequest request =
          ChatRequest.newBuilder()
              .addInstructions(
                  ContentPart.newBuilder()
                      .setText("You are a weather bot.")
                      .setCacheControl(CacheControl.newBuilder().setTtl(Durations.fromSeconds(3600))))
              .addMessages(ChatMessage.newBuilder().setRole(Role.ROLE_SYSTEM).addParts(text("Be brief.")))
              .addMessages(
                  ChatMessage.newBuilder()
                      .setRole(Role.ROLE_USER)
                      .addParts(text("Weather in Paris?"))
                      .addParts(
                          ContentPart.newBuilder()
                              .setImage(
                                  ImagePart.newBuilder()
                                      .setData(ByteString.copyFrom(new byte[] {1, 2, 3}))
                                      .setMimeType("image/png"))))
              .addMessages(
                  ChatMessage.newBuilder()
                      .setRole(Role.ROLE_ASSISTANT)
                      .addParts(
                          ContentPart.newBuilder()
                              .setReasoning(ReasoningPart.newBuilder().setText("Need the tool."))
                              .setSignature(ByteString.copyFromUtf8("sig-1")))
                      .addParts(
                          ContentPart.newBuilder()
                              .setReasoning(ReasoningPart.newBuilder().setText("from another provider")))
                      .addParts(
                          ContentPart.newBuilder()
                              .setToolCall(
                                  ToolCallPart.newBuilder()
                                      .setId("toolu_1")
                                      .setName("get_weather")
                                      .setArguments("{\"city\": \"Paris\"}"))))
              .addMessages(
                  ChatMessage.newBuilder()
                      .setRole(Role.ROLE_TOOL)
                      .addParts(
                          ContentPart.newBuilder()
                              .setToolResult(
                                  ToolResultPart.newBuilder()
                                      .setToolCallId("toolu_1")
                                      .setIsError(true)
                                      .addContent(text("service down")))))
              .addMessages(ChatMessage.newBuilder().setRole(Role.ROLE_USER).addParts(text("Try again.")))
              .addTools(
                  Tool.newBuilder()
                      .setName("get_weather")
                      .setDescription("Current weather")
                      .setParameters(struct("{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}}")))
              .addTools(Tool.newBuilder().setName("no_args"))
              .setToolChoice(
                  ToolChoice.newBuilder()
                      .setMode(ToolChoiceMode.TOOL_CHOICE_MODE_REQUIRED)
                      .setParallelToolCalls(false))
              .setTemperature(0.3)
              .setTopK(20)
              .addStopSequences("###")
              .setReasoning(ReasoningConfig.newBuilder().setEffort(ReasoningEffort.REASONING_EFFORT_LOW))
              .setEndUser("user-9")
              .setSeed(1)
              .build();

      anthropic.chat(call(request)).get(10, TimeUnit.SECONDS);

      RecordedRequest sent = fake.takeRequest();
      assertThat(sent.path()).isEqualTo("/v1/messages");
      assertThat(sent.jsonBody())
          .isEqualTo(
              JSON.readTree(
                  """
                  {"model":"claude-sonnet-4-5","max_tokens":4096,
                   "system":[
                     {"type":"text","text":"You are a weather bot.","cache_control":{"type":"ephemeral","ttl":"1h"}},
                     {"type":"text","text":"Be brief."}],
                   "messages":[
                     {"role":"user","content":[
                       {"type":"text","text":"Weather in Paris?"},
                       {"type":"image","source":{"type":"base64","media_type":"image/png","data":"AQID"}}]},
                     {"role":"assistant","content":[
                       {"type":"thinking","thinking":"Need the tool.","signature":"sig-1"},
                       {"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city":"Paris"}}]},
                     {"role":"user","content":[
                       {"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"service down"}],"is_error":true},
                       {"type":"text","text":"Try again."}]}],
                   "tools":[
                     {"name":"get_weather","description":"Current weather",
                      "input_schema":{"type":"object","properties":{"city":{"type":"string"}}}},
                     {"name":"no_args","input_schema":{"type":"object"}}],
                   "tool_choice":{"type":"any","disable_parallel_tool_use":true},
                   "temperature":0.3,"top_k":20,"stop_sequences":["###"],
                   "thinking":{"type":"enabled","budget_tokens":2048},
                   "metadata":{"user_id":"user-9"}}
                  """));
    }

    @Test
    void sendsTheKeyVersionAndBetaHeaders() throws Exception {
      Backend backend =
          backend()
              .setAnthropic(
                  AnthropicSettings.newBuilder()
                      .setApiVersion("2023-06-01")
                      .addBetaFeatures("prompt-caching-2024-07-31")
                      .addBetaFeatures("files-api-2025-04-14"))
              .build();

      stream(call(backend, hello())).awaitCompletion();

      RecordedRequest sent = fake.takeRequest();
      assertThat(sent.header("x-api-key")).isEqualTo(KEY);
      assertThat(sent.header("authorization")).isNull();
      assertThat(sent.header("anthropic-version")).isEqualTo("2023-06-01");
      assertThat(sent.header("anthropic-beta")).isEqualTo("prompt-caching-2024-07-31,files-api-2025-04-14");
      JsonNode body = sent.jsonBody();
      assertThat(body.get("stream").asBoolean()).isTrue();
      assertThat(body.get("max_tokens").asInt()).isEqualTo(4096);
    }

    @Test
    void theDefaultVersionIsSentWhenNoneIsConfigured() throws Exception {
      anthropic.chat(call(hello().toBuilder().setMaxOutputTokens(100).build())).get(10, TimeUnit.SECONDS);

      RecordedRequest sent = fake.takeRequest();
      assertThat(sent.header("anthropic-version")).isEqualTo("2023-06-01");
      assertThat(sent.jsonBody().get("max_tokens").asInt()).isEqualTo(100);
    }

    @Test
    void rejectsWhatAnthropicCannotDo() {
      List<ChatRequest> unsupported =
          List.of(
              hello().toBuilder().setCandidateCount(2).build(),
              hello().toBuilder().setPresencePenalty(0.5).build(),
              hello().toBuilder()
                  .setResponseFormat(ResponseFormat.newBuilder().setType(ResponseFormatType.RESPONSE_FORMAT_TYPE_JSON_OBJECT))
                  .build(),
              hello().toBuilder()
                  .addMessages(
                      ChatMessage.newBuilder()
                          .setRole(Role.ROLE_ASSISTANT)
                          .addParts(
                              ContentPart.newBuilder()
                                  .setToolCall(ToolCallPart.newBuilder().setId("t").setName("f").setArguments("[1,2]"))))
                  .build());

      for (ChatRequest request : unsupported) {
        assertThat(failure(anthropic.chat(call(request))).failure()).isEqualTo(UpstreamFailure.BAD_REQUEST);
      }
      assertThat(fake.requests()).isEmpty();
    }

    @Test
    void hasNoEmbeddings() {
      EmbedCall call =
          new EmbedCall(EmbedRequest.newBuilder().addInputs("x").build(),
              new UpstreamTarget(backend().build(), "m"), null, "r");

      assertThat(failure(anthropic.embed(call)).failure()).isEqualTo(UpstreamFailure.BAD_REQUEST);
    }
  }

  @Nested
  class Unary {
    @Test
    void readsBlocksInOrderWithSignaturesAndNormalizedUsage() throws Exception {
      fake.enqueue(
          AnthropicReply.text("")
              .thenThinking("Let me think.", "sig-abc")
              .thenRedactedThinking("encrypted-blob")
              .thenText("It is sunny.")
              .thenToolUse(FakeToolCall.of("toolu_7", "get_weather", "{\"city\":\"Paris\"}"))
              .usage(10, 20)
              .cacheRead(100)
              .cacheCreation(5));

      ChatResponse r = anthropic.chat(call(hello())).get(10, TimeUnit.SECONDS);

      assertThat(r.getId()).isEqualTo("msg_fake1");
      assertThat(r.getProvider()).isEqualTo("anthropic");
      assertThat(r.getProviderModel()).isEqualTo("claude-sonnet-4-5");
      Choice choice = r.getChoices(0);
      assertThat(choice.getMessage().getPartsList())
          .containsExactly(
              text(""),
              ContentPart.newBuilder()
                  .setReasoning(ReasoningPart.newBuilder().setText("Let me think."))
                  .setSignature(ByteString.copyFromUtf8("sig-abc"))
                  .build(),
              ContentPart.newBuilder()
                  .setReasoning(ReasoningPart.newBuilder().setRedacted(true))
                  .setSignature(ByteString.copyFromUtf8("encrypted-blob"))
                  .build(),
              text("It is sunny."),
              ContentPart.newBuilder()
                  .setToolCall(
                      ToolCallPart.newBuilder().setId("toolu_7").setName("get_weather").setArguments("{\"city\":\"Paris\"}"))
                  .build());
      assertThat(choice.getFinishReason()).isEqualTo(FinishReason.FINISH_REASON_TOOL_CALLS);
      assertThat(choice.getRawFinishReason()).isEqualTo("tool_use");
      assertThat(r.getUsage())
          .isEqualTo(
              Usage.newBuilder()
                  .setInputTokens(115)
                  .setOutputTokens(20)
                  .setTotalTokens(135)
                  .setCacheReadInputTokens(100)
                  .setCacheCreationInputTokens(5)
                  .build());
    }

    @Test
    void reportsTheMatchedStopSequence() throws Exception {
      fake.enqueue(AnthropicReply.text("one two").stopSequence("###"));

      Choice choice = anthropic.chat(call(hello())).get(10, TimeUnit.SECONDS).getChoices(0);

      assertThat(choice.getFinishReason()).isEqualTo(FinishReason.FINISH_REASON_STOP);
      assertThat(choice.getRawFinishReason()).isEqualTo("stop_sequence");
      assertThat(choice.getStopSequence()).isEqualTo("###");
    }

    @Test
    void mapsEveryStopReason() throws Exception {
      Map<String, FinishReason> reasons =
          Map.of(
              "end_turn", FinishReason.FINISH_REASON_STOP,
              "max_tokens", FinishReason.FINISH_REASON_LENGTH,
              "refusal", FinishReason.FINISH_REASON_REFUSAL,
              "pause_turn", FinishReason.FINISH_REASON_PAUSED,
              "model_context_window_exceeded", FinishReason.FINISH_REASON_CONTEXT_WINDOW_EXCEEDED,
              "something_new", FinishReason.FINISH_REASON_OTHER);
      for (var e : reasons.entrySet()) {
        fake.enqueue(AnthropicReply.text("x").stopReason(e.getKey()));
        Choice choice = anthropic.chat(call(hello())).get(10, TimeUnit.SECONDS).getChoices(0);
        assertThat(choice.getFinishReason()).as(e.getKey()).isEqualTo(e.getValue());
      }
    }
  }

  @Nested
  class Streaming {
    @Test
    void streamsTextWithPartStartsFinishAndNormalizedUsage() throws Exception {
      fake.enqueue(AnthropicReply.text("Hello there you").usage(12, 3).cacheRead(30).pings());

      RecordingStreamListener listener = stream(call(hello()));
      List<StreamChatResponse> events = listener.awaitCompletion();

      assertThat(listener.kinds())
          .containsExactly(
              StreamChatResponse.EventCase.STARTED,
              StreamChatResponse.EventCase.CONTENT_DELTA,
              StreamChatResponse.EventCase.CONTENT_DELTA,
              StreamChatResponse.EventCase.CONTENT_DELTA,
              StreamChatResponse.EventCase.CONTENT_DELTA,
              StreamChatResponse.EventCase.CHOICE_FINISHED,
              StreamChatResponse.EventCase.USAGE);
      assertThat(events.get(0).getStarted().getId()).isEqualTo("msg_fake1");
      assertThat(events.get(0).getStarted().getProviderModel()).isEqualTo("claude-sonnet-4-5");
      assertThat(events.get(0).getStarted().getProvider()).isEqualTo("anthropic");
      assertThat(events.get(1).getContentDelta().getText()).as("the block start fixes the part").isEmpty();
      assertThat(listener.text(0)).isEqualTo("Hello there you");
      assertThat(events.get(5).getChoiceFinished().getFinishReason()).isEqualTo(FinishReason.FINISH_REASON_STOP);
      assertThat(events.get(5).getChoiceFinished().getRawFinishReason()).isEqualTo("end_turn");
      assertThat(events.get(6).getUsage())
          .isEqualTo(
              Usage.newBuilder().setInputTokens(42).setOutputTokens(3).setTotalTokens(45).setCacheReadInputTokens(30).build());
    }

    @Test
    void streamsThinkingSignaturesRedactedThinkingAndToolUseAsParts() throws Exception {
      String arguments = "{\"city\":\"Paris\",\"days\":3}";
      fake.enqueue(
          AnthropicReply.toolUse()
              .thenThinking("Need weather", "sig-xyz")
              .thenRedactedThinking("opaque")
              .thenText("Checking.")
              .thenToolUse(
                  FakeToolCall.of("toolu_a", "get_weather", arguments),
                  FakeToolCall.of("toolu_b", "get_time", "{}")));

      RecordingStreamListener listener = stream(call(hello()));
      List<StreamChatResponse> events = listener.awaitCompletion();

      List<ContentDelta> content =
          events.stream().filter(StreamChatResponse::hasContentDelta).map(StreamChatResponse::getContentDelta).toList();
      assertThat(content.stream().filter(d -> d.getPartIndex() == 0 && d.hasReasoningText()).map(ContentDelta::getReasoningText).reduce("", String::concat))
          .isEqualTo("Need weather");
      assertThat(content.stream().filter(ContentDelta::hasSignature).map(d -> d.getSignature().toStringUtf8()))
          .containsExactly("sig-xyz");
      assertThat(content.stream().filter(ContentDelta::hasPart).findFirst().orElseThrow())
          .satisfies(
              d -> {
                assertThat(d.getPartIndex()).isEqualTo(1);
                assertThat(d.getPart().getReasoning().getRedacted()).isTrue();
                assertThat(d.getPart().getSignature().toStringUtf8()).isEqualTo("opaque");
              });
      assertThat(content.stream().filter(d -> d.getPartIndex() == 2).map(ContentDelta::getText).reduce("", String::concat))
          .isEqualTo("Checking.");
      List<ToolCallDelta> tools = listener.toolCallDeltas();
      assertThat(tools.get(0))
          .isEqualTo(
              ToolCallDelta.newBuilder().setPartIndex(3).setToolCallIndex(0).setId("toolu_a").setName("get_weather").build());
      assertThat(tools.stream().filter(t -> t.getToolCallIndex() == 0).map(ToolCallDelta::getArgumentsDelta).reduce("", String::concat))
          .isEqualTo(arguments);
      assertThat(tools.stream().filter(t -> t.getToolCallIndex() == 1))
          .allSatisfy(t -> assertThat(t.getPartIndex()).isEqualTo(4));
      assertThat(events.get(events.size() - 2).getChoiceFinished().getFinishReason())
          .isEqualTo(FinishReason.FINISH_REASON_TOOL_CALLS);
    }

    static Stream<Arguments> framings() {
      return Stream.of(
          Arguments.of("CRLF", (UnaryOperator<AnthropicReply>) r -> r.lineEnding(SseLineEnding.CRLF)),
          Arguments.of("CR", (UnaryOperator<AnthropicReply>) r -> r.lineEnding(SseLineEnding.CR)),
          Arguments.of("comments", (UnaryOperator<AnthropicReply>) AnthropicReply::keepAliveComments),
          Arguments.of("multi-line data", (UnaryOperator<AnthropicReply>) AnthropicReply::multiLineData),
          Arguments.of("byte by byte", (UnaryOperator<AnthropicReply>) r -> r.splitWritesEvery(1)),
          Arguments.of("pings", (UnaryOperator<AnthropicReply>) AnthropicReply::pings));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("framings")
    void givesTheSameEventsUnderAwkwardFraming(String name, UnaryOperator<AnthropicReply> quirk) throws Exception {
      fake.enqueue(
          AnthropicReply.text("Plain words.").thenToolUse(FakeToolCall.of("toolu_q", "f", "{\"a\":1}")).usage(4, 6).id("m1"));
      List<StreamChatResponse> plain = stream(call(hello())).awaitCompletion();
      fake.enqueue(
          quirk.apply(
              AnthropicReply.text("Plain words.").thenToolUse(FakeToolCall.of("toolu_q", "f", "{\"a\":1}")).usage(4, 6).id("m1")));

      assertThat(stream(call(hello())).awaitCompletion()).containsExactlyElementsOf(plain);
    }
  }

  @Nested
  class Failures {
    @Test
    void aMissingKeyIsMisconfiguredWithoutTouchingTheUpstream() throws Exception {
      Backend backend =
          backend().setApiKey(SecretRef.newBuilder().setEnvVar("NOT_SET_ANYWHERE")).build();

      assertThatThrownBy(() -> anthropic.chat(call(backend, hello())).get(10, TimeUnit.SECONDS))
          .cause()
          .isInstanceOfSatisfying(
              UpstreamException.class,
              e -> assertThat(e.failure()).isEqualTo(UpstreamFailure.MISCONFIGURED));
      RecordingStreamListener listener = stream(call(backend, hello()));
      assertThat(listener.awaitError().failure()).isEqualTo(UpstreamFailure.MISCONFIGURED);
      assertThat(listener.events()).isEmpty();
      assertThat(fake.requests()).isEmpty();
    }

    static Stream<Arguments> statuses() {
      return Stream.of(
          Arguments.of(400, "invalid_request_error", UpstreamFailure.BAD_REQUEST),
          Arguments.of(401, "authentication_error", UpstreamFailure.AUTH_FAILED),
          Arguments.of(403, "permission_error", UpstreamFailure.AUTH_FAILED),
          Arguments.of(404, "not_found_error", UpstreamFailure.BAD_REQUEST),
          Arguments.of(413, "request_too_large", UpstreamFailure.BAD_REQUEST),
          Arguments.of(429, "rate_limit_error", UpstreamFailure.RATE_LIMITED),
          Arguments.of(500, "api_error", UpstreamFailure.SERVER_ERROR),
          Arguments.of(529, "overloaded_error", UpstreamFailure.SERVER_ERROR));
    }

    @ParameterizedTest(name = "HTTP {0} {1} is {2}")
    @MethodSource("statuses")
    void mapsHttpErrors(int status, String type, UpstreamFailure expected) throws Exception {
      fake.enqueue(AnthropicReply.error(status, type, "provider text that must not leak"));
      fake.enqueue(AnthropicReply.error(status, type, "provider text that must not leak"));

      UpstreamException unary = failure(anthropic.chat(call(hello())));
      UpstreamException streamed = stream(call(hello())).awaitError();

      for (UpstreamException e : List.of(unary, streamed)) {
        assertThat(e.failure()).isEqualTo(expected);
        assertThat(e.httpStatus()).isEqualTo(status);
        assertThat(e.getMessage()).contains(type).doesNotContain("must not leak");
      }
    }

    @Test
    void aPromptTooLongIsAContextWindowOverflow() throws Exception {
      fake.enqueue(AnthropicReply.error(400, "invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum"));

      UpstreamException e = failure(anthropic.chat(call(hello())));

      assertThat(e.failure()).isEqualTo(UpstreamFailure.CONTEXT_WINDOW_EXCEEDED);
      assertThat(e.getMessage()).doesNotContain("210000");
    }

    @Test
    void anErrorEventMidStreamFailsWithTheUsageSoFar() throws Exception {
      fake.enqueue(AnthropicReply.text("a b c d e").usage(50, 5).errorEventAfter(4, "overloaded_error", "Overloaded"));

      RecordingStreamListener listener = stream(call(hello()));
      UpstreamException error = listener.awaitError();

      assertThat(error.failure()).isEqualTo(UpstreamFailure.SERVER_ERROR);
      assertThat(error.getMessage()).contains("overloaded_error");
      assertThat(listener.text(0)).isEqualTo("a b");
      assertThat(listener.usageSoFar().getInputTokens()).isEqualTo(50);
      assertThat(listener.usageSoFar().getOutputTokens()).isEqualTo(2);
    }

    @Test
    void aStreamWithoutMessageStopIsBroken() throws Exception {
      fake.enqueue(AnthropicReply.text("almost").omitEndMarker());

      assertThat(stream(call(hello())).awaitError().failure()).isEqualTo(UpstreamFailure.STREAM_BROKEN);
    }

    @Test
    void aStreamWithoutAStopReasonIsBroken() throws Exception {
      fake.enqueue(AnthropicReply.text("almost").omitStopReason());

      assertThat(stream(call(hello())).awaitError().failure()).isEqualTo(UpstreamFailure.STREAM_BROKEN);
    }

    @Test
    void aResetMidStreamBreaksIt() throws Exception {
      fake.enqueue(AnthropicReply.text("a b c d e f").resetAfterEvents(4));

      RecordingStreamListener listener = stream(call(hello()));

      assertThat(listener.awaitError().failure()).isEqualTo(UpstreamFailure.STREAM_BROKEN);
      assertThat(listener.text(0)).isEqualTo("a b");
    }

    @Test
    void cancelClosesTheUpstreamConnection() throws Exception {
      fake.enqueue(AnthropicReply.text("w ".repeat(500)).tokenInterval(Duration.ofMillis(5)));
      RecordingStreamListener listener = new RecordingStreamListener();
      UpstreamStream stream = anthropic.streamChat(call(hello()), listener);
      listener.awaitFirstContent(Duration.ofSeconds(5));

      stream.cancel();

      fake.awaitOpenConnections(0, Duration.ofMillis(100));
      assertThat(listener.isDone()).isFalse();
    }
  }
}
