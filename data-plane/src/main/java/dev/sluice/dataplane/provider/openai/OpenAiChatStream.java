package dev.sluice.dataplane.provider.openai;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import dev.sluice.dataplane.provider.ChatStreamListener;
import dev.sluice.dataplane.provider.UpstreamException;
import dev.sluice.dataplane.provider.UpstreamFailure;
import dev.sluice.dataplane.provider.http.SseChatStream;
import dev.sluice.dataplane.provider.http.UpstreamErrors;
import dev.sluice.dataplane.provider.json.ProtoJson;
import dev.sluice.inference.v1.ChatStarted;
import dev.sluice.inference.v1.ChoiceFinished;
import dev.sluice.inference.v1.ContentDelta;
import dev.sluice.inference.v1.StreamChatResponse;
import dev.sluice.inference.v1.TokenLogprob;
import dev.sluice.inference.v1.ToolCallDelta;
import dev.sluice.inference.v1.Usage;
import io.netty.buffer.ByteBuf;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * One streamed Chat Completions call: reads the SSE body, turns each {@code chat.completion.chunk}
 * into Sluice stream events, and ends with exactly one of completed or error.
 *
 * <p>Decoding rules: {@code started} is sent for the first chunk (with its id, model and
 * fingerprint); content, refusal and reasoning deltas create parts in order of first appearance
 * per choice (empty deltas create nothing); a tool call's first fragment (with id and name) fixes
 * its part; a {@code finish_reason} ends its choice; usage, which OpenAI sends in the last chunk
 * only, is remembered and sent once, just before completion, so it is always the last event.
 * {@code data: [DONE]} completes the stream, provided every choice that started also finished. An
 * {@code error} object inside the 200 stream, a malformed chunk, or an end of the body without
 * {@code [DONE]} fails it.
 *
 * <p>Runs on the connection's event loop; only {@link #cancel()} and {@link #resume()} come from
 * other threads.
 */
final class OpenAiChatStream extends SseChatStream {
  private final String provider;
  private final String requestId;
  private final List<ChoiceState> choices = new ArrayList<>(1);
  private final List<StreamChatResponse> pending = new ArrayList<>(4);

  private @Nullable Usage usage;
  /** Deltas received: the output-token estimate when a broken stream reported no usage. */
  private int deltas;

  // First-chunk fields, kept until started is sent.
  private String id = "";
  private String model = "";
  private Struct.@Nullable Builder metadata;

  /** Parts and progress of one choice. */
  private static final class ChoiceState {
    boolean seen;
    int nextPart;
    int reasoningPart = -1;
    int textPart = -1;
    int refusalPart = -1;
    int[] toolParts = new int[0];
    boolean finished;
    boolean refused;

    int toolPart(int toolIndex) {
      if (toolIndex >= toolParts.length) {
        int old = toolParts.length;
        toolParts = java.util.Arrays.copyOf(toolParts, Math.max(toolIndex + 1, old * 2));
        java.util.Arrays.fill(toolParts, old, toolParts.length, -1);
      }
      if (toolParts[toolIndex] < 0) {
        toolParts[toolIndex] = nextPart++;
      }
      return toolParts[toolIndex];
    }
  }

  private record ToolFragment(int index, @Nullable String id, @Nullable String name, @Nullable String arguments) {}

  OpenAiChatStream(String backend, String provider, String requestId, ChatStreamListener listener) {
    super(backend, listener);
    this.provider = provider;
    this.requestId = requestId;
  }

  @Override
  protected UpstreamErrors.ErrorDetail errorDetail(ByteBuf body) {
    return OpenAiJson.errorDetail(body);
  }

  @Override
  protected void onEndOfBody() {
    fail(
        new UpstreamException(
            started() ? UpstreamFailure.STREAM_BROKEN : UpstreamFailure.PROTOCOL_ERROR,
            backend, 0, null, "the upstream stream ended without [DONE]", null),
        false);
  }

  @Override
  protected void onStreamEvent(String type, ByteBuf data) throws IOException {
    if (isDone(data)) {
      done();
      return;
    }
    OpenAiJson.ErrorObject error;
    try {
      error = parseChunk(data);
    } catch (IOException | RuntimeException e) {
      pending.clear();
      throw e;
    }
    if (error != null) {
      pending.clear();
      fail(OpenAiJson.streamError(error, backend), true);
      return;
    }
    if (!started()) {
      ChatStarted.Builder s =
          ChatStarted.newBuilder()
              .setId(id)
              .setRequestId(requestId)
              .setProvider(provider)
              .setBackend(backend)
              .setProviderModel(model);
      if (metadata != null) {
        s.setProviderMetadata(metadata);
      }
      emitStarted(s.build());
    }
    for (int i = 0; i < pending.size() && !finished(); i++) {
      emit(pending.get(i));
    }
    pending.clear();
  }

