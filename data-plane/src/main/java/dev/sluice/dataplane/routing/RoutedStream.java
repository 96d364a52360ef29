package dev.sluice.dataplane.routing;

/** Control of one routed stream. Both methods are thread-safe and idempotent. */
public interface RoutedStream {
  /** The client became ready again: resume reading from the upstream. */
  void resume();

  /**
   * The client went away (cancelled or its deadline passed): cancel the upstream request at once.
   * The sink receives nothing more.
   */
  void cancel();
}
