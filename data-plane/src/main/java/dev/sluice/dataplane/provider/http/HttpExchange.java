package dev.sluice.dataplane.provider.http;

/** Control of one running upstream exchange. Both methods are thread-safe and idempotent. */
public interface HttpExchange {
  /** Reads again after {@link ResponseHandler#isReady()} reported false. */
  void resume();

  /**
   * Aborts the exchange at once: its connection is closed (never returned to the pool), so the
   * upstream sees the request cancelled. No handler callback follows.
   */
  void cancel();
}
