package dev.sluice.dataplane.routing;

import dev.sluice.grpc.ApiException;
import dev.sluice.inference.v1.StreamChatResponse;

/**
 * The client side of a routed stream: where the router delivers events and the outcome.
 *
 * <p>The router calls it from one thread at a time and never after {@link #onCompleted()} or {@link
 * #onError}. Implementations must not block.
 */
public interface ChatStreamSink {
  /** Whether the client can take more events now; the router pauses the upstream while not. */
  boolean isReady();

  /** An event for the client, in order: {@code started} first. */
  void onEvent(StreamChatResponse event);

  /** The stream ended successfully. */
  void onCompleted();

  /**
   * The stream failed: before {@code started} when no attempt succeeded, or after it when the
   * chosen upstream broke (the router has sent a final {@code usage} event when it knew one).
   */
  void onError(ApiException error);
}
