package dev.sluice.dataplane.provider.anthropic;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import dev.sluice.dataplane.provider.UpstreamException;
import dev.sluice.dataplane.provider.UpstreamFailure;
import dev.sluice.dataplane.provider.http.UpstreamErrors;
import dev.sluice.dataplane.provider.json.ProtoJson;
import dev.sluice.inference.v1.FinishReason;
import dev.sluice.inference.v1.Usage;
import io.netty.buffer.ByteBuf;
import java.io.IOException;
import java.io.StringWriter;
import org.jspecify.annotations.Nullable;

/** Pieces of Anthropic's JSON shared by unary responses and stream events. */
final class AnthropicJson {
  private AnthropicJson() {}

  /** Anthropic's stop reason, normalized; see the reference finish-reason table. */
  static FinishReason finishReason(String raw) {
    return switch (raw) {
      case "end_turn", "stop_sequence" -> FinishReason.FINISH_REASON_STOP;
      case "max_tokens" -> FinishReason.FINISH_REASON_LENGTH;
      case "tool_use" -> FinishReason.FINISH_REASON_TOOL_CALLS;
      case "refusal" -> FinishReason.FINISH_REASON_REFUSAL;
      case "pause_turn" -> FinishReason.FINISH_REASON_PAUSED;
      case "model_context_window_exceeded" -> FinishReason.FINISH_REASON_CONTEXT_WINDOW_EXCEEDED;
      default -> FinishReason.FINISH_REASON_OTHER;
    };
  }

  /**
   * Anthropic usage counters as reported (input excludes cache), merged into {@code into}: a
   * field present in the object replaces the previous value, so the cumulative counts of {@code
   * message_delta} update those of {@code message_start}.
   */
  static void readUsage(JsonParser p, RawUsage into) throws IOException {
    if (p.currentToken() != JsonToken.START_OBJECT) {
      p.skipChildren();
      return;
    }
    while (p.nextToken() == JsonToken.FIELD_NAME) {
      String name = p.currentName();
      JsonToken t = p.nextToken();
      if (!t.isNumeric()) {
        p.skipChildren();
        continue;
      }
      int value = p.getIntValue();
      switch (name) {
        case "input_tokens" -> into.input = value;
        case "output_tokens" -> into.output = value;
        case "cache_read_input_tokens" -> into.cacheRead = value;
        case "cache_creation_input_tokens" -> into.cacheCreation = value;
        default -> {}
      }
      into.seen = true;
    }
  }

  /** Anthropic's usage counters before normalization. */
  static final class RawUsage {
    boolean seen;
    int input;
    int output;
    int cacheRead;
    int cacheCreation;

    /**
     * Normalized: Anthropic's {@code input_tokens} excludes cached tokens, ours includes them, so
     * cache reads and writes are added back.
     */
    Usage toUsage() {
      int in = input + cacheRead + cacheCreation;
      return Usage.newBuilder()
          .setInputTokens(in)
          .setOutputTokens(output)
          .setTotalTokens(in + output)
          .setCacheReadInputTokens(cacheRead)
          .setCacheCreationInputTokens(cacheCreation)
          .build();
    }
  }

  /** Serializes the JSON value at the parser's current token to text (tool_use input). */
  static String valueAsText(JsonParser p) throws IOException {
    StringWriter w = new StringWriter(64);
    try (JsonGenerator g = ProtoJson.FACTORY.createGenerator(w)) {
      g.copyCurrentStructure(p);
    }
    return w.toString();
  }

  /**
   * Reads {@code {"type": ..., "message": ...}} at the current token: the type, and whether the
   * message says the prompt is too long (read only for that, never shown).
   */
  static UpstreamErrors.ErrorDetail readError(JsonParser p) throws IOException {
    if (p.currentToken() != JsonToken.START_OBJECT) {
      p.skipChildren();
      return UpstreamErrors.ErrorDetail.NONE;
    }
    String type = null;
    boolean contextWindow = false;
    while (p.nextToken() == JsonToken.FIELD_NAME) {
      String name = p.currentName();
      JsonToken t = p.nextToken();
      if (name.equals("type") && t == JsonToken.VALUE_STRING) {
        type = p.getText();
      } else if (name.equals("message") && t == JsonToken.VALUE_STRING) {
        contextWindow = UpstreamErrors.mentionsContextWindow(p.getText());
      } else {
        p.skipChildren();
      }
    }
    return new UpstreamErrors.ErrorDetail(type, contextWindow);
  }

  /** What an error body {@code {"type":"error","error":{"type", "message"}}} says. */
  static UpstreamErrors.ErrorDetail errorDetail(ByteBuf body) {
    if (!body.isReadable()) {
      return UpstreamErrors.ErrorDetail.NONE;
    }
    try (JsonParser p = ProtoJson.parser(body)) {
      if (p.nextToken() != JsonToken.START_OBJECT) {
        return null;
      }
      while (p.nextToken() == JsonToken.FIELD_NAME) {
        String name = p.currentName();
        p.nextToken();
        if (name.equals("error")) {
          return readError(p);
        }
        p.skipChildren();
      }
    } catch (IOException | RuntimeException notJson) {
      return UpstreamErrors.ErrorDetail.NONE;
    }
    return UpstreamErrors.ErrorDetail.NONE;
  }

  /** The failure an {@code error} event inside a 200 stream means. */
  static UpstreamException streamError(UpstreamErrors.ErrorDetail error, String backend) {
    String type = error.code();
    UpstreamFailure failure =
        error.contextWindowExceeded()
            ? UpstreamFailure.CONTEXT_WINDOW_EXCEEDED
            : switch (type == null ? "" : type) {
          case "rate_limit_error" -> UpstreamFailure.RATE_LIMITED;
          case "overloaded_error" -> UpstreamFailure.SERVER_ERROR;
          case "invalid_request_error", "not_found_error", "request_too_large" ->
              UpstreamFailure.BAD_REQUEST;
          case "authentication_error", "permission_error", "billing_error" ->
              UpstreamFailure.AUTH_FAILED;
          case "timeout_error" -> UpstreamFailure.TIMEOUT;
          default -> UpstreamFailure.SERVER_ERROR;
        };
    String code = UpstreamErrors.safeCode(type);
    return new UpstreamException(
        failure, backend, 0, null,
        "the upstream reported an error in the stream" + (code == null ? "" : " (" + code + ")"),
        null);
  }
}
