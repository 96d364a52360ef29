package dev.sluice.dataplane.provider.http;

import io.netty.buffer.ByteBuf;
import io.netty.handler.codec.http.HttpResponse;

/**
 * Receives one upstream HTTP response as it arrives. Called on the exchange's event loop, one
 * callback at a time; implementations must not block.
 *
 * <p>Order: {@link #onHeaders} once, {@link #onContent} zero or more times, then exactly one of
 * {@link #onComplete} or {@link #onFailure} (a failure may also come first, before any headers).
 * Nothing is called after {@link HttpExchange#cancel()}. If a callback throws, the exchange is
 * aborted (its connection closed) and {@link #onFailure} follows with {@link
 * HttpFailure.Kind#HANDLER_FAILED}.
 */
public interface ResponseHandler {
  /** The status line and headers. */
  void onHeaders(HttpResponse response);

  /**
   * A piece of the body, in order, as Netty read it: a slice of the socket read buffer, not a
   * copy. It is valid only during the call and released afterwards: retain it to keep it.
   */
  void onContent(ByteBuf content);

  /** The response ended properly. */
  void onComplete();

  /** The exchange failed. */
  void onFailure(HttpFailure failure);

  /**
   * Whether more of the body may be read now. Asked after each batch of socket reads; when false,
   * the connection is not read again (so the upstream's TCP window closes and it stops sending)
   * until {@link HttpExchange#resume()}. Default: always.
   */
  default boolean isReady() {
    return true;
  }
}
