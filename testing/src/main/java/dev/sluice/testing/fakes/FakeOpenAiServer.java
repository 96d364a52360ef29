package dev.sluice.testing.fakes;

import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import org.jspecify.annotations.Nullable;

/**
 * A fake OpenAI API server: Chat Completions ({@code POST /v1/chat/completions}, streamed and
 * unary) and Embeddings ({@code POST /v1/embeddings}), over real HTTP/1.1 on {@code 127.0.0.1}
 * and an ephemeral port, with JSON and SSE exactly in OpenAI's shapes: {@code chat.completion}
 * objects; {@code data: {chunk}\n\n} events of {@code chat.completion.chunk} with a first {@code
 * role} delta, content / refusal / {@code tool_calls} deltas, a finish chunk, a usage chunk with
 * empty {@code choices} when {@code stream_options.include_usage} is set, then {@code data:
 * [DONE]}; errors as {@code {"error": {"message", "type", "param", "code"}}}.
 *
 * <p>Replies are scripted per request: {@link #enqueue(ChatReply)} queues replies that the next
 * chat requests get in order; when the queue is empty, the builder's responder (by default a short
 * fixed text) answers. Every request is recorded ({@link #requests()}, {@link #takeRequest()}),
 * and connections are counted so a test can assert that a cancelled stream closed its upstream
 * connection.
 *
 * <pre>{@code
 * try (FakeOpenAiServer fake = FakeOpenAiServer.start()) {
 *   fake.enqueue(ChatReply.text("Hello there").lineEnding(SseLineEnding.CRLF).keepAliveComments());
 *   // point a backend at fake.baseUrl() ("http://127.0.0.1:<port>/v1") and call it
 *   RecordedRequest sent = fake.takeRequest();
 *   assertThat(sent.jsonBody().get("stream").asBoolean()).isTrue();
 * }
 * }</pre>
 *
 * <p>Thread-safe; {@link #close()} stops the server and its event loop.
 */
public final class FakeOpenAiServer extends FakeProviderServer {
  /** The text the default responder answers with. */
  public static final String DEFAULT_TEXT = "Hello from the fake OpenAI server.";

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final long CREATED = 1_700_000_000L;

  private final ReplyQueue<ChatReply> chatReplies;
  private final ReplyQueue<EmbeddingsReply> embeddingsReplies;
  private final AtomicInteger ids = new AtomicInteger();

  private FakeOpenAiServer(Builder b, LateResponder responder) {
    super(b.server(responder), b.isTls());
    this.chatReplies = new ReplyQueue<>(b.chatResponder);
    this.embeddingsReplies = new ReplyQueue<>(b.embeddingsResponder);
    responder.bind(this::respond);
  }

  /** Starts a fake with default settings. */
  public static FakeOpenAiServer start() {
    return builder().start();
  }

  public static Builder builder() {
    return new Builder();
  }

  /** The base URL to configure a backend with: {@code http://127.0.0.1:<port>/v1}. */
  @Override
  public String baseUrl() {
    return origin() + "/v1";
  }

  /** Queues the reply for the next chat request not yet answered from the queue. */
  public FakeOpenAiServer enqueue(ChatReply reply) {
    chatReplies.add(reply);
    return this;
  }

  /** Queues the reply for the next embeddings request. */
  public FakeOpenAiServer enqueue(EmbeddingsReply reply) {
    embeddingsReplies.add(reply);
    return this;
  }

  // ---- answering ----

  private ScriptedResponse respond(RecordedRequest request) {
    if (!"POST".equals(request.method())) {
      return error(404, "invalid_request_error", "Unknown request URL: " + request.method() + " "
          + request.path(), List.of());
    }
    if (request.path().endsWith("/chat/completions")) {
      return chat(request, chatReplies.next(request));
    }
    if (request.path().endsWith("/embeddings")) {
      return embeddings(request, embeddingsReplies.next(request));
    }
    return error(404, "invalid_request_error", "Unknown request URL: POST " + request.path(),
        List.of());
  }

  private static ScriptedResponse error(
      int status, String type, String message, List<Map.Entry<String, String>> headers) {
    ObjectNode body = JSON.createObjectNode();
    ObjectNode error = body.putObject("error");
    error.put("message", message);
    error.put("type", type);
    error.putNull("param");
    if (type.equals("invalid_request_error") || type.equals("server_error")) {
      error.putNull("code");
    } else {
      error.put("code", type);
    }
    return ScriptedResponse.Full.json(status, headers, body.toString());
  }

