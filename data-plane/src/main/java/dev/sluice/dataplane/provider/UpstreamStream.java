package dev.sluice.dataplane.provider;

/** Control of one running upstream stream. Both methods are thread-safe and idempotent. */
public interface UpstreamStream {
  /** Resumes reading after {@link ChatStreamListener#isReady()} reported false. */
  void resume();

  /**
   * Cancels the upstream request at once (closing or resetting its connection or HTTP/2 stream).
   * No listener callback follows a cancel.
   */
  void cancel();
}
