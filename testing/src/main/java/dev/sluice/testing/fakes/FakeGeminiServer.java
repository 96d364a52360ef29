package dev.sluice.testing.fakes;

import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.jspecify.annotations.Nullable;

/**
 * A fake Gemini API server: {@code POST /v1beta/models/{model}:generateContent}, {@code
 * :streamGenerateContent?alt=sse} and {@code :batchEmbedContents}, over real HTTP/1.1 on
 * 127.0.0.1, in the REST API's camelCase JSON: {@code candidates[].content.parts[]} with {@code
 * text}, {@code thought}, {@code functionCall{name,args}} and {@code thoughtSignature}; {@code
 * finishReason}; {@code usageMetadata}; {@code promptFeedback.blockReason}; errors as {@code
 * {"error":{"code","message","status"}}}. Streams are {@code data: <chunk>\r\n\r\n} events and end
 * by closing the body, as Gemini's do.
 *
 * <p>Replies are queued with {@link #enqueue}; when the queue is empty the builder's responder
 * answers (by default a short text). Embeddings are deterministic vectors, one per request in the
 * batch, of {@code outputDimensionality} (default 8) dimensions.
 */
public final class FakeGeminiServer extends FakeProviderServer {
  /** The text the default responder answers with. */
  public static final String DEFAULT_TEXT = "Hello from the fake Gemini server.";

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Pattern PATH =
      Pattern.compile("/(v1beta|v1|v1alpha)/(models|tunedModels)/([^:/]+):([A-Za-z]+)");

  private final ReplyQueue<GeminiReply> replies;
  private final AtomicInteger ids = new AtomicInteger();

  private FakeGeminiServer(Builder b, LateResponder r) {
    super(b.server(r), b.isTls());
    this.replies = new ReplyQueue<>(b.responder);
    r.bind(this::respond);
  }

  /** Starts a fake with default settings. */
  public static FakeGeminiServer start() {
    return builder().start();
  }

  public static Builder builder() {
    return new Builder();
  }

  /** The base URL to configure a backend with: {@code http://127.0.0.1:<port>} (no path). */
  @Override
  public String baseUrl() {
    return origin();
  }

  /** Queues the reply for the next generate request. */
  public FakeGeminiServer enqueue(GeminiReply reply) {
    replies.add(reply);
    return this;
  }

  private ScriptedResponse respond(RecordedRequest request) {
    Matcher m = PATH.matcher(request.path());
    if (!"POST".equals(request.method()) || !m.matches()) {
      return error(404, "NOT_FOUND", "Requested entity was not found.", List.of());
    }
    String model = m.group(3);
    String method = m.group(4);
    JsonNode body = request.json();
    if (body == null || !body.isObject()) {
      return error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.", List.of());
    }
    if (method.equals("batchEmbedContents")) {
      return embeddings(body);
    }
    boolean stream = method.equals("streamGenerateContent");
    if (!stream && !method.equals("generateContent")) {
      return error(404, "NOT_FOUND", "Method not found.", List.of());
    }
    if (stream && !request.query().contains("alt=sse")) {
      return error(400, "INVALID_ARGUMENT", "This fake streams only with alt=sse.", List.of());
    }
    GeminiReply reply = replies.next(request);
    if (reply.hang) {
      return new ScriptedResponse.Hang();
    }
    if (reply.status != 200) {
      return error(reply.status, reply.errorStatus, reply.errorMessage, reply.headers);
    }
    String responseId = reply.responseId != null ? reply.responseId : "resp-fake" + ids.incrementAndGet();
    String version = reply.modelVersion != null ? reply.modelVersion : model;
    int candidates = Math.max(1, body.path("generationConfig").path("candidateCount").asInt(1));
    ObjectNode usage = usage(reply, body, candidates);
    if (stream) {
      List<Map.Entry<String, String>> headers = new ArrayList<>();
      headers.add(Map.entry("content-type", "text/event-stream"));
      headers.addAll(reply.headers);
      return new ScriptedResponse.Streamed(200, headers, stream(reply, responseId, version, candidates, usage));
    }
    ObjectNode response = JSON.createObjectNode();
    if (reply.blockReason != null) {
      response.putObject("promptFeedback").put("blockReason", reply.blockReason);
    } else {
      ArrayNode list = response.putArray("candidates");
      for (int c = 0; c < candidates; c++) {
        ObjectNode candidate = list.addObject();
        ObjectNode content = candidate.putObject("content");
        ArrayNode parts = content.putArray("parts");
        for (GeminiReply.Part p : reply.parts) {
          if (p instanceof GeminiReply.Part.Text t) {
            textPart(parts, String.join("", t.tokens()), t.thought(), t.signature());
          } else if (p instanceof GeminiReply.Part.Call call) {
            callPart(parts, call, reply.callIds);
          }
        }
        content.put("role", "model");
        candidate.put("finishReason", reply.finishReason != null ? reply.finishReason : "STOP");
        candidate.put("index", c);
      }
    }
    response.set("usageMetadata", usage);
    response.put("modelVersion", version);
    response.put("responseId", responseId);
    return ScriptedResponse.Full.json(200, reply.headers, response.toString());
  }

