package dev.sluice.dataplane.provider.openai;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.google.protobuf.ByteString;
import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import dev.sluice.inference.v1.ChatMessage;
import dev.sluice.inference.v1.ChatResponse;
import dev.sluice.inference.v1.Choice;
import dev.sluice.inference.v1.ContentPart;
import dev.sluice.inference.v1.EmbedResponse;
import dev.sluice.inference.v1.Embedding;
import dev.sluice.inference.v1.EmbeddingEncoding;
import dev.sluice.inference.v1.ReasoningPart;
import dev.sluice.inference.v1.Role;
import dev.sluice.inference.v1.TokenLogprob;
import dev.sluice.inference.v1.ToolCallPart;
import dev.sluice.inference.v1.Usage;
import dev.sluice.dataplane.provider.json.ProtoJson;
import io.netty.buffer.ByteBuf;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;

/** Reads OpenAI's unary responses ({@code chat.completion}, embeddings lists) into Sluice types. */
final class OpenAiResponseReader {
  private OpenAiResponseReader() {}

  /** Reads a {@code chat.completion} body. */
  static ChatResponse readChat(ByteBuf body, ChatResponse.Builder out) throws IOException {
    try (JsonParser p = ProtoJson.parser(body)) {
      expect(p.nextToken(), JsonToken.START_OBJECT);
      Struct.Builder metadata = Struct.newBuilder();
      while (p.nextToken() == JsonToken.FIELD_NAME) {
        String name = p.currentName();
        JsonToken t = p.nextToken();
        switch (name) {
          case "id" -> out.setId(text(p, t));
          case "model" -> out.setProviderModel(text(p, t));
          case "choices" -> {
            expect(t, JsonToken.START_ARRAY);
            while (p.nextToken() == JsonToken.START_OBJECT) {
              out.addChoices(readChoice(p));
            }
          }
          case "usage" -> {
            Usage usage = OpenAiJson.readUsage(p);
            if (usage != null) {
              out.setUsage(usage);
            }
          }
          case "system_fingerprint", "service_tier" -> {
            if (t == JsonToken.VALUE_STRING) {
              metadata.putFields(name, Value.newBuilder().setStringValue(p.getText()).build());
            }
          }
          case "created" -> {
            if (t.isNumeric()) {
              metadata.putFields(name, Value.newBuilder().setNumberValue(p.getLongValue()).build());
            }
          }
          default -> p.skipChildren();
        }
      }
      if (metadata.getFieldsCount() > 0) {
        out.setProviderMetadata(metadata);
      }
      return out.build();
    }
  }

  private static Choice readChoice(JsonParser p) throws IOException {
    Choice.Builder choice = Choice.newBuilder();
    List<TokenLogprob> contentLogprobs = new ArrayList<>();
    List<TokenLogprob> refusalLogprobs = new ArrayList<>();
    String rawFinish = null;
    boolean refused = false;
    while (p.nextToken() == JsonToken.FIELD_NAME) {
      String name = p.currentName();
      JsonToken t = p.nextToken();
      switch (name) {
        case "index" -> choice.setIndex(OpenAiJson.intValue(p, t));
        case "message" -> {
          ChatMessage message = readMessage(p);
          refused = message.getPartsList().stream().anyMatch(ContentPart::hasRefusal);
          choice.setMessage(message);
        }
        case "logprobs" -> OpenAiJson.readLogprobs(p, contentLogprobs, refusalLogprobs);
        case "finish_reason" -> rawFinish = OpenAiJson.stringOrNull(p, t);
        default -> p.skipChildren();
      }
    }
    choice.addAllLogprobs(contentLogprobs).addAllLogprobs(refusalLogprobs);
    if (rawFinish != null) {
      choice.setRawFinishReason(rawFinish);
      choice.setFinishReason(OpenAiJson.finishReason(rawFinish, refused));
    }
    return choice.build();
  }

  private static ChatMessage readMessage(JsonParser p) throws IOException {
    expect(p.currentToken(), JsonToken.START_OBJECT);
    String reasoning = null;
    StringBuilder content = null;
    String refusal = null;
    List<ToolCallPart> toolCalls = new ArrayList<>();
    while (p.nextToken() == JsonToken.FIELD_NAME) {
      String name = p.currentName();
      JsonToken t = p.nextToken();
      switch (name) {
        case "content" -> {
          if (t == JsonToken.VALUE_STRING) {
            content = new StringBuilder(p.getText());
          } else if (t == JsonToken.START_ARRAY) {
            // Some compatible servers answer with content parts.
            content = new StringBuilder();
            while (p.nextToken() == JsonToken.START_OBJECT) {
              while (p.nextToken() == JsonToken.FIELD_NAME) {
                String field = p.currentName();
                JsonToken ft = p.nextToken();
                if (field.equals("text") && ft == JsonToken.VALUE_STRING) {
                  content.append(p.getText());
                } else {
                  p.skipChildren();
                }
              }
            }
          } else {
            p.skipChildren();
          }
        }
        case "refusal" -> refusal = OpenAiJson.stringOrNull(p, t);
        case "reasoning_content", "reasoning" -> reasoning = OpenAiJson.stringOrNull(p, t);
        case "tool_calls" -> {
          if (t == JsonToken.START_ARRAY) {
            while (p.nextToken() == JsonToken.START_OBJECT) {
              toolCalls.add(readToolCall(p));
            }
          } else {
            p.skipChildren();
          }
        }
        default -> p.skipChildren();
      }
    }
    ChatMessage.Builder message = ChatMessage.newBuilder().setRole(Role.ROLE_ASSISTANT);
    if (reasoning != null && !reasoning.isEmpty()) {
      message.addParts(
          ContentPart.newBuilder().setReasoning(ReasoningPart.newBuilder().setText(reasoning)));
    }
    if (content != null && content.length() > 0) {
      message.addParts(ContentPart.newBuilder().setText(content.toString()));
    }
    if (refusal != null && !refusal.isEmpty()) {
      message.addParts(ContentPart.newBuilder().setRefusal(refusal));
    }
    for (ToolCallPart call : toolCalls) {
      message.addParts(ContentPart.newBuilder().setToolCall(call));
    }
    return message.build();
  }

