package dev.sluice.dataplane.provider;

import dev.sluice.inference.v1.StreamChatResponse;
import dev.sluice.inference.v1.Usage;
import org.jspecify.annotations.Nullable;

/**
 * Receives one upstream stream, already normalized to Sluice events. Called on one thread at a
 * time (the upstream connection's event loop); implementations must not block.
 */
public interface ChatStreamListener {
  /**
   * One event. The first is always {@code started} (carrying the provider's response id and model
   * as far as known); the router completes it with the model, version and backend.
   */
  void onEvent(StreamChatResponse event);

  /**
   * Whether the consumer can take more events now. When false, the adapter stops reading from the
   * upstream until {@link UpstreamStream#resume()} is called.
   */
  boolean isReady();

  /** The upstream ended the stream properly (e.g. OpenAI {@code [DONE]}, {@code message_stop}). */
  void onCompleted();

  /**
   * The stream failed: connection reset, idle timeout, an error event inside a 200 stream, a
   * malformed payload, or an upstream that closed without its end marker. {@code usageSoFar} is
   * the usage consumed until then when the provider reported or the adapter could count it, so
   * accounting never loses tokens that were generated.
   */
  void onError(UpstreamException error, @Nullable Usage usageSoFar);
}
