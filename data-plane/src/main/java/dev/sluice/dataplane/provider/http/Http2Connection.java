package dev.sluice.dataplane.provider.http;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.codec.http2.DefaultHttp2WindowUpdateFrame;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2GoAwayFrame;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2Settings;
import io.netty.handler.codec.http2.Http2SettingsFrame;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamChannelBootstrap;
import io.netty.handler.codec.http2.Http2StreamFrameToHttpObjectCodec;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.Future;

/**
 * One HTTP/2 connection, shared by the exchanges of its pool: each exchange opens a stream on it.
 * The last handler of the connection's pipeline, where it sees the connection-level frames
 * (settings, GOAWAY) the multiplexer passes on. Confined to the channel's event loop.
 *
 * <p>Flow control: each stream's receive window ({@value #STREAM_WINDOW} bytes) is only replenished
 * as its exchange reads (stream channels do not auto-read), so a paused stream stops its sender
 * while the other streams of the connection go on; the connection window is raised to {@value
 * #CONNECTION_WINDOW} bytes so that one paused stream cannot starve the others. Unlike an HTTP/1.1
 * connection, the connection itself reads continuously: it must see pings, settings and the other
 * streams' frames.
 */
final class Http2Connection extends ChannelInboundHandlerAdapter {
  static final int STREAM_WINDOW = 256 * 1024;
  static final int CONNECTION_WINDOW = 16 * 1024 * 1024;
  private static final int DEFAULT_WINDOW = 65_535;

  private final Channel channel;
  private final UpstreamOrigin origin;
  private final LoopConnectionPool pool;
  private long maxStreams = 100; // until the server's settings say otherwise
  private int activeStreams;
  private boolean goingAway;
  private long idleSince = System.nanoTime();
  private boolean servedBefore;

  private Http2Connection(Channel channel, UpstreamOrigin origin, LoopConnectionPool pool) {
    this.channel = channel;
    this.origin = origin;
    this.pool = pool;
  }

  /** Turns {@code channel}'s pipeline into an HTTP/2 client and returns the connection. */
  static Http2Connection install(
      Channel channel, UpstreamOrigin origin, LoopConnectionPool pool, int maxHeaderBytes) {
    Http2Connection connection = new Http2Connection(channel, origin, pool);
    ChannelPipeline p = channel.pipeline();
    p.addLast(
        "h2",
        Http2FrameCodecBuilder.forClient()
            .initialSettings(
                Http2Settings.defaultSettings()
                    .pushEnabled(false)
                    .initialWindowSize(STREAM_WINDOW)
                    .maxHeaderListSize(maxHeaderBytes))
            .build());
    p.addLast("h2-streams", new Http2MultiplexHandler(new ChannelInboundHandlerAdapter()));
    p.addLast("h2-connection", connection);
    // The connection reads all the time; each stream reads on demand.
    channel.config().setAutoRead(true);
    channel.writeAndFlush(new DefaultHttp2WindowUpdateFrame(CONNECTION_WINDOW - DEFAULT_WINDOW));
    return connection;
  }

  Channel channel() {
    return channel;
  }

  UpstreamOrigin origin() {
    return origin;
  }

  /** Whether a new stream may be opened now. */
  boolean usable() {
    return channel.isActive() && !goingAway && activeStreams < maxStreams;
  }

  boolean idle() {
    return activeStreams == 0;
  }

  long idleSince() {
    return idleSince;
  }

  /** Opens a stream for {@code exchange}; returns whether this connection served a stream before. */
  boolean open(UpstreamExchange exchange, int maxHeaderBytes) {
    activeStreams++;
    boolean reused = servedBefore;
    servedBefore = true;
    Http2Stream stream = new Http2Stream(exchange);
    Future<Http2StreamChannel> opened =
        new Http2StreamChannelBootstrap(channel)
            .option(ChannelOption.AUTO_READ, false)
            .handler(
                new ChannelInitializer<Http2StreamChannel>() {
                  @Override
                  protected void initChannel(Http2StreamChannel ch) {
                    ch.pipeline().addLast(new Http2StreamFrameToHttpObjectCodec(false, false));
                    ch.pipeline().addLast(stream);
                  }
                })
            .open();
    opened.addListener(
        f -> {
          if (f.isSuccess()) {
            Http2StreamChannel ch = (Http2StreamChannel) f.getNow();
            ch.closeFuture().addListener(c -> streamClosed());
            exchange.streamOpened(stream);
          } else {
            streamClosed();
            exchange.streamFailed(this, f.cause());
          }
        });
    return reused;
  }

  private void streamClosed() {
    activeStreams--;
    if (activeStreams == 0) {
      idleSince = System.nanoTime();
    }
    // A queued exchange (the origin at its connection bound) may take the freed stream.
    pool.streamClosed(this);
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    try {
      if (msg instanceof Http2SettingsFrame settings) {
        Long max = settings.settings().maxConcurrentStreams();
        if (max != null) {
          maxStreams = max;
        }
      } else if (msg instanceof Http2GoAwayFrame) {
        // Streams above the last id are reset by the codec; no new ones go here.
        goingAway = true;
      }
    } finally {
      ReferenceCountUtil.release(msg);
    }
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) {
    pool.closed(this);
    ctx.fireChannelInactive();
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    ctx.close();
  }
}
