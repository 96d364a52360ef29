package dev.sluice.dataplane.provider.openai;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.google.protobuf.ByteString;
import dev.sluice.dataplane.provider.UpstreamException;
import dev.sluice.dataplane.provider.UpstreamFailure;
import dev.sluice.dataplane.provider.http.UpstreamErrors;
import dev.sluice.dataplane.provider.json.ProtoJson;
import dev.sluice.inference.v1.FinishReason;
import dev.sluice.inference.v1.TokenLogprob;
import dev.sluice.inference.v1.Usage;
import io.netty.buffer.ByteBuf;
import java.io.IOException;
import java.util.List;
import java.util.Locale;
import org.jspecify.annotations.Nullable;

/** Pieces of OpenAI's JSON that unary responses and stream chunks share. */
final class OpenAiJson {
  private OpenAiJson() {}

  /** OpenAI's finish reason, normalized; see the reference finish-reason table. */
  static FinishReason finishReason(String raw, boolean refused) {
    return switch (raw) {
      case "stop" -> refused ? FinishReason.FINISH_REASON_REFUSAL : FinishReason.FINISH_REASON_STOP;
      case "length" -> FinishReason.FINISH_REASON_LENGTH;
      case "tool_calls", "function_call" -> FinishReason.FINISH_REASON_TOOL_CALLS;
      case "content_filter" -> FinishReason.FINISH_REASON_CONTENT_FILTER;
      case "abort", "error" -> FinishReason.FINISH_REASON_ERROR; // vLLM
      default -> FinishReason.FINISH_REASON_OTHER;
    };
  }

  /** Reads a {@code usage} object (or null) at the current token. */
  static @Nullable Usage readUsage(JsonParser p) throws IOException {
    if (p.currentToken() != JsonToken.START_OBJECT) {
      p.skipChildren();
      return null;
    }
    Usage.Builder u = Usage.newBuilder();
    boolean total = false;
    while (p.nextToken() == JsonToken.FIELD_NAME) {
      String name = p.currentName();
      JsonToken t = p.nextToken();
      switch (name) {
        case "prompt_tokens" -> u.setInputTokens(intValue(p, t));
        case "completion_tokens" -> u.setOutputTokens(intValue(p, t));
        case "total_tokens" -> {
          u.setTotalTokens(intValue(p, t));
          total = t == JsonToken.VALUE_NUMBER_INT;
        }
        case "prompt_tokens_details" -> {
          if (t == JsonToken.START_OBJECT) {
            while (p.nextToken() == JsonToken.FIELD_NAME) {
              String detail = p.currentName();
              JsonToken dt = p.nextToken();
              if (detail.equals("cached_tokens")) {
                u.setCacheReadInputTokens(intValue(p, dt));
              } else {
                p.skipChildren();
              }
            }
          } else {
            p.skipChildren();
          }
        }
        case "completion_tokens_details" -> {
          if (t == JsonToken.START_OBJECT) {
            while (p.nextToken() == JsonToken.FIELD_NAME) {
              String detail = p.currentName();
              JsonToken dt = p.nextToken();
              if (detail.equals("reasoning_tokens")) {
                u.setReasoningTokens(intValue(p, dt));
              } else {
                p.skipChildren();
              }
            }
          } else {
            p.skipChildren();
          }
        }
        default -> p.skipChildren();
      }
    }
    if (!total) {
      u.setTotalTokens(u.getInputTokens() + u.getOutputTokens());
    }
    return u.build();
  }

  static int intValue(JsonParser p, JsonToken t) throws IOException {
    return t == JsonToken.VALUE_NUMBER_INT || t == JsonToken.VALUE_NUMBER_FLOAT ? p.getIntValue() : 0;
  }

  /** Reads a string or null at the current token. */
  static @Nullable String stringOrNull(JsonParser p, JsonToken t) throws IOException {
    if (t == JsonToken.VALUE_STRING) {
      return p.getText();
    }
    p.skipChildren();
    return null;
  }

  /**
   * Reads {@code logprobs: {content: [...], refusal: [...]}} at the current token, adding the
   * entries of {@code content} (or of {@code refusal} when {@code refusal} is true) to {@code out}.
   */
  static void readLogprobs(JsonParser p, List<TokenLogprob> content, List<TokenLogprob> refusal)
      throws IOException {
    if (p.currentToken() != JsonToken.START_OBJECT) {
      p.skipChildren();
      return;
    }
    while (p.nextToken() == JsonToken.FIELD_NAME) {
      String name = p.currentName();
      JsonToken t = p.nextToken();
      if (t == JsonToken.START_ARRAY && (name.equals("content") || name.equals("refusal"))) {
        List<TokenLogprob> out = name.equals("content") ? content : refusal;
        while (p.nextToken() == JsonToken.START_OBJECT) {
          out.add(readTokenLogprob(p, true));
        }
      } else {
        p.skipChildren();
      }
    }
  }

