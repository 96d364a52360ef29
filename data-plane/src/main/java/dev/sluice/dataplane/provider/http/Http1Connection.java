package dev.sluice.dataplane.provider.http;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.util.ReferenceCountUtil;
import org.jspecify.annotations.Nullable;

/**
 * One HTTP/1.1 connection: the last handler of its pipeline, passing response messages to the
 * exchange that currently owns the connection (at most one: no pipelining). Between exchanges it
 * waits in its pool. Confined to the channel's event loop.
 */
final class Http1Connection extends ChannelInboundHandlerAdapter implements Transport {
  private final Channel channel;
  private final UpstreamOrigin origin;
  private final LoopConnectionPool pool;
  private @Nullable UpstreamExchange exchange;
  private long idleSince;
  private int exchangesServed;

  Http1Connection(Channel channel, UpstreamOrigin origin, LoopConnectionPool pool) {
    this.channel = channel;
    this.origin = origin;
    this.pool = pool;
  }

  @Override
  public Channel channel() {
    return channel;
  }

  UpstreamOrigin origin() {
    return origin;
  }

  /** Binds the connection to {@code next}; returns whether it served an exchange before. */
  boolean assign(UpstreamExchange next) {
    exchange = next;
    return exchangesServed++ > 0;
  }

  @Override
  public void complete(boolean reusable) {
    exchange = null;
    if (reusable) {
      pool.release(this, System.nanoTime());
    } else {
      channel.close();
    }
  }

  @Override
  public void abort() {
    exchange = null;
    channel.close();
  }

  long idleSince() {
    return idleSince;
  }

  void idleSince(long nanos) {
    idleSince = nanos;
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    UpstreamExchange current = exchange;
    if (current == null) {
      // Bytes on an idle connection: the server is confused or closing; never reuse it.
      ReferenceCountUtil.release(msg);
      ctx.close();
      return;
    }
    current.onMessage(msg);
  }

  @Override
  public void channelReadComplete(ChannelHandlerContext ctx) {
    UpstreamExchange current = exchange;
    if (current != null) {
      current.onReadComplete();
    }
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) {
    pool.closed(this);
    UpstreamExchange current = exchange;
    exchange = null;
    if (current != null) {
      current.onTransportClosed(this, null);
    }
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    UpstreamExchange current = exchange;
    exchange = null;
    ctx.close();
    if (current != null) {
      current.onTransportClosed(this, cause);
    }
  }
}
