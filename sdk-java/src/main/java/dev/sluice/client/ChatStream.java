package dev.sluice.client;

/**
 * A streamed chat in progress, started by {@link SluiceClient#streamChat(
 * dev.sluice.inference.v1.ChatRequest, ChatStreamListener)}; its events go to the listener.
 */
public interface ChatStream {
  /**
   * Cancels the stream. The gateway cancels the upstream request at once; the listener receives
   * {@code onError} with code {@code CANCELLED} unless the stream had already ended. Safe to call
   * from any thread, more than once.
   */
  void cancel();

  /** Whether the listener has received {@code onCompleted} or {@code onError}. */
  boolean isDone();
}
