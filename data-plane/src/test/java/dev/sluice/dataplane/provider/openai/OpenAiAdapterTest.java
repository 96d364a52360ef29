package dev.sluice.dataplane.provider.openai;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.protobuf.ByteString;
import com.google.protobuf.Struct;
import dev.sluice.config.v1.Backend;
import dev.sluice.config.v1.BackendKind;
import dev.sluice.config.v1.BackendTimeouts;
import dev.sluice.config.v1.Header;
import dev.sluice.config.v1.OpenAiSettings;
import dev.sluice.config.v1.SecretRef;
import dev.sluice.config.v1.TlsSettings;
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
import dev.sluice.inference.v1.EmbeddingEncoding;
import dev.sluice.inference.v1.FinishReason;
import dev.sluice.inference.v1.ImageDetail;
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
import dev.sluice.testing.fakes.ChatReply;
import dev.sluice.testing.fakes.EmbeddingsReply;
import dev.sluice.testing.fakes.FakeOpenAiServer;
import dev.sluice.testing.fakes.FakeToolCall;
import dev.sluice.testing.fakes.RecordedRequest;
import dev.sluice.testing.fakes.SseLineEnding;
import io.grpc.Deadline;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.ssl.SslContextBuilder;
import java.io.File;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
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

class OpenAiAdapterTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String KEY = "sk-test-0123456789abcdef";
  private static final Map<String, String> ENV =
      Map.of("OPENAI_TEST_KEY", KEY, "ORG_SECRET", "org-from-secret");

  private static EventLoopGroup group;
  private FakeOpenAiServer fake;
  private HttpUpstreamClient http;
  private ProviderAdapter openai;
  private ProviderAdapter compatible;

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
    fake = FakeOpenAiServer.start();
    http = HttpUpstreamClient.create(group, NioSocketChannel.class);
    SecretResolver secrets = SecretResolver.create(ENV::get, System::nanoTime, Duration.ofSeconds(1));
    TlsContexts tls = new TlsContexts();
    openai = OpenAiProvider.create(BackendKind.BACKEND_KIND_OPENAI, http, secrets, tls);
    compatible = OpenAiProvider.create(BackendKind.BACKEND_KIND_OPENAI_COMPATIBLE, http, secrets, tls);
  }

  @AfterEach
  void stop() {
    http.close();
    fake.close();
  }

  private Backend.Builder backend(BackendKind kind) {
    return Backend.newBuilder()
        .setName("openai-test")
        .setKind(kind)
        .setBaseUrl(fake.baseUrl())
        .setApiKey(SecretRef.newBuilder().setEnvVar("OPENAI_TEST_KEY"));
  }

  private ChatCall call(Backend backend, ChatRequest request) {
    return new ChatCall(request, new UpstreamTarget(backend, "gpt-4o-mini"), null, "req-1");
  }

  private ChatCall call(ChatRequest request) {
    return call(backend(BackendKind.BACKEND_KIND_OPENAI).build(), request);
  }

  private static ChatRequest hello() {
    return ChatRequest.newBuilder()
        .setModel("public-model")
        .addMessages(user("Hello"))
        .build();
  }

  private static ChatMessage user(String text) {
    return ChatMessage.newBuilder()
        .setRole(Role.ROLE_USER)
        .addParts(ContentPart.newBuilder().setText(text))
        .build();
  }

  private static ContentPart text(String text) {
    return ContentPart.newBuilder().setText(text).build();
  }

  private RecordingStreamListener stream(ChatCall call) {
    RecordingStreamListener listener = new RecordingStreamListener();
    openai.streamChat(call, listener);
    return listener;
  }

  private static JsonNode json(String text) throws Exception {
    return JSON.readTree(text);
  }

  private static Struct struct(String json) throws Exception {
    Struct.Builder b = Struct.newBuilder();
    com.google.protobuf.util.JsonFormat.parser().merge(json, b);
    return b.build();
  }

  @Nested
  class RequestMapping {
    private ChatRequest everything() throws Exception {
      return ChatRequest.newBuilder()
          .setModel("public-model")
          .addInstructions(text("You are terse."))
          .addMessages(
              ChatMessage.newBuilder().setRole(Role.ROLE_DEVELOPER).addParts(text("Answer in French.")))
          .addMessages(
              ChatMessage.newBuilder()
                  .setRole(Role.ROLE_USER)
                  .addParts(text("What's in these images?"))
                  .addParts(
                      ContentPart.newBuilder()
                          .setImage(
                              ImagePart.newBuilder()
                                  .setUri("https://example.com/cat.png")
                                  .setDetail(ImageDetail.IMAGE_DETAIL_HIGH)))
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
                      ContentPart.newBuilder().setReasoning(ReasoningPart.newBuilder().setText("hmm")))
                  .addParts(text("Let me check."))
                  .addParts(
                      ContentPart.newBuilder()
                          .setToolCall(
                              ToolCallPart.newBuilder()
                                  .setId("call_1")
                                  .setName("get_weather")
                                  .setArguments("{\"city\":\"Paris\"}"))))
          .addMessages(
              ChatMessage.newBuilder()
                  .setRole(Role.ROLE_TOOL)
                  .addParts(
                      ContentPart.newBuilder()
                          .setToolResult(
                              ToolResultPart.newBuilder().setToolCallId("call_1").addContent(text("18°C")))))
          .addMessages(
              ChatMessage.newBuilder()
                  .setRole(Role.ROLE_USER)
                  .addParts(
                      ContentPart.newBuilder()
                          .setToolResult(
                              ToolResultPart.newBuilder()
                                  .setToolCallId("call_2")
                                  .setIsError(true)
                                  .addContent(text("timeout"))))
                  .addParts(text("Thanks")))
          .addTools(
              Tool.newBuilder()
                  .setName("get_weather")
                  .setDescription("Current weather")
                  .setParameters(
                      struct(
                          "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},"
                              + "\"required\":[\"city\"],\"maxProperties\":1}"))
                  .setStrict(true))
          .setToolChoice(
              ToolChoice.newBuilder()
                  .setMode(ToolChoiceMode.TOOL_CHOICE_MODE_FUNCTION)
                  .setFunctionName("get_weather")
                  .setParallelToolCalls(false))
          .setResponseFormat(
              ResponseFormat.newBuilder()
                  .setType(ResponseFormatType.RESPONSE_FORMAT_TYPE_JSON_SCHEMA)
                  .setName("weather")
                  .setSchema(struct("{\"type\":\"object\"}"))
                  .setStrict(true))
          .setTemperature(0.5)
          .setTopP(0.9)
          .setMaxOutputTokens(256)
          .setPresencePenalty(0.1)
          .setFrequencyPenalty(0.2)
          .setSeed(42)
          .setCandidateCount(2)
          .addStopSequences("END")
          .setLogprobs(true)
          .setTopLogprobs(3)
          .setReasoning(ReasoningConfig.newBuilder().setEffort(ReasoningEffort.REASONING_EFFORT_LOW))
          .setEndUser("user-7")
          .putMetadata("team", "not-sent-upstream")
          .build();
    }

    @Test
    void mapsEveryFieldToChatCompletions() throws Exception {
      openai.chat(call(everything())).get(10, TimeUnit.SECONDS);

      RecordedRequest sent = fake.takeRequest();
      assertThat(sent.method()).isEqualTo("POST");
      assertThat(sent.path()).isEqualTo("/v1/chat/completions");
      assertThat(sent.jsonBody())
          .isEqualTo(
              json(
                  """
                  {"model":"gpt-4o-mini",
                   "messages":[
                    {"role":"system","content":"You are terse."},
                    {"role":"developer","content":"Answer in French."},
                    {"role":"user","content":[
                      {"type":"text","text":"What's in these images?"},
                      {"type":"image_url","image_url":{"url":"https://example.com/cat.png","detail":"high"}},
                      {"type":"image_url","image_url":{"url":"data:image/png;base64,AQID"}}]},
                    {"role":"assistant","content":"Let me check.","tool_calls":[
                      {"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\\"city\\":\\"Paris\\"}"}}]},
                    {"role":"tool","tool_call_id":"call_1","content":"18°C"},
                    {"role":"tool","tool_call_id":"call_2","content":"Error: timeout"},
                    {"role":"user","content":"Thanks"}],
                   "tools":[{"type":"function","function":{"name":"get_weather","description":"Current weather",
                     "parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"],"maxProperties":1},
                     "strict":true}}],
                   "tool_choice":{"type":"function","function":{"name":"get_weather"}},
                   "parallel_tool_calls":false,
                   "response_format":{"type":"json_schema","json_schema":{"name":"weather","schema":{"type":"object"},"strict":true}},
                   "temperature":0.5,"top_p":0.9,"max_completion_tokens":256,
                   "presence_penalty":0.1,"frequency_penalty":0.2,"seed":42,"n":2,"stop":["END"],
                   "logprobs":true,"top_logprobs":3,"reasoning_effort":"low","user":"user-7"}
                  """));
      assertThat(sent.body()).as("integral schema numbers stay integers").contains("\"maxProperties\":1}");
    }

    @Test
    void asksForStreamingWithUsageAlways() throws Exception {
      stream(call(hello())).awaitCompletion();

      JsonNode body = fake.takeRequest().jsonBody();
      assertThat(body.get("stream").asBoolean()).isTrue();
      assertThat(body.get("stream_options")).isEqualTo(json("{\"include_usage\":true}"));
    }

    @Test
    void speaksToCompatibleServersInTheirCommonDialect() throws Exception {
      ChatRequest request =
          ChatRequest.newBuilder()
              .addMessages(ChatMessage.newBuilder().setRole(Role.ROLE_DEVELOPER).addParts(text("Be brief.")))
              .addMessages(user("Hi"))
              .setMaxOutputTokens(64)
              .setTopK(40)
              .build();
      Backend backend = backend(BackendKind.BACKEND_KIND_OPENAI_COMPATIBLE).clearApiKey().build();

      compatible.chat(call(backend, request)).get(10, TimeUnit.SECONDS);

      RecordedRequest sent = fake.takeRequest();
      assertThat(sent.jsonBody())
          .isEqualTo(
              json(
                  """
                  {"model":"gpt-4o-mini","messages":[
                    {"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}],
                   "top_k":40,"max_tokens":64}
                  """));
      assertThat(sent.header("authorization")).as("no key configured").isNull();
      assertThat(sent.header("x-request-id")).isEqualTo("req-1");
    }

    @Test
    void rejectsTopKForOpenAiItself() {
      ChatRequest request = hello().toBuilder().setTopK(5).build();

      assertThatThrownBy(() -> openai.chat(call(request)).get(10, TimeUnit.SECONDS))
          .cause()
          .isInstanceOfSatisfying(
              UpstreamException.class,
              e -> {
                assertThat(e.failure()).isEqualTo(UpstreamFailure.BAD_REQUEST);
                assertThat(e.getMessage()).contains("top_k");
              });
      assertThat(fake.requests()).isEmpty();
    }

    @Test
    void providerOptionsOverrideAndExtendTheBody() throws Exception {
      ChatRequest request =
          hello().toBuilder()
              .setTemperature(0.2)
              .setProviderOptions(
                  struct(
                      "{\"openai\":{\"temperature\":1,\"logit_bias\":{\"50256\":-100},\"store\":false},"
                          + "\"anthropic\":{\"top_k\":5}}"))
              .build();

      openai.chat(call(request)).get(10, TimeUnit.SECONDS);

      JsonNode body = fake.takeRequest().jsonBody();
      assertThat(body.get("temperature").asInt()).isEqualTo(1);
      assertThat(body.get("logit_bias")).isEqualTo(json("{\"50256\":-100}"));
      assertThat(body.get("store").asBoolean(true)).isFalse();
      assertThat(body.has("top_k")).isFalse();
      assertThat(body.findValues("temperature")).hasSize(1);
    }

    @Test
    void sendsCredentialsConfiguredHeadersAndTheApiVersion() throws Exception {
      Backend backend =
          backend(BackendKind.BACKEND_KIND_OPENAI)
              .addHeaders(Header.newBuilder().setName("openai-organization").setPlain("org-1"))
              .addHeaders(
                  Header.newBuilder()
                      .setName("openai-project")
                      .setSecret(SecretRef.newBuilder().setEnvVar("ORG_SECRET")))
              .setOpenai(OpenAiSettings.newBuilder().setApiVersion("2024-10-21"))
              .build();

      openai.chat(call(backend, hello())).get(10, TimeUnit.SECONDS);

      RecordedRequest sent = fake.takeRequest();
      assertThat(sent.header("authorization")).isEqualTo("Bearer " + KEY);
      assertThat(sent.header("openai-organization")).isEqualTo("org-1");
      assertThat(sent.header("openai-project")).isEqualTo("org-from-secret");
      assertThat(sent.header("x-client-request-id")).isEqualTo("req-1");
      assertThat(sent.header("content-type")).isEqualTo("application/json");
      assertThat(sent.query()).isEqualTo("api-version=2024-10-21");
    }

    @Test
    void aMissingKeyIsMisconfiguredWithoutTouchingTheUpstream() throws Exception {
      Backend backend =
          backend(BackendKind.BACKEND_KIND_OPENAI)
              .setApiKey(SecretRef.newBuilder().setEnvVar("NOT_SET_ANYWHERE"))
              .build();

      assertThatThrownBy(() -> openai.chat(call(backend, hello())).get(10, TimeUnit.SECONDS))
          .cause()
          .isInstanceOfSatisfying(
              UpstreamException.class,
              e -> {
                assertThat(e.failure()).isEqualTo(UpstreamFailure.MISCONFIGURED);
                assertThat(e.getMessage()).contains("NOT_SET_ANYWHERE");
              });
      RecordingStreamListener listener = new RecordingStreamListener();
      openai.streamChat(call(backend, hello()), listener);
      assertThat(listener.awaitError().failure()).isEqualTo(UpstreamFailure.MISCONFIGURED);
      assertThat(listener.events()).isEmpty();
      assertThat(fake.requests()).isEmpty();
    }

    @Test
    void aCompatibleBackendNeedsABaseUrl() {
      Backend backend = backend(BackendKind.BACKEND_KIND_OPENAI_COMPATIBLE).clearBaseUrl().build();

      assertThatThrownBy(() -> compatible.chat(call(backend, hello())).get(10, TimeUnit.SECONDS))
          .cause()
          .isInstanceOfSatisfying(
              UpstreamException.class,
              e -> {
                assertThat(e.failure()).isEqualTo(UpstreamFailure.MISCONFIGURED);
                assertThat(e.getMessage()).contains("base_url");
              });
    }
  }

  @Nested
  class Unary {
    @Test
    void readsACompletionWithUsageAndMetadata() throws Exception {
      fake.enqueue(ChatReply.text("Hello there").usage(12, 2).cachedTokens(4).reasoningTokens(1));

      ChatResponse response = openai.chat(call(hello())).get(10, TimeUnit.SECONDS);

      assertThat(response.getId()).isEqualTo("chatcmpl-fake1");
      assertThat(response.getRequestId()).isEqualTo("req-1");
      assertThat(response.getProvider()).isEqualTo("openai");
      assertThat(response.getBackend()).isEqualTo("openai-test");
      assertThat(response.getProviderModel()).isEqualTo("gpt-4o-mini");
      assertThat(response.getChoicesList()).hasSize(1);
      Choice choice = response.getChoices(0);
      assertThat(choice.getMessage().getRole()).isEqualTo(Role.ROLE_ASSISTANT);
      assertThat(choice.getMessage().getPartsList()).containsExactly(text("Hello there"));
      assertThat(choice.getFinishReason()).isEqualTo(FinishReason.FINISH_REASON_STOP);
      assertThat(choice.getRawFinishReason()).isEqualTo("stop");
      assertThat(response.getUsage())
          .isEqualTo(
              Usage.newBuilder()
                  .setInputTokens(12)
                  .setOutputTokens(2)
                  .setTotalTokens(14)
                  .setCacheReadInputTokens(4)
                  .setReasoningTokens(1)
                  .build());
      assertThat(response.getProviderMetadata().getFieldsMap().get("system_fingerprint").getStringValue())
          .isEqualTo("fp_fake0001");
    }

    @Test
    void readsToolCallsReasoningAndSeveralChoices() throws Exception {
      fake.enqueue(
          ChatReply.text("Checking.")
              .withReasoning("User wants weather.")
              .withToolCalls(FakeToolCall.of("call_9", "get_weather", "{\"city\":\"Oslo\"}")));

      ChatResponse response =
          openai.chat(call(hello().toBuilder().setCandidateCount(2).build())).get(10, TimeUnit.SECONDS);

      assertThat(response.getChoicesList()).hasSize(2);
      for (Choice choice : response.getChoicesList()) {
        assertThat(choice.getMessage().getPartsList())
            .containsExactly(
                ContentPart.newBuilder()
                    .setReasoning(ReasoningPart.newBuilder().setText("User wants weather."))
                    .build(),
                text("Checking."),
                ContentPart.newBuilder()
                    .setToolCall(
                        ToolCallPart.newBuilder()
                            .setId("call_9")
                            .setName("get_weather")
                            .setArguments("{\"city\":\"Oslo\"}"))
                    .build());
        assertThat(choice.getFinishReason()).isEqualTo(FinishReason.FINISH_REASON_TOOL_CALLS);
      }
      assertThat(response.getChoicesList()).extracting(Choice::getIndex).containsExactly(0, 1);
    }

    @Test
    void aRefusalFinishesAsRefusal() throws Exception {
      fake.enqueue(ChatReply.refusal("I can't help with that."));

      Choice choice = openai.chat(call(hello())).get(10, TimeUnit.SECONDS).getChoices(0);

      assertThat(choice.getMessage().getPartsList())
          .containsExactly(ContentPart.newBuilder().setRefusal("I can't help with that.").build());
      assertThat(choice.getFinishReason()).isEqualTo(FinishReason.FINISH_REASON_REFUSAL);
      assertThat(choice.getRawFinishReason()).isEqualTo("stop");
    }

    @Test
    void readsLogprobs() throws Exception {
      fake.enqueue(ChatReply.text("Hi you"));

      Choice choice =
          openai.chat(call(hello().toBuilder().setLogprobs(true).setTopLogprobs(2).build()))
              .get(10, TimeUnit.SECONDS)
              .getChoices(0);

      assertThat(choice.getLogprobsList()).hasSize(2);
      assertThat(choice.getLogprobs(1).getToken()).isEqualTo(" you");
      assertThat(choice.getLogprobs(1).getUtf8Bytes().toStringUtf8()).isEqualTo(" you");
      assertThat(choice.getLogprobs(1).getTopLogprobsList()).hasSize(2);
      assertThat(choice.getLogprobs(1).getLogprob()).isEqualTo(-0.25);
    }

    @Test
    void aMalformedBodyIsAProtocolError() throws Exception {
      fake.enqueue(ChatReply.rawBody(200, "{\"id\":\"x\",\"choices\":[{"));

      assertThatThrownBy(() -> openai.chat(call(hello())).get(10, TimeUnit.SECONDS))
          .cause()
          .isInstanceOfSatisfying(
              UpstreamException.class,
              e -> assertThat(e.failure()).isEqualTo(UpstreamFailure.PROTOCOL_ERROR));
    }

    @Test
    void reusesItsConnectionAcrossCalls() throws Exception {
      var loop = group.next();
      for (int i = 0; i < 3; i++) {
        loop.submit(() -> openai.chat(call(hello()))).get().get(10, TimeUnit.SECONDS);
      }

      assertThat(fake.connectionsOpened()).isEqualTo(1);
    }

    @Test
    void cancellingTheFutureClosesTheUpstreamConnection() throws Exception {
      fake.enqueue(ChatReply.hang());
      var future = openai.chat(call(hello()));
      fake.takeRequest();
      assertThat(fake.openConnections()).isEqualTo(1);

      future.cancel(true);

      fake.awaitOpenConnections(0, Duration.ofMillis(100));
    }

    @Test
    void theRequestTimeoutBoundsAUnaryCall() {
      fake.enqueue(ChatReply.hang());
      Backend backend =
          backend(BackendKind.BACKEND_KIND_OPENAI)
              .setTimeouts(
                  BackendTimeouts.newBuilder()
                      .setRequestTimeout(com.google.protobuf.Duration.newBuilder().setNanos(200_000_000)))
              .build();

      assertThatThrownBy(() -> openai.chat(call(backend, hello())).get(10, TimeUnit.SECONDS))
          .cause()
          .isInstanceOfSatisfying(
              UpstreamException.class, e -> assertThat(e.failure()).isEqualTo(UpstreamFailure.TIMEOUT));
    }

    @Test
    void theCallDeadlineBoundsAUnaryCall() {
      fake.enqueue(ChatReply.hang());
      ChatCall call =
          new ChatCall(
              hello(),
              new UpstreamTarget(backend(BackendKind.BACKEND_KIND_OPENAI).build(), "gpt-4o-mini"),
              Deadline.after(200, TimeUnit.MILLISECONDS),
              "req-1");

      assertThatThrownBy(() -> openai.chat(call).get(10, TimeUnit.SECONDS))
          .cause()
          .isInstanceOfSatisfying(
              UpstreamException.class, e -> assertThat(e.failure()).isEqualTo(UpstreamFailure.TIMEOUT));
    }
  }

  @Nested
  class Streaming {
    @Test
    void streamsTextThenFinishThenUsageThenCompletes() throws Exception {
      fake.enqueue(ChatReply.text("Hello there, world").usage(9, 3).cachedTokens(2).reasoningTokens(1));

      RecordingStreamListener listener = stream(call(hello()));
      List<StreamChatResponse> events = listener.awaitCompletion();

      assertThat(listener.kinds())
          .containsExactly(
              StreamChatResponse.EventCase.STARTED,
              StreamChatResponse.EventCase.CONTENT_DELTA,
              StreamChatResponse.EventCase.CONTENT_DELTA,
              StreamChatResponse.EventCase.CONTENT_DELTA,
              StreamChatResponse.EventCase.CHOICE_FINISHED,
              StreamChatResponse.EventCase.USAGE);
      var started = events.get(0).getStarted();
      assertThat(started.getId()).isEqualTo("chatcmpl-fake1");
      assertThat(started.getProviderModel()).isEqualTo("gpt-4o-mini");
      assertThat(started.getProvider()).isEqualTo("openai");
      assertThat(started.getBackend()).isEqualTo("openai-test");
      assertThat(started.getRequestId()).isEqualTo("req-1");
      assertThat(started.getProviderMetadata().getFieldsMap()).containsKey("system_fingerprint");
      assertThat(listener.text(0)).isEqualTo("Hello there, world");
      assertThat(events.subList(1, 4))
          .allSatisfy(e -> assertThat(e.getContentDelta().getPartIndex()).isZero());
      assertThat(events.get(4).getChoiceFinished().getFinishReason()).isEqualTo(FinishReason.FINISH_REASON_STOP);
      assertThat(events.get(4).getChoiceFinished().getRawFinishReason()).isEqualTo("stop");
      assertThat(events.get(5).getUsage())
          .isEqualTo(
              Usage.newBuilder()
                  .setInputTokens(9)
                  .setOutputTokens(3)
                  .setTotalTokens(12)
                  .setCacheReadInputTokens(2)
                  .setReasoningTokens(1)
                  .build());
    }

    @Test
    void streamsToolCallsAsFragmentsOfOnePart() throws Exception {
      String arguments = "{\"city\":\"Paris\",\"unit\":\"celsius\"}";
      fake.enqueue(
          ChatReply.toolCalls(
              FakeToolCall.of("call_a", "get_weather", arguments),
              FakeToolCall.of("call_b", "get_time", "{}")));

      RecordingStreamListener listener = stream(call(hello()));
      List<StreamChatResponse> events = listener.awaitCompletion();

      List<ToolCallDelta> deltas = listener.toolCallDeltas();
      ToolCallDelta first = deltas.get(0);
      assertThat(first.getId()).isEqualTo("call_a");
      assertThat(first.getName()).isEqualTo("get_weather");
      assertThat(first.getToolCallIndex()).isZero();
      StringBuilder a = new StringBuilder();
      StringBuilder b = new StringBuilder();
      for (ToolCallDelta d : deltas) {
        (d.getToolCallIndex() == 0 ? a : b).append(d.getArgumentsDelta());
        assertThat(d.getPartIndex()).isEqualTo(d.getToolCallIndex());
        if (!d.getId().isEmpty()) {
          assertThat(d.getArgumentsDelta()).isEmpty();
        }
      }
      assertThat(a.toString()).isEqualTo(arguments);
      assertThat(b.toString()).isEqualTo("{}");
      assertThat(deltas.stream().filter(d -> !d.getId().isEmpty()))
          .extracting(ToolCallDelta::getId)
          .containsExactly("call_a", "call_b");
      assertThat(events.get(events.size() - 2).getChoiceFinished().getFinishReason())
          .isEqualTo(FinishReason.FINISH_REASON_TOOL_CALLS);
    }

    @Test
    void streamsReasoningRefusalsAndTextAsSeparateParts() throws Exception {
      fake.enqueue(ChatReply.refusal("No way.").withReasoning("Policy says no"));

      RecordingStreamListener listener = stream(call(hello()));
      List<StreamChatResponse> events = listener.awaitCompletion();

      List<ContentDelta> deltas =
          events.stream().filter(StreamChatResponse::hasContentDelta).map(StreamChatResponse::getContentDelta).toList();
      assertThat(deltas.get(0).getDeltaCase()).isEqualTo(ContentDelta.DeltaCase.REASONING_TEXT);
      assertThat(deltas.get(0).getPartIndex()).isZero();
      assertThat(deltas.get(deltas.size() - 1).getDeltaCase()).isEqualTo(ContentDelta.DeltaCase.REFUSAL);
      assertThat(deltas.get(deltas.size() - 1).getPartIndex()).isEqualTo(1);
      assertThat(
              deltas.stream()
                  .filter(d -> d.getDeltaCase() == ContentDelta.DeltaCase.REFUSAL)
                  .map(ContentDelta::getRefusal)
                  .reduce("", String::concat))
          .isEqualTo("No way.");
      assertThat(events.get(events.size() - 2).getChoiceFinished().getFinishReason())
          .isEqualTo(FinishReason.FINISH_REASON_REFUSAL);
    }

    @Test
    void streamsSeveralChoicesInterleaved() throws Exception {
      fake.enqueue(ChatReply.text("a b c"));

      RecordingStreamListener listener = stream(call(hello().toBuilder().setCandidateCount(2).build()));
      List<StreamChatResponse> events = listener.awaitCompletion();

      assertThat(listener.text(0)).isEqualTo("a b c");
      assertThat(listener.text(1)).isEqualTo("a b c");
      assertThat(events.stream().filter(StreamChatResponse::hasChoiceFinished))
          .extracting(e -> e.getChoiceFinished().getChoiceIndex())
          .containsExactly(0, 1);
    }

    @Test
    void attachesLogprobsToTheirDelta() throws Exception {
      fake.enqueue(ChatReply.text("x y"));

      RecordingStreamListener listener =
          stream(call(hello().toBuilder().setLogprobs(true).setTopLogprobs(1).build()));
      List<StreamChatResponse> events = listener.awaitCompletion();

      assertThat(events.stream().filter(StreamChatResponse::hasContentDelta))
          .allSatisfy(
              e -> {
                assertThat(e.getContentDelta().getLogprobsList()).hasSize(1);
                assertThat(e.getContentDelta().getLogprobs(0).getToken()).isEqualTo(e.getContentDelta().getText());
              });
    }

    @Test
    void reusesItsConnectionForTheNextStream() throws Exception {
      var loop = group.next();
      for (int i = 0; i < 3; i++) {
        RecordingStreamListener listener = new RecordingStreamListener();
        loop.submit(() -> openai.streamChat(call(hello()), listener)).get();
        listener.awaitCompletion();
        // [DONE] completes the stream at once; the connection returns to the pool when the
        // chunked body's terminator follows a moment later.
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (http.idleConnections() == 0 && System.nanoTime() < deadline) {
          Thread.sleep(1);
        }
      }
      assertThat(fake.connectionsOpened()).isEqualTo(1);
    }
  }

  /** The same reply under every awkward-but-valid SSE framing gives the same events. */
  @Nested
  class SseQuirks {
    static Stream<Arguments> framings() {
      return Stream.of(
          Arguments.of("CRLF line endings", (UnaryOperator<ChatReply>) r -> r.lineEnding(SseLineEnding.CRLF)),
          Arguments.of("CR line endings", (UnaryOperator<ChatReply>) r -> r.lineEnding(SseLineEnding.CR)),
          Arguments.of("keep-alive comments", (UnaryOperator<ChatReply>) ChatReply::keepAliveComments),
          Arguments.of("multi-line data", (UnaryOperator<ChatReply>) ChatReply::multiLineData),
          Arguments.of("byte order mark", (UnaryOperator<ChatReply>) ChatReply::byteOrderMark),
          Arguments.of("one byte per write", (UnaryOperator<ChatReply>) r -> r.splitWritesEvery(1)),
          Arguments.of("7 bytes per write", (UnaryOperator<ChatReply>) r -> r.splitWritesEvery(7)),
          Arguments.of(
              "everything at once",
              (UnaryOperator<ChatReply>)
                  r ->
                      r.lineEnding(SseLineEnding.CRLF)
                          .keepAliveComments()
                          .multiLineData()
                          .byteOrderMark()
                          .splitWritesEvery(3)));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("framings")
    void givesTheSameEvents(String name, UnaryOperator<ChatReply> quirk) throws Exception {
      fake.enqueue(
          ChatReply.text("Plain text, then a tool.")
              .withToolCalls(FakeToolCall.of("call_q", "lookup", "{\"q\":\"sluice gates\"}"))
              .usage(5, 9));
      List<StreamChatResponse> plain = stream(call(hello())).awaitCompletion();
      fake.enqueue(
          quirk.apply(
              ChatReply.text("Plain text, then a tool.")
                  .withToolCalls(FakeToolCall.of("call_q", "lookup", "{\"q\":\"sluice gates\"}"))
                  .usage(5, 9)
                  .id("chatcmpl-fake1")));

      List<StreamChatResponse> quirky = stream(call(hello())).awaitCompletion();

      assertThat(quirky).containsExactlyElementsOf(plain);
    }
  }

  @Nested
  class Failures {
    static Stream<Arguments> statuses() {
      return Stream.of(
          Arguments.of(400, "invalid_request_error", UpstreamFailure.BAD_REQUEST),
          Arguments.of(401, "invalid_api_key", UpstreamFailure.AUTH_FAILED),
          Arguments.of(403, "permission_denied", UpstreamFailure.AUTH_FAILED),
          Arguments.of(404, "model_not_found", UpstreamFailure.BAD_REQUEST),
          Arguments.of(422, "invalid_request_error", UpstreamFailure.BAD_REQUEST),
          Arguments.of(429, "rate_limit_exceeded", UpstreamFailure.RATE_LIMITED),
          Arguments.of(500, "server_error", UpstreamFailure.SERVER_ERROR),
          Arguments.of(503, "server_error", UpstreamFailure.SERVER_ERROR));
    }

    private static final String PROVIDER_TEXT = "Incorrect API key provided: sk-test-01**********cdef";

    private void checkStatusError(UpstreamException e, int status, String type, UpstreamFailure failure) {
      assertThat(e.failure()).isEqualTo(failure);
      assertThat(e.httpStatus()).isEqualTo(status);
      assertThat(e.backend()).isEqualTo("openai-test");
      assertThat(e.getMessage()).contains("HTTP " + status).contains(type);
      assertThat(e.getMessage()).as("never the provider's text").doesNotContain("Incorrect API key");
      assertThat(e.getMessage()).doesNotContain(KEY);
    }

    @ParameterizedTest(name = "HTTP {0} is {2} (unary)")
    @MethodSource("statuses")
    void mapsHttpErrorsOfUnaryCalls(int status, String type, UpstreamFailure failure) {
      fake.enqueue(ChatReply.error(status, type, PROVIDER_TEXT));

      assertThatThrownBy(() -> openai.chat(call(hello())).get(10, TimeUnit.SECONDS))
          .isInstanceOf(ExecutionException.class)
          .cause()
          .isInstanceOfSatisfying(
              UpstreamException.class, e -> checkStatusError(e, status, type, failure));
    }

    @ParameterizedTest(name = "HTTP {0} is {2} (stream)")
    @MethodSource("statuses")
    void mapsHttpErrorsOfStreams(int status, String type, UpstreamFailure failure) throws Exception {
      fake.enqueue(ChatReply.error(status, type, PROVIDER_TEXT));

      RecordingStreamListener listener = stream(call(hello()));

      checkStatusError(listener.awaitError(), status, type, failure);
      assertThat(listener.events()).isEmpty();
    }

    @Test
    void aContextWindowOverflowIsItsOwnFailureSoRoutesCanFallBack() throws Exception {
      // OpenAI says it with a code; vLLM only in the message (read, never shown).
      fake.enqueue(ChatReply.error(400, "context_length_exceeded", "This model's maximum context length is 128000 tokens."));
      fake.enqueue(ChatReply.error(400, "BadRequestError", "This model's maximum context length is 4096 tokens. However, you requested 5000."));
      fake.enqueue(ChatReply.text("a b").errorEventAfter(0, "invalid_request_error", "maximum context length exceeded"));

      UpstreamException coded = stream(call(hello())).awaitError();
      UpstreamException described = stream(call(hello())).awaitError();
      UpstreamException inStream = stream(call(hello())).awaitError();

      for (UpstreamException e : List.of(coded, described, inStream)) {
        assertThat(e.failure()).isEqualTo(UpstreamFailure.CONTEXT_WINDOW_EXCEEDED);
        assertThat(e.getMessage()).doesNotContain("4096").doesNotContain("128000");
      }
      assertThat(coded.getMessage()).contains("context_length_exceeded");
    }

    @Test
    void carriesRetryAfterOfARateLimit() throws Exception {
      fake.enqueue(ChatReply.error(429, "rate_limit_exceeded", "slow down").header("retry-after", "2"));
      fake.enqueue(
          ChatReply.error(429, "rate_limit_exceeded", "slow down")
              .header("retry-after", "20")
              .header("retry-after-ms", "1500"));

      UpstreamException seconds = stream(call(hello())).awaitError();
      UpstreamException millis = stream(call(hello())).awaitError();

      assertThat(seconds.retryAfter()).isEqualTo(Duration.ofSeconds(2));
      assertThat(millis.retryAfter()).isEqualTo(Duration.ofMillis(1500));
      assertThat(seconds.toApiException().code()).isEqualTo(io.grpc.Status.Code.RESOURCE_EXHAUSTED);
    }

    @Test
    void anErrorEventInsideA200StreamFailsItAfterTheEventsBefore() throws Exception {
      fake.enqueue(
          ChatReply.text("one two three four")
              .errorEventAfter(3, "server_error", "The server had an error while processing your request."));

      RecordingStreamListener listener = stream(call(hello()));
      UpstreamException error = listener.awaitError();

      assertThat(error.failure()).isEqualTo(UpstreamFailure.SERVER_ERROR);
      assertThat(error.getMessage()).contains("server_error").doesNotContain("processing your request");
      assertThat(listener.text(0)).isEqualTo("one two");
      assertThat(listener.usageSoFar()).isEqualTo(Usage.newBuilder().setOutputTokens(2).setTotalTokens(2).build());
    }

    @Test
    void anErrorEventLeavesNoHalfReadConnectionBehind() throws Exception {
      fake.enqueue(ChatReply.text("one two three").errorEventAfter(2, "server_error", "oops"));
      for (int i = 0; i < 4; i++) {
        fake.enqueue(ChatReply.text("next " + i));
      }

      stream(call(hello())).awaitError();
      // The error aborts the exchange, unless the body's end was read in the same breath: then
      // the connection is whole and goes back to its event loop's pool. Calls from this thread
      // take the test's two loops in turn, so four more calls use each loop's pool twice: a
      // half-read connection handed out again would garble one of them.
      for (int i = 0; i < 4; i++) {
        RecordingStreamListener next = stream(call(hello()));
        next.awaitCompletion();
        assertThat(next.text(0)).isEqualTo("next " + i);
      }
      // And nothing leaked: one kept-alive connection per loop, the aborted one (if any) closed.
      fake.awaitOpenConnections(2, Duration.ofSeconds(5));
    }

    @Test
    void anErrorEventBeforeAnyOutputLeavesTheStreamUnstarted() throws Exception {
      fake.enqueue(ChatReply.text("never").errorEventAfter(0, "rate_limit_exceeded", "Too many"));

      RecordingStreamListener listener = stream(call(hello()));

      assertThat(listener.awaitError().failure()).isEqualTo(UpstreamFailure.RATE_LIMITED);
      assertThat(listener.events()).as("no started: the router may still retry").isEmpty();
    }

    @Test
    void aStreamWithoutDoneIsBroken() throws Exception {
      fake.enqueue(ChatReply.text("almost finished").omitEndMarker());

      RecordingStreamListener listener = stream(call(hello()));
      UpstreamException error = listener.awaitError();

      assertThat(error.failure()).isEqualTo(UpstreamFailure.STREAM_BROKEN);
      assertThat(error.getMessage()).contains("[DONE]");
      assertThat(listener.usageSoFar()).as("the usage chunk came before the missing [DONE]").isNotNull();
    }

    @Test
    void aConnectionClosedBeforeAnyEventIsARetryableServerError() throws Exception {
      fake.enqueue(ChatReply.text("x").closeAfterEvents(0));

      RecordingStreamListener listener = stream(call(hello()));

      UpstreamException error = listener.awaitError();
      assertThat(error.failure()).isEqualTo(UpstreamFailure.SERVER_ERROR);
      assertThat(error.failure().retryable()).isTrue();
      assertThat(listener.events()).isEmpty();
    }

    @Test
    void aBodyThatEndsWithoutAnyEventIsAProtocolError() throws Exception {
      fake.enqueue(ChatReply.rawBody(200, ""));

      RecordingStreamListener listener = stream(call(hello()));

      assertThat(listener.awaitError().failure()).isEqualTo(UpstreamFailure.PROTOCOL_ERROR);
      assertThat(listener.events()).isEmpty();
    }

    @Test
    void aConnectionResetMidStreamBreaksItWithTheUsageCounted() throws Exception {
      fake.enqueue(ChatReply.text("a b c d e f g h").resetAfterEvents(4));

      RecordingStreamListener listener = stream(call(hello()));
      UpstreamException error = listener.awaitError();

      assertThat(error.failure()).isEqualTo(UpstreamFailure.STREAM_BROKEN);
      assertThat(listener.text(0)).isEqualTo("a b c");
      assertThat(listener.usageSoFar().getOutputTokens()).isEqualTo(3);
    }

    @Test
    void aMalformedChunkIsAProtocolErrorAndClosesTheConnection() throws Exception {
      fake.enqueue(ChatReply.text("a b c d").malformedEventAfter(2).tokenInterval(Duration.ofMillis(5)));

      RecordingStreamListener listener = stream(call(hello()));

      assertThat(listener.awaitError().failure()).isEqualTo(UpstreamFailure.PROTOCOL_ERROR);
      assertThat(listener.text(0)).isEqualTo("a");
      fake.awaitOpenConnections(0, Duration.ofSeconds(5));
    }

    @Test
    void aStalledStreamTimesOutOnTheIdleTimeout() throws Exception {
      fake.enqueue(ChatReply.text("a b c d").hangAfterEvents(2));
      Backend backend =
          backend(BackendKind.BACKEND_KIND_OPENAI)
              .setTimeouts(
                  BackendTimeouts.newBuilder()
                      .setStreamIdleTimeout(com.google.protobuf.Duration.newBuilder().setNanos(200_000_000)))
              .build();

      RecordingStreamListener listener = stream(call(backend, hello()));

      assertThat(listener.awaitError().failure()).isEqualTo(UpstreamFailure.TIMEOUT);
      fake.awaitOpenConnections(0, Duration.ofSeconds(5));
    }

    @Test
    void theDeadlineEndsAStreamAndIsEnforcedUpstream() throws Exception {
      fake.enqueue(ChatReply.repeatedTokens("x", 1000).tokenInterval(Duration.ofMillis(10)));
      ChatCall call =
          new ChatCall(
              hello(),
              new UpstreamTarget(backend(BackendKind.BACKEND_KIND_OPENAI).build(), "gpt-4o-mini"),
              Deadline.after(300, TimeUnit.MILLISECONDS),
              "req-1");

      RecordingStreamListener listener = stream(call);

      assertThat(listener.awaitError().failure()).isEqualTo(UpstreamFailure.TIMEOUT);
      fake.awaitOpenConnections(0, Duration.ofSeconds(5));
    }

    @Test
    void aRefusedConnectionFailsBeforeAnyOutput() throws Exception {
      int port;
      try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
        port = s.getLocalPort();
      }
      Backend backend = backend(BackendKind.BACKEND_KIND_OPENAI).setBaseUrl("http://127.0.0.1:" + port + "/v1").build();

      RecordingStreamListener listener = stream(call(backend, hello()));

      assertThat(listener.awaitError().failure()).isEqualTo(UpstreamFailure.CONNECT_FAILED);
    }
  }

  @Nested
  class Control {
    @Test
    void cancelClosesTheUpstreamConnectionWithin100MsAndEndsCallbacks() throws Exception {
      fake.enqueue(ChatReply.repeatedTokens("tok", 2000).tokenInterval(Duration.ofMillis(5)));
      RecordingStreamListener listener = new RecordingStreamListener();
      UpstreamStream stream = openai.streamChat(call(hello()), listener);
      listener.awaitFirstContent(Duration.ofSeconds(5));
      assertThat(fake.openConnections()).isEqualTo(1);

      stream.cancel();
      int callbacksAtCancel = listener.callbacks();

      fake.awaitOpenConnections(0, Duration.ofMillis(100));
      Thread.sleep(50);
      assertThat(listener.callbacks()).isLessThanOrEqualTo(callbacksAtCancel + 1);
      assertThat(listener.isDone()).as("no terminal callback after cancel").isFalse();
    }

    @Test
    void aListenerThatIsNotReadyStallsTheUpstreamUntilResumed() throws Exception {
      try (FakeOpenAiServer slow = FakeOpenAiServer.builder().socketSendBufferBytes(16 * 1024).start();
          HttpUpstreamClient smallBuffers =
              HttpUpstreamClient.builder(group, NioSocketChannel.class).socketReceiveBufferBytes(16 * 1024).build()) {
        ProviderAdapter adapter =
            OpenAiProvider.create(
                BackendKind.BACKEND_KIND_OPENAI, smallBuffers,
                SecretResolver.create(ENV::get, System::nanoTime, Duration.ofSeconds(1)), new TlsContexts());
        slow.enqueue(ChatReply.repeatedTokens("t", 5000));
        RecordingStreamListener listener = new RecordingStreamListener();
        listener.pauseAfterEvents = 2;
        Backend backend = backend(BackendKind.BACKEND_KIND_OPENAI).setBaseUrl(slow.baseUrl()).build();

        UpstreamStream stream = adapter.streamChat(call(backend, hello()), listener);

        slow.awaitWriteStall(Duration.ofSeconds(10));
        int seen = listener.events().size();
        Thread.sleep(200);
        assertThat(listener.events().size()).as("no events while not ready, beyond one read").isLessThan(seen + 2000);
        assertThat(slow.chunksWritten()).isLessThan(5000);

        listener.ready = true;
        stream.resume();
        listener.awaitCompletion();
        assertThat(listener.text(0)).hasSize(5000);
      }
    }

    @Test
    void speaksHttp2WhenTheServerOffersItAndCancelResetsOnlyTheStream() throws Exception {
      File certs = new File("src/test/resources/tls");
      try (FakeOpenAiServer h2 =
          FakeOpenAiServer.builder()
              .tls(new File(certs, "server.pem"), new File(certs, "server.key"))
              .http2()
              .start()) {
        Backend backend =
            backend(BackendKind.BACKEND_KIND_OPENAI)
                .setBaseUrl(h2.baseUrl())
                .setTls(TlsSettings.newBuilder().setCaFile(new File(certs, "ca.pem").getAbsolutePath()))
                .build();
        h2.enqueue(ChatReply.repeatedTokens("tok", 2000).tokenInterval(Duration.ofMillis(5)));
        RecordingStreamListener cancelled = new RecordingStreamListener();
        var loop = group.next();
        UpstreamStream stream = loop.submit(() -> openai.streamChat(call(backend, hello()), cancelled)).get();
        cancelled.awaitFirstContent(Duration.ofSeconds(5));

        stream.cancel();

        h2.awaitAbortedResponses(1, Duration.ofMillis(100));
        RecordingStreamListener next = new RecordingStreamListener();
        loop.submit(() -> openai.streamChat(call(backend, hello()), next)).get();
        next.awaitCompletion();
        assertThat(next.text(0)).isEqualTo(FakeOpenAiServer.DEFAULT_TEXT);
        assertThat(h2.connectionsOpened()).as("both streams on one HTTP/2 connection").isEqualTo(1);
        assertThat(h2.requests().get(1).header("authorization")).isEqualTo("Bearer " + KEY);
      }
    }

    @Test
    void aBackendMarkedH2cStreamsOverOnePlaintextHttp2Connection() throws Exception {
      try (FakeOpenAiServer h2c = FakeOpenAiServer.builder().http2().start()) {
        Backend backend =
            backend(BackendKind.BACKEND_KIND_OPENAI_COMPATIBLE).setBaseUrl(h2c.baseUrl()).setH2C(true).build();
        var loop = group.next();
        List<RecordingStreamListener> listeners = new java.util.ArrayList<>();
        for (int i = 0; i < 3; i++) {
          h2c.enqueue(ChatReply.text("one two three").tokenInterval(Duration.ofMillis(20)));
          RecordingStreamListener listener = new RecordingStreamListener();
          loop.submit(() -> compatible.streamChat(call(backend, hello()), listener)).get();
          listeners.add(listener);
        }

        for (RecordingStreamListener listener : listeners) {
          listener.awaitCompletion();
          assertThat(listener.text(0)).isEqualTo("one two three");
        }
        assertThat(h2c.baseUrl()).startsWith("http://");
        assertThat(h2c.connectionsOpened()).as("three streams on one h2c connection").isEqualTo(1);
      }
    }

    @Test
    void worksOverTlsWithAConfiguredCaAndVerifiesTheServerName() throws Exception {
      File certs = new File("src/test/resources/tls");
      try (FakeOpenAiServer secure =
          FakeOpenAiServer.builder()
              .tls(
                  SslContextBuilder.forServer(new File(certs, "server.pem"), new File(certs, "server.key"))
                      .build())
              .start()) {
        TlsSettings trusted = TlsSettings.newBuilder().setCaFile(new File(certs, "ca.pem").getAbsolutePath()).build();
        Backend good = backend(BackendKind.BACKEND_KIND_OPENAI).setBaseUrl(secure.baseUrl()).setTls(trusted).build();
        Backend systemRoots = backend(BackendKind.BACKEND_KIND_OPENAI).setBaseUrl(secure.baseUrl()).build();
        Backend wrongName =
            backend(BackendKind.BACKEND_KIND_OPENAI)
                .setBaseUrl(secure.baseUrl())
                .setTls(trusted.toBuilder().setServerName("api.example.com"))
                .build();

        assertThat(stream(call(good, hello())).awaitCompletion()).isNotEmpty();
        assertThat(stream(call(systemRoots, hello())).awaitError().failure())
            .as("a private CA is not trusted by default")
            .isEqualTo(UpstreamFailure.CONNECT_FAILED);
        assertThat(stream(call(wrongName, hello())).awaitError().failure())
            .as("the certificate does not name api.example.com")
            .isEqualTo(UpstreamFailure.CONNECT_FAILED);
        assertThat(secure.requests()).hasSize(1);
      }
    }
  }

  @Nested
  class Embeddings {
    private EmbedCall embedCall(Backend backend, EmbedRequest request) {
      return new EmbedCall(request, new UpstreamTarget(backend, "text-embedding-3-small"), null, "req-e");
    }

    private EmbedRequest request(EmbeddingEncoding encoding) {
      return EmbedRequest.newBuilder()
          .setModel("embed")
          .addInputs("first text")
          .addInputs("second text")
          .setDimensions(4)
          .setEncoding(encoding)
          .setEndUser("u1")
          .build();
    }

    private static float[] floats(EmbedResponse r, int i) {
      var values = r.getEmbeddings(i).getValuesList();
      float[] f = new float[values.size()];
      for (int k = 0; k < f.length; k++) {
        f[k] = values.get(k);
      }
      return f;
    }

    @Test
    void openAiIsAskedForBase64AndAnswersInFloats() throws Exception {
      float[] a = {0.5f, -0.25f, 0.125f, 1f};
      float[] b = {0f, 0.75f, -1f, 0.001f};
      fake.enqueue(EmbeddingsReply.vectors(List.of(a, b)).promptTokens(6));

      EmbedResponse r =
          openai.embed(embedCall(backend(BackendKind.BACKEND_KIND_OPENAI).build(),
                  request(EmbeddingEncoding.EMBEDDING_ENCODING_UNSPECIFIED)))
              .get(10, TimeUnit.SECONDS);

      JsonNode sent = fake.takeRequest().jsonBody();
      assertThat(sent)
          .isEqualTo(
              json(
                  "{\"model\":\"text-embedding-3-small\",\"input\":[\"first text\",\"second text\"],"
                      + "\"dimensions\":4,\"encoding_format\":\"base64\",\"user\":\"u1\"}"));
      assertThat(floats(r, 0)).containsExactly(a);
      assertThat(floats(r, 1)).containsExactly(b);
      assertThat(r.getEmbeddingsList()).extracting(e -> e.getIndex()).containsExactly(0, 1);
      assertThat(r.getUsage()).isEqualTo(Usage.newBuilder().setInputTokens(6).setTotalTokens(6).build());
      assertThat(r.getProviderModel()).isEqualTo("text-embedding-3-small");
      assertThat(r.getProvider()).isEqualTo("openai");
    }

    @Test
    void compatibleServersAreAskedForFloatsAndBase64IsPackedLittleEndian() throws Exception {
      float[] a = {0.5f, -0.25f, 0.125f, 1f};
      fake.enqueue(EmbeddingsReply.vectors(List.of(a, a)));
      Backend backend = backend(BackendKind.BACKEND_KIND_OPENAI_COMPATIBLE).build();

      EmbedResponse floats =
          compatible.embed(embedCall(backend, request(EmbeddingEncoding.EMBEDDING_ENCODING_FLOAT))).get(10, TimeUnit.SECONDS);
      assertThat(fake.takeRequest().jsonBody().get("encoding_format").asText()).isEqualTo("float");
      assertThat(floats(floats, 0)).containsExactly(a);

      fake.enqueue(EmbeddingsReply.vectors(List.of(a, a)));
      EmbedResponse packed =
          compatible.embed(embedCall(backend, request(EmbeddingEncoding.EMBEDDING_ENCODING_BASE64))).get(10, TimeUnit.SECONDS);
      assertThat(fake.takeRequest().jsonBody().get("encoding_format").asText()).isEqualTo("base64");
      ByteBuffer bytes = packed.getEmbeddings(0).getData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
      float[] decoded = new float[4];
      for (int i = 0; i < 4; i++) {
        decoded[i] = bytes.getFloat();
      }
      assertThat(decoded).containsExactly(a);
      assertThat(packed.getEmbeddings(0).getValuesList()).isEmpty();
    }

    @Test
    void embeddingErrorsAreClassifiedLikeChatErrors() {
      fake.enqueue(EmbeddingsReply.error(400, "invalid_request_error", "too long"));

      assertThatThrownBy(
              () -> openai.embed(embedCall(backend(BackendKind.BACKEND_KIND_OPENAI).build(),
                      request(EmbeddingEncoding.EMBEDDING_ENCODING_FLOAT)))
                  .get(10, TimeUnit.SECONDS))
          .cause()
          .isInstanceOfSatisfying(
              UpstreamException.class, e -> assertThat(e.failure()).isEqualTo(UpstreamFailure.BAD_REQUEST));
    }
  }

}