  private ScriptedResponse chat(RecordedRequest request, ChatReply reply) {
    if (reply.hang) {
      return new ScriptedResponse.Hang();
    }
    if (reply.resetBeforeResponse) {
      return new ScriptedResponse.Reset();
    }
    if (reply.rawBody != null) {
      return ScriptedResponse.Full.json(reply.status, reply.headers, reply.rawBody);
    }
    if (reply.status != 200) {
      return error(reply.status, reply.errorType, reply.errorMessage, reply.headers);
    }
    JsonNode body = request.json();
    if (body == null || !body.isObject()) {
      return error(400, "invalid_request_error", "We could not parse the JSON body of your request.",
          List.of());
    }
    String model = reply.model != null ? reply.model : body.path("model").asText("gpt-fake");
    String id = reply.id != null ? reply.id : "chatcmpl-fake" + ids.incrementAndGet();
    int n = Math.max(1, body.path("n").asInt(1));
    boolean logprobs = body.path("logprobs").asBoolean(false);
    int topLogprobs = body.path("top_logprobs").asInt(0);
    ObjectNode usage = usage(reply, body, n);
    if (body.path("stream").asBoolean(false)) {
      boolean includeUsage =
          reply.usageAlways || body.path("stream_options").path("include_usage").asBoolean(false);
      return new ScriptedResponse.Streamed(
          200, streamHeaders(reply), stream(reply, id, model, n, includeUsage, usage, logprobs,
              topLogprobs));
    }
    return ScriptedResponse.Full.json(
        200, reply.headers, completion(reply, id, model, n, usage, logprobs, topLogprobs).toString());
  }

  private static List<Map.Entry<String, String>> streamHeaders(ChatReply reply) {
    List<Map.Entry<String, String>> headers = new ArrayList<>();
    headers.add(Map.entry("content-type", "text/event-stream; charset=utf-8"));
    headers.add(Map.entry("cache-control", "no-cache"));
    headers.add(Map.entry("x-request-id", "req_fake"));
    headers.addAll(reply.headers);
    return headers;
  }

  private static ObjectNode usage(ChatReply reply, JsonNode request, int n) {
    int prompt =
        reply.promptTokens != null
            ? reply.promptTokens
            : Tokens.estimate(request.path("messages").toString());
    int completion =
        reply.completionTokens != null
            ? reply.completionTokens
            : n * (reply.textTokens.size() + reply.refusalTokens.size()
                + reply.reasoningTokens.size() + reply.toolCalls.size() * 8);
    ObjectNode usage = JSON.createObjectNode();
    usage.put("prompt_tokens", prompt);
    usage.put("completion_tokens", completion);
    usage.put("total_tokens", prompt + completion);
    ObjectNode promptDetails = usage.putObject("prompt_tokens_details");
    promptDetails.put("cached_tokens", reply.cachedTokens);
    promptDetails.put("audio_tokens", 0);
    ObjectNode completionDetails = usage.putObject("completion_tokens_details");
    completionDetails.put("reasoning_tokens", reply.reasoningTokenCount);
    completionDetails.put("audio_tokens", 0);
    completionDetails.put("accepted_prediction_tokens", 0);
    completionDetails.put("rejected_prediction_tokens", 0);
    return usage;
  }

  private String finishReason(ChatReply reply) {
    if (reply.finishReason != null) {
      return reply.finishReason;
    }
    return reply.toolCalls.isEmpty() ? "stop" : "tool_calls";
  }

  private ObjectNode completion(
      ChatReply reply, String id, String model, int n, ObjectNode usage, boolean logprobs,
      int topLogprobs) {
    ObjectNode root = JSON.createObjectNode();
    root.put("id", id);
    root.put("object", "chat.completion");
    root.put("created", CREATED);
    root.put("model", model);
    ArrayNode choices = root.putArray("choices");
    for (int i = 0; i < n; i++) {
      ObjectNode choice = choices.addObject();
      choice.put("index", i);
      ObjectNode message = choice.putObject("message");
      message.put("role", "assistant");
      if (reply.textTokens.isEmpty() && (!reply.toolCalls.isEmpty() || !reply.refusalTokens.isEmpty())) {
        message.putNull("content");
      } else {
        message.put("content", String.join("", reply.textTokens));
      }
      if (!reply.reasoningTokens.isEmpty()) {
        message.put("reasoning_content", String.join("", reply.reasoningTokens));
      }
      if (reply.refusalTokens.isEmpty()) {
        message.putNull("refusal");
      } else {
        message.put("refusal", String.join("", reply.refusalTokens));
      }
      message.putArray("annotations");
      if (!reply.toolCalls.isEmpty()) {
        ArrayNode calls = message.putArray("tool_calls");
        for (FakeToolCall call : reply.toolCalls) {
          ObjectNode c = calls.addObject();
          c.put("id", call.id());
          c.put("type", "function");
          ObjectNode function = c.putObject("function");
          function.put("name", call.name());
          function.put("arguments", call.arguments());
        }
      }
      if (logprobs) {
        ObjectNode lp = choice.putObject("logprobs");
        ArrayNode content = lp.putArray("content");
        for (String token : reply.textTokens) {
          content.add(tokenLogprob(token, topLogprobs));
        }
        lp.putNull("refusal");
      } else {
        choice.putNull("logprobs");
      }
      choice.put("finish_reason", finishReason(reply));
    }
    root.set("usage", usage);
    root.put("service_tier", "default");
    root.put("system_fingerprint", reply.systemFingerprint);
    return root;
  }

