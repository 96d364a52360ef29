package dev.sluice.dataplane.provider.anthropic;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.google.protobuf.ByteString;
import dev.sluice.dataplane.provider.ChatStreamListener;
import dev.sluice.dataplane.provider.UpstreamException;
import dev.sluice.dataplane.provider.UpstreamFailure;
import dev.sluice.dataplane.provider.http.SseChatStream;
import dev.sluice.dataplane.provider.http.UpstreamErrors;
import dev.sluice.dataplane.provider.json.ProtoJson;
import dev.sluice.inference.v1.ChatStarted;
import dev.sluice.inference.v1.ChoiceFinished;
import dev.sluice.inference.v1.ContentDelta;
import dev.sluice.inference.v1.ContentPart;
import dev.sluice.inference.v1.ReasoningPart;
import dev.sluice.inference.v1.StreamChatResponse;
import dev.sluice.inference.v1.ToolCallDelta;
import dev.sluice.inference.v1.Usage;
import io.netty.buffer.ByteBuf;
import java.io.IOException;
import java.util.Arrays;
import org.jspecify.annotations.Nullable;

/**
 * One streamed Messages call: Anthropic's typed events mapped to Sluice stream events.
 *
 * <p>{@code message_start} sends {@code started} (message id and model) and the initial usage;
 * each {@code content_block_start} opens the next part (text, thinking, tool_use, or a whole
 * redacted_thinking part), so parts are announced even when a block stays empty; block deltas
 * ({@code text_delta}, {@code thinking_delta}, {@code signature_delta}, {@code input_json_delta})
 * become content or tool-call deltas of that part; {@code message_delta} carries the stop reason
 * (one {@code choice_finished}) and cumulative usage; {@code message_stop} completes the stream
 * with the usage normalized (cache reads and writes added back into input). {@code ping} is
 * ignored; an {@code error} event fails the stream. Block types Sluice does not model (server
 * tools) are skipped without using a part index.
 */
final class AnthropicChatStream extends SseChatStream {
  private enum Block {
    TEXT,
    THINKING,
    TOOL,
    SKIPPED
  }

  private final String requestId;
  private final AnthropicJson.RawUsage usage = new AnthropicJson.RawUsage();
  private Block[] blocks = new Block[4];
  private int[] parts = new int[4];
  private int nextPart;
  private int tools;
  private boolean choiceFinished;
  private int deltas;

  // Scratch fields of the event being parsed.
  private @Nullable String type;
  private int index = -1;
  private @Nullable String id;
  private @Nullable String model;
  private @Nullable String blockType;
  private @Nullable String blockText;
  private @Nullable String blockId;
  private @Nullable String blockName;
  private @Nullable String blockData;
  private @Nullable String deltaType;
  private @Nullable String deltaText;
  private @Nullable String stopReason;
  private @Nullable String stopSequence;
  private UpstreamErrors.ErrorDetail error = UpstreamErrors.ErrorDetail.NONE;

  AnthropicChatStream(String backend, String requestId, ChatStreamListener listener) {
    super(backend, listener);
    this.requestId = requestId;
  }

  @Override
  protected UpstreamErrors.ErrorDetail errorDetail(ByteBuf body) {
    return AnthropicJson.errorDetail(body);
  }

  @Override
  protected @Nullable Usage usageSoFar() {
    if (!usage.seen && deltas == 0) {
      return null;
    }
    Usage u = usage.toUsage();
    if (deltas > u.getOutputTokens()) {
      // A stream cut before message_delta reported only the start's count: count what came.
      u = u.toBuilder().setOutputTokens(deltas).setTotalTokens(u.getInputTokens() + deltas).build();
    }
    return u;
  }

