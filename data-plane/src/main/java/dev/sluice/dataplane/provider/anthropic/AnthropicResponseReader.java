package dev.sluice.dataplane.provider.anthropic;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.google.protobuf.ByteString;
import dev.sluice.dataplane.provider.json.ProtoJson;
import dev.sluice.inference.v1.ChatMessage;
import dev.sluice.inference.v1.ChatResponse;
import dev.sluice.inference.v1.Choice;
import dev.sluice.inference.v1.ContentPart;
import dev.sluice.inference.v1.ReasoningPart;
import dev.sluice.inference.v1.Role;
import dev.sluice.inference.v1.ToolCallPart;
import io.netty.buffer.ByteBuf;
import java.io.IOException;

/** Reads an Anthropic {@code message} object (a unary response) into a {@link ChatResponse}. */
final class AnthropicResponseReader {
  private AnthropicResponseReader() {}

  static ChatResponse read(ByteBuf body, ChatResponse.Builder out) throws IOException {
    try (JsonParser p = ProtoJson.parser(body)) {
      if (p.nextToken() != JsonToken.START_OBJECT) {
        throw new IOException("expected a JSON object");
      }
      ChatMessage.Builder message = ChatMessage.newBuilder().setRole(Role.ROLE_ASSISTANT);
      Choice.Builder choice = Choice.newBuilder().setIndex(0);
      AnthropicJson.RawUsage usage = new AnthropicJson.RawUsage();
      while (p.nextToken() == JsonToken.FIELD_NAME) {
        String name = p.currentName();
        JsonToken t = p.nextToken();
        switch (name) {
          case "id" -> out.setId(t == JsonToken.VALUE_STRING ? p.getText() : "");
          case "model" -> out.setProviderModel(t == JsonToken.VALUE_STRING ? p.getText() : "");
          case "content" -> {
            if (t != JsonToken.START_ARRAY) {
              throw new IOException("content is not an array");
            }
            while (p.nextToken() == JsonToken.START_OBJECT) {
              ContentPart part = readBlock(p);
              if (part != null) {
                message.addParts(part);
              }
            }
          }
          case "stop_reason" -> {
            if (t == JsonToken.VALUE_STRING) {
              choice.setRawFinishReason(p.getText());
              choice.setFinishReason(AnthropicJson.finishReason(p.getText()));
            }
          }
          case "stop_sequence" -> {
            if (t == JsonToken.VALUE_STRING) {
              choice.setStopSequence(p.getText());
            }
          }
          case "usage" -> AnthropicJson.readUsage(p, usage);
          default -> p.skipChildren();
        }
      }
      out.addChoices(choice.setMessage(message));
      if (usage.seen) {
        out.setUsage(usage.toUsage());
      }
      return out.build();
    }
  }

  /** One content block; null for block types Sluice does not model (server tools). */
  private static ContentPart readBlock(JsonParser p) throws IOException {
    String type = null;
    String text = null;
    String thinking = null;
    String signature = null;
    String data = null;
    String id = null;
    String name = null;
    String input = null;
    while (p.nextToken() == JsonToken.FIELD_NAME) {
      String field = p.currentName();
      JsonToken t = p.nextToken();
      switch (field) {
        case "type" -> type = p.getText();
        case "text" -> text = t == JsonToken.VALUE_STRING ? p.getText() : null;
        case "thinking" -> thinking = t == JsonToken.VALUE_STRING ? p.getText() : null;
        case "signature" -> signature = t == JsonToken.VALUE_STRING ? p.getText() : null;
        case "data" -> data = t == JsonToken.VALUE_STRING ? p.getText() : null;
        case "id" -> id = t == JsonToken.VALUE_STRING ? p.getText() : null;
        case "name" -> name = t == JsonToken.VALUE_STRING ? p.getText() : null;
        case "input" -> input = AnthropicJson.valueAsText(p);
        default -> p.skipChildren();
      }
    }
    if (type == null) {
      return null;
    }
    return switch (type) {
      case "text" -> ContentPart.newBuilder().setText(text == null ? "" : text).build();
      case "tool_use" ->
          ContentPart.newBuilder()
              .setToolCall(
                  ToolCallPart.newBuilder()
                      .setId(id == null ? "" : id)
                      .setName(name == null ? "" : name)
                      .setArguments(input == null ? "{}" : input))
              .build();
      case "thinking" ->
          ContentPart.newBuilder()
              .setReasoning(ReasoningPart.newBuilder().setText(thinking == null ? "" : thinking))
              .setSignature(signature == null ? ByteString.EMPTY : ByteString.copyFromUtf8(signature))
              .build();
      case "redacted_thinking" ->
          ContentPart.newBuilder()
              .setReasoning(ReasoningPart.newBuilder().setRedacted(true))
              .setSignature(data == null ? ByteString.EMPTY : ByteString.copyFromUtf8(data))
              .build();
      default -> null;
    };
  }
}
