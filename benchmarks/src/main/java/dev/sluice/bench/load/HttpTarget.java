package dev.sluice.bench.load;

import static java.nio.charset.StandardCharsets.UTF_8;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseDecoder;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.ReferenceCountUtil;
import java.net.InetSocketAddress;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.jspecify.annotations.Nullable;

/**
 * Sends OpenAI-compatible requests ({@code POST /v1/chat/completions}, JSON or SSE, and {@code POST
 * /v1/embeddings}) over a fixed pool of HTTP/1.1 keep-alive connections, one request at a time per
 * connection, as wrk does, on native epoll where available. A call that finds no free connection
 * waits in a queue; in the open loop that wait counts in its latency, measured from the scheduled
 * send time.
 *
 * <p>The request, headers and body, is encoded once and written as a shared read-only buffer; the
 * response is decoded by Netty's {@link HttpResponseDecoder} and SSE tokens are counted by a
 * byte-level {@link SseTokenScanner}. This keeps the client much cheaper than what it measures.
 */
final class HttpTarget implements LoadTarget {
  private final EventLoopGroup group;
  private final InetSocketAddress address;
  private final ByteBuf request;
  private final boolean streaming;
  private final List<Connection> all = new ArrayList<>();

  /** Guarded by {@code this}. */
  private final ArrayDeque<Connection> idle = new ArrayDeque<>();

  /** Guarded by {@code this}. */
  private final ArrayDeque<CallSink> pending = new ArrayDeque<>();

  private volatile boolean closed;
  private final @Nullable ScheduledExecutorService pacer;

  /** Errors are counted by status; the first few are also printed. */
  private final AtomicInteger errorSamples = new AtomicInteger();

