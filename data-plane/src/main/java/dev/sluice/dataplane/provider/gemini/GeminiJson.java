package dev.sluice.dataplane.provider.gemini;

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
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * Gemini's {@code GenerateContentResponse} read into a small intermediate form that the unary
 * reader and the stream both map, plus the shared normalization rules.
 */
final class GeminiJson {
  private GeminiJson() {}

  /** One part of a candidate's content. */
  record Part(
      @Nullable String text,
      boolean thought,
      @Nullable String callId,
      @Nullable String callName,
      @Nullable String callArgs,
      byte @Nullable [] signature) {
    boolean isCall() {
      return callName != null;
    }
  }

  /** One candidate of a response or chunk. */
  record Candidate(int index, List<Part> parts, @Nullable String finishReason) {}

  /** An error object {@code {"code", "message", "status"}}. */
  record Error(int code, @Nullable String status, boolean contextWindowExceeded) {}

  /** A response or one stream chunk. */
  static final class Response {
    @Nullable String responseId;
    @Nullable String modelVersion;
    final List<Candidate> candidates = new ArrayList<>(1);
    @Nullable Usage usage;
    @Nullable String blockReason;
    @Nullable Error error;
  }

  static Response read(ByteBuf body) throws IOException {
    try (JsonParser p = ProtoJson.parser(body)) {
      if (p.nextToken() != JsonToken.START_OBJECT) {
        throw new IOException("expected a JSON object");
      }
      Response r = new Response();
      while (p.nextToken() == JsonToken.FIELD_NAME) {
        String name = p.currentName();
        JsonToken t = p.nextToken();
        switch (name) {
          case "responseId" -> r.responseId = string(p, t);
          case "modelVersion" -> r.modelVersion = string(p, t);
          case "candidates" -> {
            if (t == JsonToken.START_ARRAY) {
              int position = 0;
              while (p.nextToken() == JsonToken.START_OBJECT) {
                r.candidates.add(candidate(p, position++));
              }
            } else {
              p.skipChildren();
            }
          }
          case "usageMetadata" -> r.usage = usage(p);
          case "promptFeedback" -> r.blockReason = blockReason(p);
          case "error" -> r.error = error(p);
          default -> p.skipChildren();
        }
      }
      return r;
    }
  }

  private static Candidate candidate(JsonParser p, int position) throws IOException {
    int index = position;
    List<Part> parts = new ArrayList<>(1);
    String finish = null;
    while (p.nextToken() == JsonToken.FIELD_NAME) {
      String name = p.currentName();
      JsonToken t = p.nextToken();
      switch (name) {
        case "index" -> index = t == JsonToken.VALUE_NUMBER_INT ? p.getIntValue() : position;
        case "finishReason" -> finish = string(p, t);
        case "content" -> {
          if (t != JsonToken.START_OBJECT) {
            p.skipChildren();
            break;
          }
          while (p.nextToken() == JsonToken.FIELD_NAME) {
            String field = p.currentName();
            JsonToken ft = p.nextToken();
            if (field.equals("parts") && ft == JsonToken.START_ARRAY) {
              while (p.nextToken() == JsonToken.START_OBJECT) {
                parts.add(part(p));
              }
            } else {
              p.skipChildren();
            }
          }
        }
        default -> p.skipChildren();
      }
    }
    return new Candidate(index, parts, finish);
  }

  private static Part part(JsonParser p) throws IOException {
    String text = null;
    boolean thought = false;
    String id = null;
    String name = null;
    String args = null;
    byte[] signature = null;
    while (p.nextToken() == JsonToken.FIELD_NAME) {
      String field = p.currentName();
      JsonToken t = p.nextToken();
      switch (field) {
        case "text" -> text = string(p, t);
        case "thought" -> thought = t == JsonToken.VALUE_TRUE;
        case "thoughtSignature" -> {
          String s = string(p, t);
          signature = s == null ? null : Base64.getDecoder().decode(s);
        }
        case "functionCall" -> {
          if (t != JsonToken.START_OBJECT) {
            p.skipChildren();
            break;
          }
          while (p.nextToken() == JsonToken.FIELD_NAME) {
            String f = p.currentName();
            JsonToken ft = p.nextToken();
            switch (f) {
              case "id" -> id = string(p, ft);
              case "name" -> name = string(p, ft);
              case "args" -> {
                StringWriter w = new StringWriter(64);
                try (var g = ProtoJson.FACTORY.createGenerator(w)) {
                  g.copyCurrentStructure(p);
                }
                args = w.toString();
              }
              default -> p.skipChildren();
            }
          }
          if (name == null) {
            name = "";
          }
        }
        default -> p.skipChildren();
      }
    }
    return new Part(text, thought, id, name, args, signature);
  }

