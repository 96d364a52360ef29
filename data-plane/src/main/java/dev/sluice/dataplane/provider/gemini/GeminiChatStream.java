package dev.sluice.dataplane.provider.gemini;

import com.google.protobuf.ByteString;
import dev.sluice.dataplane.provider.ChatStreamListener;
import dev.sluice.dataplane.provider.UpstreamException;
import dev.sluice.dataplane.provider.UpstreamFailure;
import dev.sluice.dataplane.provider.http.SseChatStream;
import dev.sluice.dataplane.provider.http.UpstreamErrors;
import dev.sluice.inference.v1.ChatStarted;
import dev.sluice.inference.v1.ChoiceFinished;
import dev.sluice.inference.v1.ContentDelta;
import dev.sluice.inference.v1.FinishReason;
import dev.sluice.inference.v1.StreamChatResponse;
import dev.sluice.inference.v1.ToolCallDelta;
import dev.sluice.inference.v1.Usage;
import io.netty.buffer.ByteBuf;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * One {@code streamGenerateContent?alt=sse} call: each SSE event is a partial {@code
 * GenerateContentResponse}.
 *
 * <p>Parts: consecutive text chunks of a candidate extend one text part, consecutive thought chunks
 * one reasoning part; a {@code functionCall} arrives whole and becomes its own part (one tool-call
 * delta with id, name and all arguments; the id is generated when Gemini gives none); a {@code
 * thoughtSignature} is sent as a signature delta of its part. A {@code finishReason} finishes its
 * candidate ({@code STOP} after function calls counts as a tool-call finish); a prompt blocked by
 * {@code promptFeedback} finishes choice 0 as a content filter. Usage is taken from the last chunk
 * that has it.
 *
 * <p>Gemini has no end marker: the stream ends when the body ends, which is a proper completion
 * only when every candidate that appeared has finished.
 */
final class GeminiChatStream extends SseChatStream {
  private enum Kind {
    NONE,
    TEXT,
    THOUGHT,
    CALL
  }

  private static final class CandidateState {
    Kind last = Kind.NONE;
    int part = -1;
    int nextPart;
    int calls;
    boolean finished;
  }

  private final String requestId;
  private final List<CandidateState> candidates = new ArrayList<>(1);
  private @Nullable Usage usage;
  private int deltas;

  GeminiChatStream(String backend, String requestId, ChatStreamListener listener) {
    super(backend, listener);
    this.requestId = requestId;
  }

  @Override
  protected UpstreamErrors.ErrorDetail errorDetail(ByteBuf body) {
    return GeminiJson.errorDetail(body);
  }

  @Override
  protected @Nullable Usage usageSoFar() {
    if (usage != null) {
      return usage.getOutputTokens() >= deltas
          ? usage
          : usage.toBuilder().setOutputTokens(deltas).setTotalTokens(usage.getInputTokens() + deltas).build();
    }
    return deltas == 0 ? null : Usage.newBuilder().setOutputTokens(deltas).setTotalTokens(deltas).build();
  }

  @Override
  protected void onEndOfBody() {
    if (!started()) {
      super.onEndOfBody();
      return;
    }
    for (int i = 0; i < candidates.size(); i++) {
      CandidateState c = candidates.get(i);
      if (c != null && !c.finished) {
        fail(
            new UpstreamException(
                UpstreamFailure.STREAM_BROKEN, backend, 0, null,
                "the upstream stream ended without a finish reason for candidate " + i, null),
            false);
        return;
      }
    }
    complete(usage);
  }

