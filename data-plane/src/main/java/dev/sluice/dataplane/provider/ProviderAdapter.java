package dev.sluice.dataplane.provider;

import dev.sluice.config.v1.BackendKind;
import dev.sluice.inference.v1.ChatResponse;
import dev.sluice.inference.v1.EmbedResponse;
import java.util.concurrent.CompletableFuture;

/**
 * Speaks one provider's wire protocol.
 *
 * <p>Implementations are thread-safe and stateless per call; connection pools and event loops are
 * shared and owned by whoever created the adapter. Every method returns at once and never blocks
 * the caller: work continues on the upstream connection's event loop.
 *
 * <p>Failures are reported as {@link UpstreamException} (through the future or {@link
 * ChatStreamListener#onError}); anything else is a bug.
 */
public interface ProviderAdapter {
  /** The backend kind this adapter serves. */
  BackendKind kind();

  /** One non-streaming chat completion. */
  CompletableFuture<ChatResponse> chat(ChatCall call);

  /**
   * Starts a streaming chat completion. Events reach {@code listener} on one thread at a time, in
   * order: a {@code started} event first, then content, tool-call and choice-finished events, then
   * {@code usage} when the provider reported it, then exactly one of {@link
   * ChatStreamListener#onCompleted()} or {@link ChatStreamListener#onError}.
   *
   * <p>The adapter reads from the upstream only while {@link ChatStreamListener#isReady()} is
   * true; once it reports false, reading pauses until {@link UpstreamStream#resume()}. So a slow
   * client slows the upstream through TCP flow control instead of filling memory.
   */
  UpstreamStream streamChat(ChatCall call, ChatStreamListener listener);

  /** One embeddings call. */
  CompletableFuture<EmbedResponse> embed(EmbedCall call);
}