  private static boolean isDone(ByteBuf data) {
    int i = data.readerIndex();
    int n = data.readableBytes();
    while (n > 0 && data.getByte(i) == ' ') {
      i++;
      n--;
    }
    while (n > 0 && Character.isWhitespace(data.getByte(i + n - 1))) {
      n--;
    }
    return n == 6
        && data.getByte(i) == '['
        && data.getByte(i + 1) == 'D'
        && data.getByte(i + 2) == 'O'
        && data.getByte(i + 3) == 'N'
        && data.getByte(i + 4) == 'E'
        && data.getByte(i + 5) == ']';
  }

  private void done() {
    if (!started()) {
      fail(UpstreamErrors.protocolError(backend, "the upstream stream ended before any chunk", null),
          true);
      return;
    }
    for (int i = 0; i < choices.size(); i++) {
      ChoiceState c = choices.get(i);
      if (c.seen && !c.finished) {
        fail(
            new UpstreamException(
                UpstreamFailure.STREAM_BROKEN, backend, 0, null,
                "the upstream stream ended without a finish reason for choice " + i, null),
            true);
        return;
      }
    }
    complete(usage);
  }

  @Override
  protected @Nullable Usage usageSoFar() {
    if (usage != null) {
      return usage;
    }
    // OpenAI sends usage only at the end; count what was streamed so accounting keeps it.
    return deltas == 0
        ? null
        : Usage.newBuilder().setOutputTokens(deltas).setTotalTokens(deltas).build();
  }

  // ---- chunk parsing ----

  private OpenAiJson.@Nullable ErrorObject parseChunk(ByteBuf data) throws IOException {
    OpenAiJson.ErrorObject error = null;
    try (JsonParser p = ProtoJson.parser(data)) {
      if (p.nextToken() != JsonToken.START_OBJECT) {
        throw new IOException("stream event is not a JSON object");
      }
      while (p.nextToken() == JsonToken.FIELD_NAME) {
        String name = p.currentName();
        JsonToken t = p.nextToken();
        switch (name) {
          case "choices" -> {
            if (t == JsonToken.START_ARRAY) {
              int position = 0;
              while (p.nextToken() == JsonToken.START_OBJECT) {
                choice(p, position++);
              }
            } else {
              p.skipChildren();
            }
          }
          case "id" -> {
            if (!started() && t == JsonToken.VALUE_STRING) {
              id = p.getText();
            }
          }
          case "model" -> {
            if (!started() && t == JsonToken.VALUE_STRING) {
              model = p.getText();
            }
          }
          case "system_fingerprint", "service_tier" -> {
            if (!started() && t == JsonToken.VALUE_STRING) {
              if (metadata == null) {
                metadata = Struct.newBuilder();
              }
              metadata.putFields(name, Value.newBuilder().setStringValue(p.getText()).build());
            }
          }
          case "usage" -> {
            Usage u = OpenAiJson.readUsage(p);
            if (u != null) {
              usage = u;
            }
          }
          case "error" -> error = OpenAiJson.readError(p);
          default -> p.skipChildren();
        }
      }
    }
    return error;
  }

