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
import org.jspecify.annotations.Nullable;

/**
 * A fake Anthropic API server: Messages ({@code POST /v1/messages}, streamed and unary) over real
 * HTTP/1.1 on 127.0.0.1, with the event stream exactly in Anthropic's shape: {@code event:} lines
 * naming each event; {@code message_start} (message skeleton and initial usage), per block {@code
 * content_block_start} / {@code content_block_delta} ({@code text_delta}, {@code thinking_delta},
 * {@code signature_delta}, {@code input_json_delta}) / {@code content_block_stop}, then {@code
 * message_delta} (stop reason, cumulative usage) and {@code message_stop}; optional {@code ping}
 * events; errors as {@code {"type":"error","error":{"type","message"}}} with a {@code request-id}
 * header.
 *
 * <p>Replies are queued with {@link #enqueue}; when the queue is empty the builder's responder
 * answers (by default a short text). Requests and connections are recorded as by every {@link
 * FakeProviderServer}.
 */
public final class FakeAnthropicServer extends FakeProviderServer {
  /** The text the default responder answers with. */
  public static final String DEFAULT_TEXT = "Hello from the fake Anthropic server.";

  private static final ObjectMapper JSON = new ObjectMapper();

  private final ReplyQueue<AnthropicReply> replies;
  private final AtomicInteger ids = new AtomicInteger();

  private FakeAnthropicServer(Builder b, LateResponder r) {
    super(b.server(r), b.isTls());
    this.replies = new ReplyQueue<>(b.responder);
    r.bind(this::respond);
  }

