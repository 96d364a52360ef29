package dev.sluice.testing.fakes;

import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.codec.http.HttpServerUpgradeHandler;
import io.netty.handler.codec.http2.CleartextHttp2ServerUpgradeHandler;
import io.netty.handler.codec.http2.Http2FrameCodec;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2Settings;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamFrameToHttpObjectCodec;
import io.netty.handler.ssl.ApplicationProtocolNames;
import io.netty.handler.ssl.ApplicationProtocolNegotiationHandler;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.ssl.SslContext;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;
import java.util.function.Function;
import org.jspecify.annotations.Nullable;

/**
 * The HTTP/1.1 server under every fake: Netty on 127.0.0.1 with an ephemeral port, keep-alive,
 * request recording, connection counting, and {@link ScriptedResponse}s played step by step.
 *
 * <p>Streamed bodies respect the client's flow control the way a real server does: when the
 * connection stops being writable (the client stopped reading and the buffers filled), the
 * player waits for it to drain, and counts that as a stall.
 */
final class ScriptedHttpServer implements AutoCloseable {
  private static final ObjectMapper JSON = new ObjectMapper();

  private final EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
  private final Channel serverChannel;
  private final Function<RecordedRequest, ScriptedResponse> responder;
  private final List<RecordedRequest> requests = new CopyOnWriteArrayList<>();
  private final AtomicInteger connectionsOpened = new AtomicInteger();
  private final AtomicInteger connectionsClosed = new AtomicInteger();
  private final AtomicInteger stalls = new AtomicInteger();
  private final AtomicLong chunksWritten = new AtomicLong();
  private final AtomicInteger abortedResponses = new AtomicInteger();

  ScriptedHttpServer(
      Function<RecordedRequest, ScriptedResponse> responder,
      @Nullable SslContext tls,
      int socketSendBufferBytes) {
    this(responder, tls, socketSendBufferBytes, false);
  }