  private void choice(JsonParser p, int position) throws IOException {
    int index = position;
    String content = null;
    String refusal = null;
    String reasoning = null;
    String finish = null;
    List<ToolFragment> tools = null;
    List<TokenLogprob> contentLogprobs = null;
    List<TokenLogprob> refusalLogprobs = null;
    while (p.nextToken() == JsonToken.FIELD_NAME) {
      String name = p.currentName();
      JsonToken t = p.nextToken();
      switch (name) {
        case "index" -> index = OpenAiJson.intValue(p, t);
        case "delta" -> {
          if (t != JsonToken.START_OBJECT) {
            p.skipChildren();
            break;
          }
          while (p.nextToken() == JsonToken.FIELD_NAME) {
            String field = p.currentName();
            JsonToken ft = p.nextToken();
            switch (field) {
              case "content" -> content = OpenAiJson.stringOrNull(p, ft);
              case "refusal" -> refusal = OpenAiJson.stringOrNull(p, ft);
              case "reasoning_content", "reasoning" -> reasoning = OpenAiJson.stringOrNull(p, ft);
              case "tool_calls" -> {
                if (ft == JsonToken.START_ARRAY) {
                  int toolPosition = 0;
                  while (p.nextToken() == JsonToken.START_OBJECT) {
                    if (tools == null) {
                      tools = new ArrayList<>(1);
                    }
                    tools.add(toolFragment(p, toolPosition++));
                  }
                } else {
                  p.skipChildren();
                }
              }
              default -> p.skipChildren();
            }
          }
        }
        case "logprobs" -> {
          if (t == JsonToken.START_OBJECT) {
            contentLogprobs = new ArrayList<>(1);
            refusalLogprobs = new ArrayList<>(0);
            OpenAiJson.readLogprobs(p, contentLogprobs, refusalLogprobs);
          } else {
            p.skipChildren();
          }
        }
        case "finish_reason" -> finish = OpenAiJson.stringOrNull(p, t);
        default -> p.skipChildren();
      }
    }
    if (index < 0 || index > 1024) {
      throw new IOException("choice index out of range");
    }
    while (choices.size() <= index) {
      choices.add(new ChoiceState());
    }
    ChoiceState c = choices.get(index);
    c.seen = true;
    if (reasoning != null && !reasoning.isEmpty()) {
      if (c.reasoningPart < 0) {
        c.reasoningPart = c.nextPart++;
      }
      deltas++;
      pending.add(
          StreamChatResponse.newBuilder()
              .setContentDelta(
                  ContentDelta.newBuilder()
                      .setChoiceIndex(index)
                      .setPartIndex(c.reasoningPart)
                      .setReasoningText(reasoning))
              .build());
    }
    if (content != null && !content.isEmpty()) {
      if (c.textPart < 0) {
        c.textPart = c.nextPart++;
      }
      deltas++;
      ContentDelta.Builder d =
          ContentDelta.newBuilder().setChoiceIndex(index).setPartIndex(c.textPart).setText(content);
      if (contentLogprobs != null) {
        d.addAllLogprobs(contentLogprobs);
      }
      pending.add(StreamChatResponse.newBuilder().setContentDelta(d).build());
    }
    if (refusal != null && !refusal.isEmpty()) {
      if (c.refusalPart < 0) {
        c.refusalPart = c.nextPart++;
      }
      c.refused = true;
      deltas++;
      ContentDelta.Builder d =
          ContentDelta.newBuilder()
              .setChoiceIndex(index)
              .setPartIndex(c.refusalPart)
              .setRefusal(refusal);
      if (refusalLogprobs != null) {
        d.addAllLogprobs(refusalLogprobs);
      }
      pending.add(StreamChatResponse.newBuilder().setContentDelta(d).build());
    }
    if (tools != null) {
      for (ToolFragment f : tools) {
        if (f.index < 0 || f.index > 1024) {
          throw new IOException("tool call index out of range");
        }
        boolean hasHead = (f.id != null && !f.id.isEmpty()) || (f.name != null && !f.name.isEmpty());
        boolean hasArguments = f.arguments != null && !f.arguments.isEmpty();
        boolean first = f.index >= c.toolParts.length || c.toolParts[f.index] < 0;
        if (!hasHead && !hasArguments && !first) {
          continue;
        }
        int part = c.toolPart(f.index);
        if (hasArguments) {
          deltas++;
        }
        ToolCallDelta.Builder d =
            ToolCallDelta.newBuilder()
                .setChoiceIndex(index)
                .setPartIndex(part)
                .setToolCallIndex(f.index);
        if (f.id != null) {
          d.setId(f.id);
        }
        if (f.name != null) {
          d.setName(f.name);
        }
        if (f.arguments != null) {
          d.setArgumentsDelta(f.arguments);
        }
        pending.add(StreamChatResponse.newBuilder().setToolCallDelta(d).build());
      }
    }
    if (finish != null && !c.finished) {
      c.finished = true;
      pending.add(
          StreamChatResponse.newBuilder()
              .setChoiceFinished(
                  ChoiceFinished.newBuilder()
                      .setChoiceIndex(index)
                      .setFinishReason(OpenAiJson.finishReason(finish, c.refused))
                      .setRawFinishReason(finish))
              .build());
    }
  }

  private static ToolFragment toolFragment(JsonParser p, int position) throws IOException {
    int index = position;
    String id = null;
    String name = null;
    String arguments = null;
    while (p.nextToken() == JsonToken.FIELD_NAME) {
      String field = p.currentName();
      JsonToken t = p.nextToken();
      switch (field) {
        case "index" -> index = OpenAiJson.intValue(p, t);
        case "id" -> id = OpenAiJson.stringOrNull(p, t);
        case "function" -> {
          if (t != JsonToken.START_OBJECT) {
            p.skipChildren();
            break;
          }
          while (p.nextToken() == JsonToken.FIELD_NAME) {
            String f = p.currentName();
            JsonToken ft = p.nextToken();
            if (f.equals("name")) {
              name = OpenAiJson.stringOrNull(p, ft);
            } else if (f.equals("arguments")) {
              arguments = OpenAiJson.stringOrNull(p, ft);
            } else {
              p.skipChildren();
            }
          }
        }
        default -> p.skipChildren();
      }
    }
    return new ToolFragment(index, id, name, arguments);
  }
}