  private static ToolCallPart readToolCall(JsonParser p) throws IOException {
    ToolCallPart.Builder call = ToolCallPart.newBuilder();
    while (p.nextToken() == JsonToken.FIELD_NAME) {
      String name = p.currentName();
      JsonToken t = p.nextToken();
      if (name.equals("id")) {
        call.setId(text(p, t));
      } else if (name.equals("function") && t == JsonToken.START_OBJECT) {
        while (p.nextToken() == JsonToken.FIELD_NAME) {
          String field = p.currentName();
          JsonToken ft = p.nextToken();
          if (field.equals("name")) {
            call.setName(text(p, ft));
          } else if (field.equals("arguments")) {
            if (ft == JsonToken.VALUE_STRING) {
              call.setArguments(p.getText());
            } else if (ft == JsonToken.START_OBJECT) {
              // Some compatible servers send the arguments as an object.
              java.io.StringWriter w = new java.io.StringWriter();
              try (var g = ProtoJson.FACTORY.createGenerator(w)) {
                g.copyCurrentStructure(p);
              }
              call.setArguments(w.toString());
            } else {
              p.skipChildren();
            }
          } else {
            p.skipChildren();
          }
        }
      } else {
        p.skipChildren();
      }
    }
    return call.build();
  }

  /** Reads an embeddings list body. */
  static EmbedResponse readEmbeddings(
      ByteBuf body, EmbeddingEncoding wanted, EmbedResponse.Builder out) throws IOException {
    boolean base64Out = wanted == EmbeddingEncoding.EMBEDDING_ENCODING_BASE64;
    try (JsonParser p = ProtoJson.parser(body)) {
      expect(p.nextToken(), JsonToken.START_OBJECT);
      List<Embedding> embeddings = new ArrayList<>();
      while (p.nextToken() == JsonToken.FIELD_NAME) {
        String name = p.currentName();
        JsonToken t = p.nextToken();
        switch (name) {
          case "data" -> {
            expect(t, JsonToken.START_ARRAY);
            while (p.nextToken() == JsonToken.START_OBJECT) {
              embeddings.add(readEmbedding(p, base64Out));
            }
          }
          case "model" -> out.setProviderModel(text(p, t));
          case "usage" -> {
            Usage usage = OpenAiJson.readUsage(p);
            if (usage != null) {
              out.setUsage(
                  Usage.newBuilder()
                      .setInputTokens(usage.getInputTokens())
                      .setTotalTokens(usage.getTotalTokens()));
            }
          }
          default -> p.skipChildren();
        }
      }
      embeddings.sort(java.util.Comparator.comparingInt(Embedding::getIndex));
      return out.addAllEmbeddings(embeddings).build();
    }
  }

  private static Embedding readEmbedding(JsonParser p, boolean base64Out) throws IOException {
    Embedding.Builder e = Embedding.newBuilder();
    while (p.nextToken() == JsonToken.FIELD_NAME) {
      String name = p.currentName();
      JsonToken t = p.nextToken();
      if (name.equals("index")) {
        e.setIndex(OpenAiJson.intValue(p, t));
      } else if (name.equals("embedding")) {
        if (t == JsonToken.VALUE_STRING) {
          byte[] bytes = Base64.getDecoder().decode(p.getText());
          if (base64Out) {
            e.setData(ByteString.copyFrom(bytes));
          } else {
            ByteBuffer floats = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
            while (floats.remaining() >= 4) {
              e.addValues(floats.getFloat());
            }
          }
        } else if (t == JsonToken.START_ARRAY) {
          if (base64Out) {
            ByteBuffer bytes = ByteBuffer.allocate(64 * 4).order(ByteOrder.LITTLE_ENDIAN);
            while (p.nextToken() != JsonToken.END_ARRAY) {
              if (!bytes.hasRemaining()) {
                ByteBuffer bigger =
                    ByteBuffer.allocate(bytes.capacity() * 2).order(ByteOrder.LITTLE_ENDIAN);
                bytes.flip();
                bigger.put(bytes);
                bytes = bigger;
              }
              bytes.putFloat(p.getFloatValue());
            }
            bytes.flip();
            e.setData(ByteString.copyFrom(bytes));
          } else {
            while (p.nextToken() != JsonToken.END_ARRAY) {
              e.addValues(p.getFloatValue());
            }
          }
        } else {
          p.skipChildren();
        }
      } else {
        p.skipChildren();
      }
    }
    return e.build();
  }

  private static String text(JsonParser p, JsonToken t) throws IOException {
    if (t == JsonToken.VALUE_STRING) {
      return p.getText();
    }
    p.skipChildren();
    return "";
  }

  private static void expect(JsonToken actual, JsonToken expected) throws IOException {
    if (actual != expected) {
      throw new IOException("expected " + expected + " but found " + actual);
    }
  }
}