  private static ObjectNode tokenLogprob(String token, int top) {
    ObjectNode t = JSON.createObjectNode();
    t.put("token", token);
    t.put("logprob", -0.25);
    ArrayNode bytes = t.putArray("bytes");
    for (byte b : token.getBytes(StandardCharsets.UTF_8)) {
      bytes.add(b & 0xff);
    }
    ArrayNode alternatives = t.putArray("top_logprobs");
    for (int i = 0; i < top; i++) {
      ObjectNode alt = alternatives.addObject();
      String text = i == 0 ? token : token + i;
      alt.put("token", text);
      alt.put("logprob", -0.25 - i);
      ArrayNode altBytes = alt.putArray("bytes");
      for (byte b : text.getBytes(StandardCharsets.UTF_8)) {
        altBytes.add(b & 0xff);
      }
    }
    return t;
  }

  private Iterable<ScriptedResponse.Step> stream(
      ChatReply reply, String id, String model, int n, boolean includeUsage, ObjectNode usage,
      boolean logprobs, int topLogprobs) {
    EventScript script = new EventScript(reply);
    for (int c = 0; c < n; c++) {
      ObjectNode delta = JSON.createObjectNode();
      delta.put("role", "assistant");
      delta.put("content", "");
      delta.putNull("refusal");
      script.event(null, chunk(id, model, c, delta, null, includeUsage, null), false);
    }
    for (String token : reply.reasoningTokens) {
      for (int c = 0; c < n; c++) {
        ObjectNode delta = JSON.createObjectNode();
        delta.put("reasoning_content", token);
        script.event(null, chunk(id, model, c, delta, null, includeUsage, null), true);
      }
    }
    for (String token : reply.textTokens) {
      for (int c = 0; c < n; c++) {
        ObjectNode delta = JSON.createObjectNode();
        delta.put("content", token);
        ObjectNode lp = null;
        if (logprobs) {
          lp = JSON.createObjectNode();
          lp.putArray("content").add(tokenLogprob(token, topLogprobs));
          lp.putNull("refusal");
        }
        script.event(null, chunk(id, model, c, delta, null, includeUsage, lp), true);
      }
    }
    for (String token : reply.refusalTokens) {
      for (int c = 0; c < n; c++) {
        ObjectNode delta = JSON.createObjectNode();
        delta.put("refusal", token);
        script.event(null, chunk(id, model, c, delta, null, includeUsage, null), true);
      }
    }
    for (int t = 0; t < reply.toolCalls.size(); t++) {
      FakeToolCall call = reply.toolCalls.get(t);
      for (int c = 0; c < n; c++) {
        ObjectNode delta = JSON.createObjectNode();
        ObjectNode entry = delta.putArray("tool_calls").addObject();
        entry.put("index", t);
        entry.put("id", call.id());
        entry.put("type", "function");
        ObjectNode function = entry.putObject("function");
        function.put("name", call.name());
        function.put("arguments", "");
        script.event(null, chunk(id, model, c, delta, null, includeUsage, null), true);
      }
      for (String fragment : Tokens.fragments(call.arguments(), 7)) {
        for (int c = 0; c < n; c++) {
          ObjectNode delta = JSON.createObjectNode();
          ObjectNode entry = delta.putArray("tool_calls").addObject();
          entry.put("index", t);
          entry.putObject("function").put("arguments", fragment);
          script.event(null, chunk(id, model, c, delta, null, includeUsage, null), true);
        }
      }
    }
    for (int c = 0; c < n; c++) {
      script.event(
          null, chunk(id, model, c, JSON.createObjectNode(), finishReason(reply), includeUsage, null),
          false);
    }
    if (includeUsage) {
      ObjectNode last = chunkBase(id, model);
      last.putArray("choices");
      last.set("usage", usage);
      script.event(null, last, false);
    }
    if (reply.errorEventAfter >= 0) {
      ObjectNode body = JSON.createObjectNode();
      ObjectNode error = body.putObject("error");
      error.put("message", reply.errorMessage);
      error.put("type", reply.errorType);
      error.putNull("param");
      error.putNull("code");
      script.errorAfter(reply.errorEventAfter, null, body);
    }
    script.endMarker(null, null, "[DONE]");
    return script.steps();
  }

