package dev.sluice.dataplane.provider.http;

import io.netty.channel.Channel;

/**
 * What one exchange runs on: an HTTP/1.1 connection it has to itself, or one stream of a shared
 * HTTP/2 connection. The exchange writes its request to {@link #channel()}, asks it for reads, and
 * hands it back when done.
 */
interface Transport {
  /** The channel to write the request to and read the response from. */
  Channel channel();

  /** The exchange finished cleanly; an HTTP/1.1 connection goes back to the pool if reusable. */
  void complete(boolean reusable);

  /**
   * The exchange is abandoned (failure, cancel, timeout): an HTTP/1.1 connection is closed, an
   * HTTP/2 stream is reset ({@code RST_STREAM}) while its connection stays up for other streams.
   */
  void abort();
}