  private static ObjectNode usage(GeminiReply reply, JsonNode request, int candidates) {
    int prompt = reply.promptTokens != null ? reply.promptTokens : Tokens.estimate(request.path("contents").toString());
    int output = reply.candidatesTokens != null ? reply.candidatesTokens : candidates * words(reply);
    ObjectNode usage = JSON.createObjectNode();
    usage.put("promptTokenCount", prompt);
    usage.put("candidatesTokenCount", output);
    usage.put("totalTokenCount", prompt + output + reply.thoughtsTokens);
    if (reply.cachedTokens > 0) {
      usage.put("cachedContentTokenCount", reply.cachedTokens);
    }
    if (reply.thoughtsTokens > 0) {
      usage.put("thoughtsTokenCount", reply.thoughtsTokens);
    }
    return usage;
  }

  private static int words(GeminiReply reply) {
    int n = 0;
    for (GeminiReply.Part p : reply.parts) {
      n += p instanceof GeminiReply.Part.Text t ? t.tokens().size() : 8;
    }
    return n;
  }

  private static void textPart(ArrayNode parts, String text, boolean thought, @Nullable String signature) {
    ObjectNode part = parts.addObject();
    part.put("text", text);
    if (thought) {
      part.put("thought", true);
    }
    if (signature != null) {
      part.put("thoughtSignature", signature);
    }
  }

  private static void callPart(ArrayNode parts, GeminiReply.Part.Call call, boolean withId) {
    ObjectNode part = parts.addObject();
    ObjectNode fc = part.putObject("functionCall");
    if (withId) {
      fc.put("id", call.call().id());
    }
    fc.put("name", call.call().name());
    try {
      fc.set("args", JSON.readTree(call.call().arguments().isBlank() ? "{}" : call.call().arguments()));
    } catch (JsonProcessingException e) {
      throw new IllegalArgumentException("function arguments are not JSON", e);
    }
    if (call.signature() != null) {
      part.put("thoughtSignature", call.signature());
    }
  }