  /**
   * @param http2 whether to speak HTTP/2 as well: over TLS by ALPN ({@code tls} must then offer
   *     {@code h2}), in plaintext with prior knowledge ({@code h2c}); HTTP/1.1 clients are served
   *     either way
   */
  ScriptedHttpServer(
      Function<RecordedRequest, ScriptedResponse> responder,
      @Nullable SslContext tls,
      int socketSendBufferBytes,
      boolean http2) {
    this.responder = requireNonNull(responder, "responder");
    ServerBootstrap bootstrap =
        new ServerBootstrap()
            .group(group)
            .channel(NioServerSocketChannel.class)
            .childOption(ChannelOption.TCP_NODELAY, true)
            .childOption(
                ChannelOption.WRITE_BUFFER_WATER_MARK, new WriteBufferWaterMark(8 * 1024, 32 * 1024))
            .childHandler(
                new ChannelInitializer<SocketChannel>() {
                  @Override
                  protected void initChannel(SocketChannel ch) {
                    int id = connectionsOpened.incrementAndGet();
                    ch.closeFuture().addListener(f -> connectionsClosed.incrementAndGet());
                    if (tls != null) {
                      ch.pipeline().addLast(tls.newHandler(ch.alloc()));
                      if (http2) {
                        ch.pipeline()
                            .addLast(
                                new ApplicationProtocolNegotiationHandler(
                                    ApplicationProtocolNames.HTTP_1_1) {
                                  @Override
                                  protected void configurePipeline(ChannelHandlerContext ctx, String protocol) {
                                    if (ApplicationProtocolNames.HTTP_2.equals(protocol)) {
                                      ctx.pipeline().addLast(http2Codec(), http2Streams(id));
                                    } else {
                                      addHttp1(ctx.pipeline(), id);
                                    }
                                  }
                                });
                        return;
                      }
                      addHttp1(ch.pipeline(), id);
                      return;
                    }
                    if (http2) {
                      // The preface tells h2c with prior knowledge from HTTP/1.1.
                      HttpServerCodec http1 = new HttpServerCodec();
                      ch.pipeline()
                          .addLast(
                              new CleartextHttp2ServerUpgradeHandler(
                                  http1,
                                  new HttpServerUpgradeHandler(http1, protocol -> null),
                                  new ChannelInitializer<Channel>() {
                                    @Override
                                    protected void initChannel(Channel c) {
                                      c.pipeline().addLast(http2Codec(), http2Streams(id));
                                    }
                                  }))
                          .addLast(new HttpObjectAggregator(64 << 20))
                          .addLast(new Handler(id));
                      return;
                    }
                    addHttp1(ch.pipeline(), id);
                  }
                });
    if (socketSendBufferBytes > 0) {
      bootstrap.childOption(ChannelOption.SO_SNDBUF, socketSendBufferBytes);
    }
    try {
      serverChannel = bootstrap.bind("127.0.0.1", 0).sync().channel();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      group.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS);
      throw new IllegalStateException("interrupted while binding", e);
    }
  }

  private void addHttp1(ChannelPipeline pipeline, int id) {
    pipeline
        .addLast(new HttpServerCodec())
        .addLast(new HttpObjectAggregator(64 << 20))
        .addLast(new Handler(id));
  }

  private static Http2FrameCodec http2Codec() {
    return Http2FrameCodecBuilder.forServer()
        .initialSettings(Http2Settings.defaultSettings().maxConcurrentStreams(1000))
        .build();
  }

  /** Each HTTP/2 stream gets the same handler an HTTP/1.1 connection has, via the codec. */
  private Http2MultiplexHandler http2Streams(int id) {
    return new Http2MultiplexHandler(
        new ChannelInitializer<Http2StreamChannel>() {
          @Override
          protected void initChannel(Http2StreamChannel ch) {
            ch.pipeline()
                .addLast(new Http2StreamFrameToHttpObjectCodec(true))
                .addLast(new HttpObjectAggregator(64 << 20))
                .addLast(new Handler(id));
          }
        });
  }

  int port() {
    return ((InetSocketAddress) serverChannel.localAddress()).getPort();
  }

  List<RecordedRequest> requests() {
    return Collections.unmodifiableList(new ArrayList<>(requests));
  }

  int connectionsOpened() {
    return connectionsOpened.get();
  }

  int connectionsClosed() {
    return connectionsClosed.get();
  }

  int stalls() {
    return stalls.get();
  }

  long chunksWritten() {
    return chunksWritten.get();
  }

  int abortedResponses() {
    return abortedResponses.get();
  }

  RecordedRequest takeRequest(int index, Duration timeout) {
    awaitCondition(() -> requests.size() > index, timeout, "request #" + (index + 1));
    return requests.get(index);
  }

  static void awaitCondition(BooleanSupplier condition, Duration timeout, String what) {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() - deadline > 0) {
        throw new AssertionError("timed out after " + timeout + " waiting for " + what);
      }
      try {
        Thread.sleep(2);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new AssertionError("interrupted waiting for " + what, e);
      }
    }
  }

  @Override
  public void close() {
    serverChannel.close().awaitUninterruptibly(5, TimeUnit.SECONDS);
    group.shutdownGracefully(0, 2, TimeUnit.SECONDS).awaitUninterruptibly(10, TimeUnit.SECONDS);
  }

  private static RecordedRequest record(FullHttpRequest request, int connectionId) {
    String uri = request.uri();
    int q = uri.indexOf('?');
    Map<String, List<String>> headers = new LinkedHashMap<>();
    for (Map.Entry<String, String> h : request.headers()) {
      headers
          .computeIfAbsent(h.getKey().toLowerCase(Locale.ROOT), k -> new ArrayList<>())
          .add(h.getValue());
    }
    String body = request.content().toString(StandardCharsets.UTF_8);
    JsonNode json = null;
    if (!body.isEmpty()) {
      try {
        json = JSON.readTree(body);
      } catch (Exception notJson) {
        json = null;
      }
    }
    return new RecordedRequest(
        request.method().name(),
        q < 0 ? uri : uri.substring(0, q),
        q < 0 ? "" : uri.substring(q + 1),
        headers,
        body,
        json,
        connectionId);
  }

  /** Per-connection handler: records, asks the responder, plays the answer. */
  private final class Handler extends SimpleChannelInboundHandler<FullHttpRequest> {
    private final int connectionId;
    private @Nullable Player player;

    Handler(int connectionId) {
      this.connectionId = connectionId;
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest request) {
      RecordedRequest recorded = record(request, connectionId);
      requests.add(recorded);
      boolean keepAlive = HttpUtil.isKeepAlive(request);
      ScriptedResponse response;
      try {
        response = responder.apply(recorded);
      } catch (RuntimeException e) {
        response =
            ScriptedResponse.Full.json(
                500, List.of(), "{\"error\":{\"message\":\"fake server script failed: "
                    + e.getClass().getSimpleName() + "\",\"type\":\"server_error\"}}");
      }
      if (response instanceof ScriptedResponse.Full full) {
        DefaultFullHttpResponse out =
            new DefaultFullHttpResponse(
                HttpVersion.HTTP_1_1,
                HttpResponseStatus.valueOf(full.status()),
                Unpooled.wrappedBuffer(full.body()));
        full.headers().forEach(h -> out.headers().add(h.getKey(), h.getValue()));
        out.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, full.body().length);
        if (!keepAlive) {
          out.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
        }
        var write = ctx.writeAndFlush(out);
        if (!keepAlive) {
          write.addListener(ChannelFutureListener.CLOSE);
        }
      } else if (response instanceof ScriptedResponse.Streamed streamed) {
        DefaultHttpResponse out =
            new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.valueOf(streamed.status()));
        streamed.headers().forEach(h -> out.headers().add(h.getKey(), h.getValue()));
        HttpUtil.setTransferEncodingChunked(out, true);
        if (!keepAlive) {
          out.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
        }
        ctx.writeAndFlush(out);
        player = new Player(ctx, streamed.steps().iterator(), keepAlive);
        player.run();
      } else if (response instanceof ScriptedResponse.Reset) {
        resetConnection(ctx);
      }
      // Hang: nothing at all.
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
      Player p = player;
      if (p != null && p.waitingForWritability && ctx.channel().isWritable()) {
        p.waitingForWritability = false;
        p.run();
      }
      ctx.fireChannelWritabilityChanged();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
      // A streamed response still playing when its connection (or HTTP/2 stream) went away:
      // the client aborted it (or the script broke it).
      if (player != null) {
        player = null;
        abortedResponses.incrementAndGet();
      }
      ctx.fireChannelInactive();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
      ctx.close();
    }

    /** Plays the steps of one streamed body on the connection's event loop. */
    private final class Player implements Runnable {
      private final ChannelHandlerContext ctx;
      private final Iterator<ScriptedResponse.Step> steps;
      private final boolean keepAlive;
      boolean waitingForWritability;

      Player(ChannelHandlerContext ctx, Iterator<ScriptedResponse.Step> steps, boolean keepAlive) {
        this.ctx = ctx;
        this.steps = steps;
        this.keepAlive = keepAlive;
      }

      @Override
      public void run() {
        int budget = 256; // then yield the loop, so other connections progress too
        while (ctx.channel().isActive()) {
          if (!ctx.channel().isWritable()) {
            stalls.incrementAndGet();
            waitingForWritability = true;
            return;
          }
          if (!steps.hasNext()) {
            end();
            return;
          }
          ScriptedResponse.Step step = steps.next();
          if (step instanceof ScriptedResponse.Step.Write w) {
            ctx.writeAndFlush(new DefaultHttpContent(Unpooled.wrappedBuffer(w.bytes())));
            chunksWritten.incrementAndGet();
            if (--budget == 0) {
              ctx.executor().execute(this);
              return;
            }
          } else if (step instanceof ScriptedResponse.Step.Pause p) {
            ctx.executor().schedule(this, p.nanos(), TimeUnit.NANOSECONDS);
            return;
          } else if (step instanceof ScriptedResponse.Step.End) {
            end();
            return;
          } else if (step instanceof ScriptedResponse.Step.Close) {
            ctx.flush();
            // HTTP/2: the connection goes away (not just the stream), as with HTTP/1.1.
            if (ctx.channel() instanceof Http2StreamChannel stream) {
              stream.parent().close();
            } else {
              ctx.close();
            }
            return;
          } else if (step instanceof ScriptedResponse.Step.Reset) {
            resetConnection(ctx);
            return;
          } else if (step instanceof ScriptedResponse.Step.Hang) {
            return;
          }
        }
      }

      private void end() {
        var write = ctx.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT);
        player = null;
        if (!keepAlive) {
          write.addListener(ChannelFutureListener.CLOSE);
        }
      }
    }
  }

  private static void resetConnection(ChannelHandlerContext ctx) {
    ctx.flush();
    if (ctx.channel() instanceof Http2StreamChannel) {
      // Closing an unfinished HTTP/2 stream sends RST_STREAM: the stream is reset, the
      // connection lives on.
      ctx.channel().close();
      return;
    }
    // Linger 0 makes close() send RST instead of FIN: a crash or a proxy killing the stream.
    ctx.channel().config().setOption(ChannelOption.SO_LINGER, 0);
    ctx.channel().close();
  }
}