  @Override
  protected void onStreamEvent(String sseType, ByteBuf data) throws IOException {
    parse(data);
    String t = type != null ? type : sseType;
    switch (t) {
      case "message_start" -> {
        ChatStarted.Builder s =
            ChatStarted.newBuilder()
                .setRequestId(requestId)
                .setProvider(AnthropicAdapter.PROVIDER)
                .setBackend(backend);
        if (id != null) {
          s.setId(id);
        }
        if (model != null) {
          s.setProviderModel(model);
        }
        emitStarted(s.build());
      }
      case "content_block_start" -> blockStart();
      case "content_block_delta" -> blockDelta();
      case "message_delta" -> {
        requireStarted();
        if (stopReason != null && !choiceFinished) {
          choiceFinished = true;
          ChoiceFinished.Builder f =
              ChoiceFinished.newBuilder()
                  .setChoiceIndex(0)
                  .setFinishReason(AnthropicJson.finishReason(stopReason))
                  .setRawFinishReason(stopReason);
          if (stopSequence != null) {
            f.setStopSequence(stopSequence);
          }
          emit(StreamChatResponse.newBuilder().setChoiceFinished(f).build());
        }
      }
      case "message_stop" -> {
        requireStarted();
        if (!choiceFinished) {
          fail(
              new UpstreamException(
                  UpstreamFailure.STREAM_BROKEN, backend, 0, null,
                  "the upstream stream ended without a stop reason", null),
              true);
          return;
        }
        complete(usage.toUsage());
      }
      case "error" -> fail(AnthropicJson.streamError(error, backend), true);
      default -> {} // ping, content_block_stop, and event types added later
    }
  }

  private void requireStarted() throws IOException {
    if (!started()) {
      throw new IOException("event before message_start");
    }
  }

  private void blockStart() throws IOException {
    requireStarted();
    if (index < 0 || index > 4096) {
      throw new IOException("content block index out of range");
    }
    if (index >= blocks.length) {
      blocks = Arrays.copyOf(blocks, Math.max(index + 1, blocks.length * 2));
      parts = Arrays.copyOf(parts, blocks.length);
    }
    String bt = blockType == null ? "" : blockType;
    Block kind =
        switch (bt) {
          case "text" -> Block.TEXT;
          case "thinking" -> Block.THINKING;
          case "tool_use" -> Block.TOOL;
          case "redacted_thinking" -> Block.THINKING;
          default -> Block.SKIPPED;
        };
    blocks[index] = kind;
    if (kind == Block.SKIPPED) {
      return;
    }
    int part = nextPart++;
    parts[index] = part;
    switch (bt) {
      case "text" -> content(part, ContentDelta.newBuilder().setText(blockText == null ? "" : blockText));
      case "thinking" -> content(part, ContentDelta.newBuilder().setReasoningText(""));
      case "redacted_thinking" ->
          content(
              part,
              ContentDelta.newBuilder()
                  .setPart(
                      ContentPart.newBuilder()
                          .setReasoning(ReasoningPart.newBuilder().setRedacted(true))
                          .setSignature(
                              blockData == null ? ByteString.EMPTY : ByteString.copyFromUtf8(blockData))));
      default ->
          emit(
              StreamChatResponse.newBuilder()
                  .setToolCallDelta(
                      ToolCallDelta.newBuilder()
                          .setChoiceIndex(0)
                          .setPartIndex(part)
                          .setToolCallIndex(tools++)
                          .setId(blockId == null ? "" : blockId)
                          .setName(blockName == null ? "" : blockName))
                  .build());
    }
  }

  private void blockDelta() throws IOException {
    requireStarted();
    if (index < 0 || index >= blocks.length || blocks[index] == null) {
      throw new IOException("delta for a block that was not started");
    }
    Block kind = blocks[index];
    if (kind == Block.SKIPPED || deltaType == null || deltaText == null) {
      return;
    }
    int part = parts[index];
    switch (deltaType) {
      case "text_delta" -> {
        deltas++;
        content(part, ContentDelta.newBuilder().setText(deltaText));
      }
      case "thinking_delta" -> {
        deltas++;
        content(part, ContentDelta.newBuilder().setReasoningText(deltaText));
      }
      case "signature_delta" ->
          content(part, ContentDelta.newBuilder().setSignature(ByteString.copyFromUtf8(deltaText)));
      case "input_json_delta" -> {
        if (deltaText.isEmpty()) {
          return;
        }
        deltas++;
        emit(
            StreamChatResponse.newBuilder()
                .setToolCallDelta(
                    ToolCallDelta.newBuilder()
                        .setChoiceIndex(0)
                        .setPartIndex(part)
                        .setToolCallIndex(toolIndexOf(index))
                        .setArgumentsDelta(deltaText))
                .build());
      }
      default -> {} // citations_delta and future delta types
    }
  }