  private static @Nullable Usage usage(JsonParser p) throws IOException {
    if (p.currentToken() != JsonToken.START_OBJECT) {
      p.skipChildren();
      return null;
    }
    int prompt = 0;
    int candidates = 0;
    int total = -1;
    int cached = 0;
    int thoughts = 0;
    int toolPrompt = 0;
    while (p.nextToken() == JsonToken.FIELD_NAME) {
      String name = p.currentName();
      JsonToken t = p.nextToken();
      if (t != JsonToken.VALUE_NUMBER_INT) {
        p.skipChildren();
        continue;
      }
      int v = p.getIntValue();
      switch (name) {
        case "promptTokenCount" -> prompt = v;
        case "candidatesTokenCount" -> candidates = v;
        case "totalTokenCount" -> total = v;
        case "cachedContentTokenCount" -> cached = v;
        case "thoughtsTokenCount" -> thoughts = v;
        case "toolUsePromptTokenCount" -> toolPrompt = v;
        default -> {}
      }
    }
    // Ours: input includes tool-use prompt tokens, output includes thoughts (reference table).
    int input = prompt + toolPrompt;
    int output = candidates + thoughts;
    return Usage.newBuilder()
        .setInputTokens(input)
        .setOutputTokens(output)
        .setTotalTokens(total >= 0 ? total : input + output)
        .setCacheReadInputTokens(cached)
        .setReasoningTokens(thoughts)
        .build();
  }

  private static @Nullable String blockReason(JsonParser p) throws IOException {
    if (p.currentToken() != JsonToken.START_OBJECT) {
      p.skipChildren();
      return null;
    }
    String reason = null;
    while (p.nextToken() == JsonToken.FIELD_NAME) {
      String name = p.currentName();
      JsonToken t = p.nextToken();
      if (name.equals("blockReason")) {
        reason = string(p, t);
      } else {
        p.skipChildren();
      }
    }
    return reason;
  }

  private static Error error(JsonParser p) throws IOException {
    if (p.currentToken() != JsonToken.START_OBJECT) {
      p.skipChildren();
      return new Error(0, null, false);
    }
    int code = 0;
    String status = null;
    boolean contextWindow = false;
    while (p.nextToken() == JsonToken.FIELD_NAME) {
      String name = p.currentName();
      JsonToken t = p.nextToken();
      if (name.equals("code") && t == JsonToken.VALUE_NUMBER_INT) {
        code = p.getIntValue();
      } else if (name.equals("status")) {
        status = string(p, t);
      } else if (name.equals("message")) {
        // Read only to classify ("exceeds the maximum number of tokens allowed"); never shown.
        contextWindow = UpstreamErrors.mentionsContextWindow(string(p, t));
      } else {
        p.skipChildren();
      }
    }
    return new Error(code, status, contextWindow);
  }

  private static @Nullable String string(JsonParser p, JsonToken t) throws IOException {
    if (t == JsonToken.VALUE_STRING) {
      return p.getText();
    }
    p.skipChildren();
    return null;
  }

  /** Gemini's finish reason, normalized; a STOP that called functions is a tool-call finish. */
  static FinishReason finishReason(String raw, boolean calledFunctions) {
    return switch (raw) {
      case "STOP" -> calledFunctions ? FinishReason.FINISH_REASON_TOOL_CALLS : FinishReason.FINISH_REASON_STOP;
      case "MAX_TOKENS" -> FinishReason.FINISH_REASON_LENGTH;
      case "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY",
          "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION" -> FinishReason.FINISH_REASON_CONTENT_FILTER;
      case "MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL", "TOO_MANY_TOOL_CALLS" ->
          FinishReason.FINISH_REASON_MALFORMED_TOOL_CALL;
      case "FINISH_REASON_UNSPECIFIED" -> FinishReason.FINISH_REASON_UNSPECIFIED;
      default -> FinishReason.FINISH_REASON_OTHER;
    };
  }

  /** What an error body {@code {"error":{"code","message","status"}}} says. */
  static UpstreamErrors.ErrorDetail errorDetail(ByteBuf body) {
    if (!body.isReadable()) {
      return UpstreamErrors.ErrorDetail.NONE;
    }
    try {
      Response r = read(body);
      return r.error == null
          ? UpstreamErrors.ErrorDetail.NONE
          : new UpstreamErrors.ErrorDetail(r.error.status(), r.error.contextWindowExceeded());
    } catch (IOException | RuntimeException notJson) {
      return UpstreamErrors.ErrorDetail.NONE;
    }
  }

  /** The failure an error object inside a 200 stream means. */
  static UpstreamException streamError(Error error, String backend) {
    UpstreamFailure failure =
        error.contextWindowExceeded()
            ? UpstreamFailure.CONTEXT_WINDOW_EXCEEDED
            : error.code() >= 400 ? UpstreamErrors.classifyStatus(error.code()) : UpstreamFailure.SERVER_ERROR;
    String code = UpstreamErrors.safeCode(error.status());
    return new UpstreamException(
        failure, backend, 0, null,
        "the upstream reported an error in the stream" + (code == null ? "" : " (" + code + ")"),
        null);
  }
}