  private Iterable<ScriptedResponse.Step> stream(
      GeminiReply reply, String responseId, String version, int candidates, ObjectNode usage) {
    EventScript script = new EventScript(reply);
    if (reply.blockReason != null) {
      ObjectNode chunk = JSON.createObjectNode();
      chunk.putObject("promptFeedback").put("blockReason", reply.blockReason);
      chunk.set("usageMetadata", usage);
      chunk.put("modelVersion", version);
      chunk.put("responseId", responseId);
      script.event(null, chunk, false);
      return script.steps();
    }
    List<ObjectNode> chunks = new ArrayList<>();
    for (GeminiReply.Part p : reply.parts) {
      if (p instanceof GeminiReply.Part.Text t) {
        List<String> tokens = t.tokens();
        for (int i = 0; i < tokens.size(); i += reply.wordsPerChunk) {
          boolean last = i + reply.wordsPerChunk >= tokens.size();
          String text = String.join("", tokens.subList(i, Math.min(tokens.size(), i + reply.wordsPerChunk)));
          for (int c = 0; c < candidates; c++) {
            ObjectNode chunk = chunk(responseId, version, c);
            textPart(parts(chunk), text, t.thought(), last ? t.signature() : null);
            chunks.add(chunk);
          }
        }
      } else if (p instanceof GeminiReply.Part.Call call) {
        for (int c = 0; c < candidates; c++) {
          ObjectNode chunk = chunk(responseId, version, c);
          callPart(parts(chunk), call, reply.callIds);
          chunks.add(chunk);
        }
      }
    }
    for (int c = 0; c < candidates; c++) {
      ObjectNode last = chunk(responseId, version, c);
      parts(last).addObject().put("text", "");
      if (!reply.omitFinishReason) {
        ((ObjectNode) last.get("candidates").get(0))
            .put("finishReason", reply.finishReason != null ? reply.finishReason : "STOP");
      }
      if (c == candidates - 1) {
        // Gemini's order: candidates, usageMetadata, modelVersion, responseId.
        last.set("usageMetadata", usage);
        last.set("modelVersion", last.remove("modelVersion"));
        last.set("responseId", last.remove("responseId"));
      }
      chunks.add(last);
    }
    for (ObjectNode chunk : chunks) {
      script.event(null, chunk, true);
    }
    if (reply.errorEventAfter >= 0) {
      ObjectNode body = JSON.createObjectNode();
      ObjectNode e = body.putObject("error");
      e.put("code", reply.errorEventCode);
      e.put("message", reply.errorMessage);
      e.put("status", reply.errorStatus);
      script.errorAfter(reply.errorEventAfter, null, body);
    }
    return script.steps();
  }

  private static ObjectNode chunk(String responseId, String version, int candidateIndex) {
    ObjectNode chunk = JSON.createObjectNode();
    ObjectNode candidate = chunk.putArray("candidates").addObject();
    ObjectNode content = candidate.putObject("content");
    content.putArray("parts");
    content.put("role", "model");
    candidate.put("index", candidateIndex);
    chunk.put("modelVersion", version);
    chunk.put("responseId", responseId);
    return chunk;
  }

  private static ArrayNode parts(ObjectNode chunk) {
    return (ArrayNode) chunk.get("candidates").get(0).get("content").get("parts");
  }

  private static ScriptedResponse embeddings(JsonNode body) {
    ObjectNode response = JSON.createObjectNode();
    ArrayNode embeddings = response.putArray("embeddings");
    for (JsonNode request : body.path("requests")) {
      String text = request.path("content").path("parts").path(0).path("text").asText();
      int dimensions = request.path("outputDimensionality").asInt(8);
      ArrayNode values = embeddings.addObject().putArray("values");
      for (float f : EmbeddingsReply.vectorOf(text, dimensions)) {
        values.add(f);
      }
    }
    return ScriptedResponse.Full.json(200, List.of(), response.toString());
  }

  private static ScriptedResponse error(
      int status, @Nullable String googleStatus, @Nullable String message, List<Map.Entry<String, String>> headers) {
    ObjectNode body = JSON.createObjectNode();
    ObjectNode e = body.putObject("error");
    e.put("code", status);
    e.put("message", message);
    e.put("status", googleStatus);
    return ScriptedResponse.Full.json(status, headers, body.toString());
  }

  /** Builds a {@link FakeGeminiServer}. */
  public static final class Builder extends FakeServerBuilder<Builder> {
    private Function<RecordedRequest, GeminiReply> responder = r -> GeminiReply.text(DEFAULT_TEXT);

    private Builder() {}

    @Override
    Builder self() {
      return this;
    }

    /** Answers requests when the queue is empty. */
    public Builder responder(Function<RecordedRequest, GeminiReply> responder) {
      this.responder = requireNonNull(responder, "responder");
      return this;
    }

    /** Binds and starts the server. */
    public FakeGeminiServer start() {
      return new FakeGeminiServer(this, new LateResponder());
    }
  }
}