  /** The tool-call index of the tool block at {@code blockIndex}: tool blocks before it. */
  private int toolIndexOf(int blockIndex) {
    int n = 0;
    for (int i = 0; i < blockIndex; i++) {
      if (blocks[i] == Block.TOOL) {
        n++;
      }
    }
    return n;
  }

  private void content(int part, ContentDelta.Builder delta) {
    emit(
        StreamChatResponse.newBuilder()
            .setContentDelta(delta.setChoiceIndex(0).setPartIndex(part))
            .build());
  }

  /** Reads one event's JSON into the scratch fields. */
  private void parse(ByteBuf data) throws IOException {
    type = null;
    index = -1;
    id = model = blockType = blockText = blockId = blockName = blockData = null;
    deltaType = deltaText = stopReason = stopSequence = null;
    error = UpstreamErrors.ErrorDetail.NONE;
    try (JsonParser p = ProtoJson.parser(data)) {
      if (p.nextToken() != JsonToken.START_OBJECT) {
        throw new IOException("stream event is not a JSON object");
      }
      while (p.nextToken() == JsonToken.FIELD_NAME) {
        String name = p.currentName();
        JsonToken t = p.nextToken();
        switch (name) {
          case "type" -> type = t == JsonToken.VALUE_STRING ? p.getText() : null;
          case "index" -> index = t == JsonToken.VALUE_NUMBER_INT ? p.getIntValue() : -1;
          case "message" -> message(p);
          case "content_block" -> block(p);
          case "delta" -> delta(p);
          case "usage" -> AnthropicJson.readUsage(p, usage);
          case "error" -> error = AnthropicJson.readError(p);
          default -> p.skipChildren();
        }
      }
    }
  }

  private void message(JsonParser p) throws IOException {
    if (p.currentToken() != JsonToken.START_OBJECT) {
      p.skipChildren();
      return;
    }
    while (p.nextToken() == JsonToken.FIELD_NAME) {
      String name = p.currentName();
      JsonToken t = p.nextToken();
      switch (name) {
        case "id" -> id = t == JsonToken.VALUE_STRING ? p.getText() : null;
        case "model" -> model = t == JsonToken.VALUE_STRING ? p.getText() : null;
        case "usage" -> AnthropicJson.readUsage(p, usage);
        default -> p.skipChildren();
      }
    }
  }

  private void block(JsonParser p) throws IOException {
    if (p.currentToken() != JsonToken.START_OBJECT) {
      p.skipChildren();
      return;
    }
    while (p.nextToken() == JsonToken.FIELD_NAME) {
      String name = p.currentName();
      JsonToken t = p.nextToken();
      String value = t == JsonToken.VALUE_STRING ? p.getText() : null;
      switch (name) {
        case "type" -> blockType = value;
        case "text" -> blockText = value;
        case "id" -> blockId = value;
        case "name" -> blockName = value;
        case "data" -> blockData = value;
        default -> p.skipChildren();
      }
    }
  }

  private void delta(JsonParser p) throws IOException {
    if (p.currentToken() != JsonToken.START_OBJECT) {
      p.skipChildren();
      return;
    }
    while (p.nextToken() == JsonToken.FIELD_NAME) {
      String name = p.currentName();
      JsonToken t = p.nextToken();
      String value = t == JsonToken.VALUE_STRING ? p.getText() : null;
      switch (name) {
        case "type" -> deltaType = value;
        case "text", "partial_json", "thinking", "signature" -> deltaText = value;
        case "stop_reason" -> stopReason = value;
        case "stop_sequence" -> stopSequence = value;
        default -> p.skipChildren();
      }
    }
  }
}