  /** Starts a fake with default settings. */
  public static FakeAnthropicServer start() {
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

  /** Queues the reply for the next Messages request. */
  public FakeAnthropicServer enqueue(AnthropicReply reply) {
    replies.add(reply);
    return this;
  }

  private ScriptedResponse respond(RecordedRequest request) {
    if (!"POST".equals(request.method()) || !request.path().equals("/v1/messages")) {
      return error(404, "not_found_error", "Not found", List.of());
    }
    AnthropicReply reply = replies.next(request);
    if (reply.hang) {
      return new ScriptedResponse.Hang();
    }
    if (reply.status != 200) {
      return error(reply.status, reply.errorType, reply.errorMessage, reply.headers);
    }
    JsonNode body = request.json();
    if (body == null || !body.isObject()) {
      return error(400, "invalid_request_error", "Invalid JSON body", List.of());
    }
    if (!body.has("max_tokens")) {
      return error(400, "invalid_request_error", "max_tokens: Field required", List.of());
    }
    String id = reply.id != null ? reply.id : "msg_fake" + ids.incrementAndGet();
    String model = reply.model != null ? reply.model : body.path("model").asText("claude-fake");
    int input = reply.inputTokens != null ? reply.inputTokens : Tokens.estimate(body.path("messages").toString());
    int output = reply.outputTokens != null ? reply.outputTokens : outputTokens(reply);
    List<Map.Entry<String, String>> headers = new ArrayList<>();
    headers.add(Map.entry("request-id", "req_fake"));
    headers.addAll(reply.headers);
    if (body.path("stream").asBoolean(false)) {
      headers.add(0, Map.entry("content-type", "text/event-stream; charset=utf-8"));
      headers.add(Map.entry("cache-control", "no-cache"));
      return new ScriptedResponse.Streamed(200, headers, stream(reply, id, model, input, output));
    }
    return ScriptedResponse.Full.json(200, headers, message(reply, id, model, input, output).toString());
  }

  private static int outputTokens(AnthropicReply reply) {
    int n = 0;
    for (AnthropicReply.Block b : reply.blocks) {
      if (b instanceof AnthropicReply.Block.Text t) {
        n += t.tokens().size();
      } else if (b instanceof AnthropicReply.Block.Thinking t) {
        n += t.tokens().size();
      } else {
        n += 8;
      }
    }
    return n;
  }

  private static String stopReason(AnthropicReply reply) {
    if (reply.stopReason != null) {
      return reply.stopReason;
    }
    return reply.blocks.stream().anyMatch(b -> b instanceof AnthropicReply.Block.ToolUse)
        ? "tool_use"
        : "end_turn";
  }

  private static ObjectNode usage(AnthropicReply reply, int input, int output) {
    ObjectNode usage = JSON.createObjectNode();
    usage.put("input_tokens", input);
    usage.put("cache_creation_input_tokens", reply.cacheCreation);
    usage.put("cache_read_input_tokens", reply.cacheRead);
    usage.put("output_tokens", output);
    return usage;
  }

  private static ObjectNode message(AnthropicReply reply, String id, String model, int input, int output) {
    ObjectNode m = JSON.createObjectNode();
    m.put("id", id);
    m.put("type", "message");
    m.put("role", "assistant");
    m.put("model", model);
    ArrayNode content = m.putArray("content");
    for (AnthropicReply.Block b : reply.blocks) {
      ObjectNode block = content.addObject();
      if (b instanceof AnthropicReply.Block.Text t) {
        block.put("type", "text");
        block.put("text", String.join("", t.tokens()));
      } else if (b instanceof AnthropicReply.Block.Thinking t) {
        block.put("type", "thinking");
        block.put("thinking", String.join("", t.tokens()));
        block.put("signature", t.signature());
      } else if (b instanceof AnthropicReply.Block.RedactedThinking r) {
        block.put("type", "redacted_thinking");
        block.put("data", r.data());
      } else if (b instanceof AnthropicReply.Block.ToolUse u) {
        block.put("type", "tool_use");
        block.put("id", u.call().id());
        block.put("name", u.call().name());
        block.set("input", parse(u.call().arguments()));
      }
    }
    m.put("stop_reason", stopReason(reply));
    if (reply.stopSequence != null) {
      m.put("stop_sequence", reply.stopSequence);
    } else {
      m.putNull("stop_sequence");
    }
    m.set("usage", usage(reply, input, output));
    return m;
  }

  private static JsonNode parse(String json) {
    try {
      return JSON.readTree(json.isBlank() ? "{}" : json);
    } catch (JsonProcessingException e) {
      throw new IllegalArgumentException("tool arguments are not JSON: " + json, e);
    }
  }

  private static ObjectNode event(String type) {
    ObjectNode e = JSON.createObjectNode();
    e.put("type", type);
    return e;
  }

  private Iterable<ScriptedResponse.Step> stream(
      AnthropicReply reply, String id, String model, int input, int output) {
    EventScript script = new EventScript(reply);
    ObjectNode start = event("message_start");
    ObjectNode m = start.putObject("message");
    m.put("id", id);
    m.put("type", "message");
    m.put("role", "assistant");
    m.put("model", model);
    m.putArray("content");
    m.putNull("stop_reason");
    m.putNull("stop_sequence");
    m.set("usage", usage(reply, input, 1));
    script.event("message_start", start, false);
    if (reply.pings) {
      script.event("ping", event("ping"), false);
    }
    for (int i = 0; i < reply.blocks.size(); i++) {
      AnthropicReply.Block b = reply.blocks.get(i);
      ObjectNode blockStart = event("content_block_start");
      blockStart.put("index", i);
      ObjectNode block = blockStart.putObject("content_block");
      if (b instanceof AnthropicReply.Block.Text t) {
        block.put("type", "text");
        block.put("text", "");
        script.event("content_block_start", blockStart, false);
        for (String token : t.tokens()) {
          script.event("content_block_delta", delta(i, "text_delta", "text", token), true);
        }
      } else if (b instanceof AnthropicReply.Block.Thinking t) {
        block.put("type", "thinking");
        block.put("thinking", "");
        script.event("content_block_start", blockStart, false);
        for (String token : t.tokens()) {
          script.event("content_block_delta", delta(i, "thinking_delta", "thinking", token), true);
        }
        script.event("content_block_delta", delta(i, "signature_delta", "signature", t.signature()), false);
      } else if (b instanceof AnthropicReply.Block.RedactedThinking r) {
        block.put("type", "redacted_thinking");
        block.put("data", r.data());
        script.event("content_block_start", blockStart, false);
      } else if (b instanceof AnthropicReply.Block.ToolUse u) {
        block.put("type", "tool_use");
        block.put("id", u.call().id());
        block.put("name", u.call().name());
        block.putObject("input");
        script.event("content_block_start", blockStart, false);
        script.event("content_block_delta", delta(i, "input_json_delta", "partial_json", ""), false);
        for (String fragment : Tokens.fragments(u.call().arguments(), 9)) {
          script.event("content_block_delta", delta(i, "input_json_delta", "partial_json", fragment), true);
        }
      }
      ObjectNode stop = event("content_block_stop");
      stop.put("index", i);
      script.event("content_block_stop", stop, false);
      if (reply.pings) {
        script.event("ping", event("ping"), false);
      }
    }
    ObjectNode messageDelta = event("message_delta");
    ObjectNode d = messageDelta.putObject("delta");
    if (reply.omitStopReason) {
      d.putNull("stop_reason");
    } else {
      d.put("stop_reason", stopReason(reply));
    }
    if (reply.stopSequence != null) {
      d.put("stop_sequence", reply.stopSequence);
    } else {
      d.putNull("stop_sequence");
    }
    messageDelta.putObject("usage").put("output_tokens", output);
    script.event("message_delta", messageDelta, false);
    if (reply.errorEventAfter >= 0) {
      ObjectNode error = event("error");
      ObjectNode e = error.putObject("error");
      e.put("type", reply.errorType);
      e.put("message", reply.errorMessage);
      script.errorAfter(reply.errorEventAfter, "error", error);
    }
    script.endMarker("message_stop", event("message_stop"), null);
    return script.steps();
  }

  private static ObjectNode delta(int index, String type, String field, String value) {
    ObjectNode e = event("content_block_delta");
    e.put("index", index);
    ObjectNode d = e.putObject("delta");
    d.put("type", type);
    d.put(field, value);
    return e;
  }

  private static ScriptedResponse error(
      int status, @Nullable String type, @Nullable String message, List<Map.Entry<String, String>> extra) {
    ObjectNode body = event("error");
    ObjectNode e = body.putObject("error");
    e.put("type", type);
    e.put("message", message);
    body.put("request_id", "req_fake");
    List<Map.Entry<String, String>> headers = new ArrayList<>();
    headers.add(Map.entry("request-id", "req_fake"));
    headers.addAll(extra);
    return ScriptedResponse.Full.json(status, headers, body.toString());
  }

  /** Builds a {@link FakeAnthropicServer}. */
  public static final class Builder extends FakeServerBuilder<Builder> {
    private Function<RecordedRequest, AnthropicReply> responder = r -> AnthropicReply.text(DEFAULT_TEXT);

    private Builder() {}

    @Override
    Builder self() {
      return this;
    }

    /** Answers requests when the queue is empty. */
    public Builder responder(Function<RecordedRequest, AnthropicReply> responder) {
      this.responder = requireNonNull(responder, "responder");
      return this;
    }

    /** Binds and starts the server. */
    public FakeAnthropicServer start() {
      return new FakeAnthropicServer(this, new LateResponder());
    }
  }
}