  private ObjectNode chunkBase(String id, String model) {
    ObjectNode chunk = JSON.createObjectNode();
    chunk.put("id", id);
    chunk.put("object", "chat.completion.chunk");
    chunk.put("created", CREATED);
    chunk.put("model", model);
    chunk.put("service_tier", "default");
    chunk.put("system_fingerprint", "fp_fake0001");
    return chunk;
  }

  private ObjectNode chunk(
      String id, String model, int choiceIndex, ObjectNode delta, @Nullable String finishReason,
      boolean includeUsage, @Nullable ObjectNode logprobs) {
    ObjectNode chunk = chunkBase(id, model);
    ObjectNode choice = chunk.putArray("choices").addObject();
    choice.put("index", choiceIndex);
    choice.set("delta", delta);
    if (logprobs == null) {
      choice.putNull("logprobs");
    } else {
      choice.set("logprobs", logprobs);
    }
    if (finishReason == null) {
      choice.putNull("finish_reason");
    } else {
      choice.put("finish_reason", finishReason);
    }
    if (includeUsage) {
      chunk.putNull("usage");
    }
    return chunk;
  }

  private ScriptedResponse embeddings(RecordedRequest request, EmbeddingsReply reply) {
    if (reply.status != 200) {
      return error(reply.status, reply.errorType, reply.errorMessage, reply.headers);
    }
    JsonNode body = request.json();
    if (body == null || !body.isObject()) {
      return error(400, "invalid_request_error", "We could not parse the JSON body of your request.",
          List.of());
    }
    List<String> inputs = new ArrayList<>();
    JsonNode input = body.path("input");
    if (input.isArray()) {
      input.forEach(i -> inputs.add(i.asText()));
    } else {
      inputs.add(input.asText());
    }
    int dimensions = body.path("dimensions").asInt(reply.dimensions);
    boolean base64 = "base64".equals(body.path("encoding_format").asText("float"));
    ObjectNode root = JSON.createObjectNode();
    root.put("object", "list");
    ArrayNode data = root.putArray("data");
    int promptTokens = 0;
    for (int i = 0; i < inputs.size(); i++) {
      float[] vector =
          reply.vectors != null ? reply.vectors.get(i) : EmbeddingsReply.vectorOf(inputs.get(i), dimensions);
      promptTokens += Tokens.estimate(inputs.get(i));
      ObjectNode item = data.addObject();
      item.put("object", "embedding");
      item.put("index", i);
      if (base64) {
        ByteBuffer bytes = ByteBuffer.allocate(vector.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float f : vector) {
          bytes.putFloat(f);
        }
        item.put("embedding", Base64.getEncoder().encodeToString(bytes.array()));
      } else {
        ArrayNode values = item.putArray("embedding");
        for (float f : vector) {
          values.add(f);
        }
      }
    }
    root.put("model", reply.model != null ? reply.model : body.path("model").asText());
    ObjectNode usage = root.putObject("usage");
    int prompt = reply.promptTokens != null ? reply.promptTokens : promptTokens;
    usage.put("prompt_tokens", prompt);
    usage.put("total_tokens", prompt);
    return ScriptedResponse.Full.json(200, reply.headers, root.toString());
  }

  /** Builds a {@link FakeOpenAiServer}. */
  public static final class Builder extends FakeServerBuilder<Builder> {
    private Function<RecordedRequest, ChatReply> chatResponder = r -> ChatReply.text(DEFAULT_TEXT);
    private Function<RecordedRequest, EmbeddingsReply> embeddingsResponder =
        r -> EmbeddingsReply.deterministic();

    private Builder() {}

    @Override
    Builder self() {
      return this;
    }

    /**
     * Answers chat requests when the queue is empty, for example by model name: {@code r ->
     * r.jsonBody().get("model").asText().equals("broken") ? ChatReply.error(500, ...) :
     * ChatReply.text("ok")}.
     */
    public Builder chatResponder(Function<RecordedRequest, ChatReply> responder) {
      this.chatResponder = requireNonNull(responder, "responder");
      return this;
    }

    /** Answers embeddings requests when the queue is empty. */
    public Builder embeddingsResponder(Function<RecordedRequest, EmbeddingsReply> responder) {
      this.embeddingsResponder = requireNonNull(responder, "responder");
      return this;
    }

    /** Binds and starts the server. */
    public FakeOpenAiServer start() {
      return new FakeOpenAiServer(this, new LateResponder());
    }
  }
}