  @Override
  protected void onStreamEvent(String type, ByteBuf data) throws IOException {
    GeminiJson.Response chunk = GeminiJson.read(data);
    if (chunk.error != null) {
      fail(GeminiJson.streamError(chunk.error, backend), true);
      return;
    }
    if (!started()) {
      ChatStarted.Builder s =
          ChatStarted.newBuilder()
              .setRequestId(requestId)
              .setProvider(GeminiAdapter.PROVIDER)
              .setBackend(backend);
      if (chunk.responseId != null) {
        s.setId(chunk.responseId);
      }
      if (chunk.modelVersion != null) {
        s.setProviderModel(chunk.modelVersion);
      }
      emitStarted(s.build());
    }
    if (chunk.usage != null) {
      usage = chunk.usage;
    }
    for (GeminiJson.Candidate candidate : chunk.candidates) {
      candidate(candidate);
    }
    if (chunk.candidates.isEmpty() && chunk.blockReason != null) {
      CandidateState c = state(0);
      if (!c.finished) {
        c.finished = true;
        emit(
            StreamChatResponse.newBuilder()
                .setChoiceFinished(
                    ChoiceFinished.newBuilder()
                        .setChoiceIndex(0)
                        .setFinishReason(FinishReason.FINISH_REASON_CONTENT_FILTER)
                        .setRawFinishReason(chunk.blockReason))
                .build());
      }
    }
  }

  private CandidateState state(int index) throws IOException {
    if (index < 0 || index > 1024) {
      throw new IOException("candidate index out of range");
    }
    while (candidates.size() <= index) {
      candidates.add(null);
    }
    CandidateState c = candidates.get(index);
    if (c == null) {
      c = new CandidateState();
      candidates.set(index, c);
    }
    return c;
  }

  private void candidate(GeminiJson.Candidate candidate) throws IOException {
    int index = candidate.index();
    CandidateState c = state(index);
    if (c.finished) {
      return;
    }
    for (GeminiJson.Part p : candidate.parts()) {
      if (p.isCall()) {
        c.part = c.nextPart++;
        c.last = Kind.CALL;
        deltas++;
        String id = p.callId() != null && !p.callId().isEmpty() ? p.callId() : GeminiAdapter.newCallId();
        emit(
            StreamChatResponse.newBuilder()
                .setToolCallDelta(
                    ToolCallDelta.newBuilder()
                        .setChoiceIndex(index)
                        .setPartIndex(c.part)
                        .setToolCallIndex(c.calls++)
                        .setId(id)
                        .setName(p.callName())
                        .setArgumentsDelta(p.callArgs() == null ? "{}" : p.callArgs()))
                .build());
      } else if (p.text() != null) {
        if (p.text().isEmpty() && p.signature() == null) {
          continue; // Gemini's closing chunk often carries an empty text part
        }
        Kind kind = p.thought() ? Kind.THOUGHT : Kind.TEXT;
        boolean newPart = c.last != kind;
        if (newPart) {
          c.part = c.nextPart++;
          c.last = kind;
        }
        // An empty delta still opens a new part, to fix its kind before a signature follows.
        if (!p.text().isEmpty() || newPart) {
          if (!p.text().isEmpty()) {
            deltas++;
          }
          ContentDelta.Builder d = ContentDelta.newBuilder().setChoiceIndex(index).setPartIndex(c.part);
          if (kind == Kind.THOUGHT) {
            d.setReasoningText(p.text());
          } else {
            d.setText(p.text());
          }
          emit(StreamChatResponse.newBuilder().setContentDelta(d).build());
        }
      } else if (p.signature() == null) {
        continue; // inline data and other part kinds Sluice does not stream yet
      }
      if (p.signature() != null && c.part >= 0) {
        emit(
            StreamChatResponse.newBuilder()
                .setContentDelta(
                    ContentDelta.newBuilder()
                        .setChoiceIndex(index)
                        .setPartIndex(c.part)
                        .setSignature(ByteString.copyFrom(p.signature())))
                .build());
      }
    }
    if (candidate.finishReason() != null) {
      c.finished = true;
      emit(
          StreamChatResponse.newBuilder()
              .setChoiceFinished(
                  ChoiceFinished.newBuilder()
                      .setChoiceIndex(index)
                      .setFinishReason(GeminiJson.finishReason(candidate.finishReason(), c.calls > 0))
                      .setRawFinishReason(candidate.finishReason()))
              .build());
    }
  }
}