  private static TokenLogprob readTokenLogprob(JsonParser p, boolean withAlternatives)
      throws IOException {
    TokenLogprob.Builder b = TokenLogprob.newBuilder();
    while (p.nextToken() == JsonToken.FIELD_NAME) {
      String name = p.currentName();
      JsonToken t = p.nextToken();
      switch (name) {
        case "token" -> {
          if (t == JsonToken.VALUE_STRING) {
            b.setToken(p.getText());
          }
        }
        case "logprob" -> {
          if (t.isNumeric()) {
            b.setLogprob(p.getDoubleValue());
          }
        }
        case "bytes" -> {
          if (t == JsonToken.START_ARRAY) {
            ByteString.Output bytes = ByteString.newOutput();
            while (p.nextToken() == JsonToken.VALUE_NUMBER_INT) {
              bytes.write(p.getIntValue());
            }
            b.setUtf8Bytes(bytes.toByteString());
          }
        }
        case "top_logprobs" -> {
          if (t == JsonToken.START_ARRAY && withAlternatives) {
            while (p.nextToken() == JsonToken.START_OBJECT) {
              b.addTopLogprobs(readTokenLogprob(p, false));
            }
          } else {
            p.skipChildren();
          }
        }
        default -> p.skipChildren();
      }
    }
    return b.build();
  }

  /** An OpenAI error object: {@code {"message", "type", "param", "code"}}. */
  record ErrorObject(
      @Nullable String type, @Nullable String code, int numericCode, boolean contextWindowExceeded) {
    /** The most specific identifier: the code, else the type. */
    @Nullable String identifier() {
      return code != null ? code : type;
    }

    UpstreamErrors.ErrorDetail detail() {
      return new UpstreamErrors.ErrorDetail(identifier(), contextWindowExceeded);
    }
  }

  /** Reads an {@code error} value (an object, or a bare string as Ollama sends) at the current token. */
  static ErrorObject readError(JsonParser p) throws IOException {
    if (p.currentToken() == JsonToken.VALUE_STRING) {
      // Ollama: {"error": "message"}
      return new ErrorObject(null, null, 0, UpstreamErrors.mentionsContextWindow(p.getText()));
    }
    if (p.currentToken() != JsonToken.START_OBJECT) {
      p.skipChildren();
      return new ErrorObject(null, null, 0, false);
    }
    String type = null;
    String code = null;
    int numeric = 0;
    boolean contextWindow = false;
    while (p.nextToken() == JsonToken.FIELD_NAME) {
      String name = p.currentName();
      JsonToken t = p.nextToken();
      switch (name) {
        case "type" -> type = stringOrNull(p, t);
        case "code" -> {
          if (t == JsonToken.VALUE_NUMBER_INT) {
            numeric = p.getIntValue();
          } else {
            code = stringOrNull(p, t);
          }
        }
        // Read only to classify (vLLM says "maximum context length" without a code); never shown.
        case "message" -> contextWindow = UpstreamErrors.mentionsContextWindow(stringOrNull(p, t));
        default -> p.skipChildren();
      }
    }
    contextWindow |= UpstreamErrors.mentionsContextWindow(code) || UpstreamErrors.mentionsContextWindow(type);
    return new ErrorObject(type, code, numeric, contextWindow);
  }

  /** What an HTTP error body says, when it is OpenAI-shaped JSON. */
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
          return readError(p).detail();
        }
        p.skipChildren();
      }
    } catch (IOException | RuntimeException notJson) {
      return UpstreamErrors.ErrorDetail.NONE;
    }
    return UpstreamErrors.ErrorDetail.NONE;
  }

  /** The failure an error event inside a 200 stream means. */
  static UpstreamException streamError(ErrorObject error, String backend) {
    UpstreamFailure failure;
    if (error.contextWindowExceeded()) {
      failure = UpstreamFailure.CONTEXT_WINDOW_EXCEEDED;
    } else if (error.numericCode() >= 400) {
      failure = UpstreamErrors.classifyStatus(error.numericCode());
    } else {
      String id = (error.type() + " " + error.code()).toLowerCase(Locale.ROOT);
      if (id.contains("rate_limit") || id.contains("quota") || id.contains("overloaded")) {
        failure = UpstreamFailure.RATE_LIMITED;
      } else if (id.contains("authentication") || id.contains("permission")) {
        failure = UpstreamFailure.AUTH_FAILED;
      } else if (id.contains("invalid_request") || id.contains("badrequest")
          || id.contains("context_length")) {
        failure = UpstreamFailure.BAD_REQUEST;
      } else {
        failure = UpstreamFailure.SERVER_ERROR;
      }
    }
    String code = UpstreamErrors.safeCode(error.identifier());
    return new UpstreamException(
        failure, backend, 0, null,
        "the upstream reported an error in the stream" + (code == null ? "" : " (" + code + ")"),
        null);
  }
}