  HttpTarget(
      InetSocketAddress address,
      String basePath,
      int connections,
      int eventLoopThreads,
      CallKind kind,
      String model,
      int maxTokens,
      Map<String, String> headers) {
    this.address = address;
    this.streaming = kind.streaming();
    boolean epoll = Epoll.isAvailable();
    this.group =
        new MultiThreadIoEventLoopGroup(
            eventLoopThreads, epoll ? EpollIoHandler.newFactory() : NioIoHandler.newFactory());
    // The same transport and pacing as RawGrpcTarget, so that the gateway and its baseline are
    // driven alike. NIO's timers are too coarse (1 ms) to pace with.
    this.pacer = epoll && eventLoopThreads == 1 ? group.next() : null;
    this.request =
        Unpooled.unreleasableBuffer(
            Unpooled.wrappedBuffer(encode(address, basePath, kind, model, maxTokens, headers))
                .asReadOnly());
    Bootstrap bootstrap =
        new Bootstrap()
            .group(group)
            .channel(epoll ? EpollSocketChannel.class : NioSocketChannel.class)
            .option(ChannelOption.TCP_NODELAY, true)
            .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, 5_000);
    List<ChannelFuture> connecting = new ArrayList<>();
    for (int i = 0; i < connections; i++) {
      Connection c = new Connection(bootstrap);
      all.add(c);
      connecting.add(c.connect());
    }
    for (ChannelFuture f : connecting) {
      if (!f.awaitUninterruptibly(10, TimeUnit.SECONDS) || !f.isSuccess()) {
        close();
        throw new IllegalStateException("cannot connect to " + address, f.cause());
      }
    }
  }

  /** The whole HTTP/1.1 request, headers and body, for one call kind. */
  static byte[] encode(
      InetSocketAddress address,
      String basePath,
      CallKind kind,
      String model,
      int maxTokens,
      Map<String, String> headers) {
    String body =
        switch (kind) {
          case EMBED ->
              "{\"model\":\""
                  + model
                  + "\",\"input\":\"The quick brown fox jumps over the lazy dog.\"}";
          case CHAT, STREAM ->
              "{\"model\":\""
                  + model
                  + "\",\"messages\":[{\"role\":\"system\",\"content\":\"You are a helpful"
                  + " assistant.\"},{\"role\":\"user\",\"content\":\"Say hello in sixteen"
                  + " tokens.\"}],\"max_tokens\":"
                  + maxTokens
                  + (kind == CallKind.STREAM
                      ? ",\"stream\":true,\"stream_options\":{\"include_usage\":true}"
                      : "")
                  + "}";
        };
    String base = basePath.endsWith("/") ? basePath.substring(0, basePath.length() - 1) : basePath;
    String path = base + (kind == CallKind.EMBED ? "/embeddings" : "/chat/completions");
    byte[] bodyBytes = body.getBytes(UTF_8);
    StringBuilder h = new StringBuilder(512);
    h.append("POST ").append(path).append(" HTTP/1.1\r\n");
    h.append("host: ")
        .append(address.getHostString())
        .append(':')
        .append(address.getPort())
        .append("\r\n");
    h.append("content-type: application/json\r\n");
    h.append("accept: ")
        .append(kind == CallKind.STREAM ? "text/event-stream" : "application/json")
        .append("\r\n");
    h.append("content-length: ").append(bodyBytes.length).append("\r\n");
    boolean auth = false;
    for (Map.Entry<String, String> e : headers.entrySet()) {
      h.append(e.getKey()).append(": ").append(e.getValue()).append("\r\n");
      auth |= e.getKey().equalsIgnoreCase("authorization");
    }
    if (!auth) {
      h.append("authorization: Bearer sk-bench\r\n");
    }
    h.append("\r\n");
    byte[] head = h.toString().getBytes(UTF_8);
    byte[] all = new byte[head.length + bodyBytes.length];
    System.arraycopy(head, 0, all, 0, head.length);
    System.arraycopy(bodyBytes, 0, all, head.length, bodyBytes.length);
    return all;
  }

  @Override
  public void start(CallSink sink) {
    Connection c;
    synchronized (this) {
      c = idle.poll();
      if (c == null) {
        pending.add(sink);
        return;
      }
    }
    c.dispatch(sink);
  }

  @Override
  public @Nullable ScheduledExecutorService pacer() {
    return pacer;
  }

  /** A connection finished its call (or reconnected): give it the next queued call, or park it. */
  private void release(Connection c) {
    CallSink next;
    synchronized (this) {
      if (closed) {
        return;
      }
      next = pending.poll();
      if (next == null) {
        idle.add(c);
        return;
      }
    }
    c.dispatch(next);
  }

  @Override
  public void close() {
    closed = true;
    for (Connection c : all) {
      c.closeNow();
    }
    List<CallSink> left;
    synchronized (this) {
      left = new ArrayList<>(pending);
      pending.clear();
      idle.clear();
    }
    long now = System.nanoTime();
    for (CallSink s : left) {
      s.onClose(now, "CANCELLED");
    }
    group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
  }

  /**
   * One keep-alive connection; all its state is confined to its event loop.
   *
   * <p>{@code @Sharable} because a connection that closes is dialled again with the same handler:
   * Netty refuses to add an unshareable handler to a second pipeline, even once the first channel
   * is gone (seen when the upstream dropped connections under thousands of workers: every
   * reconnect failed and the connection was lost). It is in one pipeline at a time.
   */
  @ChannelHandler.Sharable
  private final class Connection extends ChannelInboundHandlerAdapter {
    private final Bootstrap bootstrap;

    /** Written on reconnect by the event loop, read by callers of {@link #dispatch}. */
    private volatile @Nullable Channel channel;

    private @Nullable CallSink current;
    private @Nullable SseTokenScanner scanner;
    private @Nullable String failure;
    /** The current response said {@code Connection: close}: do not send another call on it. */
    private boolean closing;

    Connection(Bootstrap bootstrap) {
      this.bootstrap = bootstrap;
    }

    ChannelFuture connect() {
      ChannelFuture f =
          bootstrap
              .clone()
              .handler(
                  new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                      ch.pipeline().addLast(new HttpResponseDecoder(), Connection.this);
                    }
                  })
              .connect(address);
      channel = f.channel();
      f.addListener(
          (ChannelFuture done) -> {
            if (done.isSuccess()) {
              release(this);
            } else if (!closed) {
              // Reconnect after a short pause rather than spinning against a dead server.
              group.next().schedule(this::connect, 100, TimeUnit.MILLISECONDS);
            }
          });
      return f;
    }

    void dispatch(CallSink sink) {
      Channel ch = channel;
      if (ch == null) {
        requeue(sink);
      } else if (ch.eventLoop().inEventLoop()) {
        send(ch, sink);
      } else {
        ch.eventLoop().execute(() -> send(ch, sink));
      }
    }

    /** The connection dropped between being picked and sending: the call waits for the next one. */
    private void requeue(CallSink sink) {
      synchronized (HttpTarget.this) {
        pending.addFirst(sink);
      }
    }

    private void send(Channel ch, CallSink sink) {
      if (!ch.isActive()) {
        requeue(sink); // channelInactive already ran or will run and reconnect
        return;
      }
      current = sink;
      failure = null;
      scanner = streaming ? new SseTokenScanner(() -> sink.onToken(System.nanoTime())) : null;
      ch.writeAndFlush(request.duplicate(), ch.voidPromise());
      sink.onSent(System.nanoTime());
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      try {
        if (current == null) {
          return; // the rest of a response whose call already failed
        }
        if (msg instanceof HttpResponse r) {
          closing = !HttpUtil.isKeepAlive(r);
          if (r.decoderResult().isFailure()) {
            end(ctx, "BAD_RESPONSE", true);
            return;
          }
          if (r.status().code() != 200) {
            // The call ends at LastHttpContent, which keeps the connection's framing in step.
            failure = "HTTP_" + r.status().code();
            if (errorSamples.getAndIncrement() < 3) {
              System.err.println("sample error: HTTP " + r.status());
            }
            scanner = null;
          }
        }
        if (msg instanceof HttpContent c) {
          SseTokenScanner s = scanner;
          if (s != null) {
            s.feed(c.content());
          }
          if (msg instanceof LastHttpContent) {
            String f = failure;
            // A server that closes after this response: reconnect instead of racing its FIN.
            end(
                ctx,
                f != null ? f : s != null && !s.done() ? "STREAM_INCOMPLETE" : CallSink.OK,
                closing);
          }
        }
      } finally {
        ReferenceCountUtil.release(msg);
      }
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
      CallSink sink = current;
      current = null;
      scanner = null;
      if (sink != null) {
        sink.onClose(System.nanoTime(), "IO_ERROR");
      }
      synchronized (HttpTarget.this) {
        idle.remove(this);
      }
      if (!closed) {
        connect();
      }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
      end(ctx, "IO_ERROR", true);
    }

    /**
     * Ends the current call; a broken or closing connection is closed and reconnects, a good one is
     * reused.
     */
    private void end(ChannelHandlerContext ctx, String outcome, boolean close) {
      CallSink sink = current;
      current = null;
      scanner = null;
      if (sink != null) {
        sink.onClose(System.nanoTime(), outcome);
      }
      if (close) {
        ctx.close();
      } else {
        release(this);
      }
    }

    void closeNow() {
      Channel ch = channel;
      if (ch != null) {
        ch.close().awaitUninterruptibly(1, TimeUnit.SECONDS);
      }
    }
  }
}
