package dev.sluice.dataplane.provider.http;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2ResetFrame;
import io.netty.util.ReferenceCountUtil;
import org.jspecify.annotations.Nullable;

/**
 * One HTTP/2 stream of an exchange: the last handler of the stream channel, whose codec turns
 * frames into the same HTTP objects an HTTP/1.1 connection yields, so the exchange reads both
 * alike.
 */
final class Http2Stream extends ChannelInboundHandlerAdapter implements Transport {
  private final UpstreamExchange exchange;
  private @Nullable Channel channel;
  private boolean done;

  Http2Stream(UpstreamExchange exchange) {
    this.exchange = exchange;
  }

  @Override
  public void handlerAdded(ChannelHandlerContext ctx) {
    channel = ctx.channel();
  }

  @Override
  public Channel channel() {
    Channel c = channel;
    if (c == null) {
      throw new IllegalStateException("stream not open");
    }
    return c;
  }

  @Override
  public void complete(boolean reusable) {
    done = true;
    // The response ended the stream; closing the channel only releases it (no reset is sent
    // for a closed stream).
    channel().close();
  }

  @Override
  public void abort() {
    done = true;
    // Closing an open stream channel sends RST_STREAM(CANCEL): the server stops at once, and
    // the connection stays up for the other streams.
    channel().close();
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (msg instanceof Http2ResetFrame reset) {
      ReferenceCountUtil.release(msg);
      if (!done) {
        exchange.onTransportClosed(
            this,
            new IllegalStateException(
                "stream reset by the upstream: " + Http2Error.valueOf(reset.errorCode())));
      }
      return;
    }
    if (done) {
      ReferenceCountUtil.release(msg);
      return;
    }
    exchange.onMessage(msg);
  }

  @Override
  public void channelReadComplete(ChannelHandlerContext ctx) {
    if (!done) {
      exchange.onReadComplete();
    }
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) {
    if (!done) {
      exchange.onTransportClosed(this, null);
    }
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    if (!done) {
      exchange.onTransportClosed(this, cause);
    }
    ctx.close();
  }
}
