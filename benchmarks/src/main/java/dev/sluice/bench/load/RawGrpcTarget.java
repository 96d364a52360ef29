package dev.sluice.bench.load;

import dev.sluice.inference.v1.EmbedRequest;
import dev.sluice.inference.v1.InferenceServiceGrpc;
import dev.sluice.inference.v1.StreamChatRequest;
import io.grpc.Status;
import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.http2.DefaultHttp2Connection;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.Http2CodecUtil;
import io.netty.handler.codec.http2.Http2Connection;
import io.netty.handler.codec.http2.Http2ConnectionHandler;
import io.netty.handler.codec.http2.Http2ConnectionHandlerBuilder;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2EventAdapter;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2Settings;
import io.netty.handler.codec.http2.Http2Stream;
import io.netty.util.AsciiString;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import org.jspecify.annotations.Nullable;

/**
 * Sends calls to Sluice's {@code InferenceService} as hand-built gRPC over Netty's HTTP/2 codec:
 * the request (HEADERS and the length-prefixed protobuf DATA) is encoded once, and a response is
 * judged by its {@code grpc-status} trailer without decoding the messages. A lean client, so that
 * the load generator can offer ~10,000 calls/s open loop on a core it shares with the fake upstream
 * and still measure the gateway rather than its own queueing; {@link GrpcTarget} (grpc-java) is the
 * reference it was checked against.
 *
 * <p>A call is {@link LoadTarget.CallSink#OK} only when its trailers (or trailers-only HEADERS)
 * carry {@code grpc-status: 0} after a response with {@code :status 200}, and, for unary calls,
 * exactly one response message; any other status counts under its code name, as grpc-java reports
 * it ({@code NOT_FOUND}, ...), a non-200 response as {@code HTTP_<code>}, a reset stream by the
 * code grpc-java maps it to, a lost connection as {@code UNAVAILABLE}. Stream tokens are content
 * deltas found by {@link GrpcMessageScanner#isContentToken}.
 *
 * <p>Calls are spread round-robin over a few connections, each confined to one event loop (native
 * epoll where available). HTTP/2 flow control is Netty's; a call that finds the server's {@code
 * MAX_CONCURRENT_STREAMS} reached (or its connection not ready) waits in the connection's queue and
 * is sent when a stream closes: it is never dropped, the wait counts in its latency (open loop) and
 * {@link #queuedCalls()} reports how many waited. With one event-loop thread on epoll, that loop is
 * also the open loop's {@link #pacer()}: calls are started by its timers and written at once,
 * without a hand-off between threads.
 */
final class RawGrpcTarget implements LoadTarget {
  private static final AsciiString GRPC_STATUS = AsciiString.cached("grpc-status");
  private static final AsciiString GRPC_MESSAGE = AsciiString.cached("grpc-message");
  private static final AsciiString OK_STATUS = AsciiString.cached("200");
  private static final int MAX_MESSAGE_BYTES = 64 << 20;
  private static final int WINDOW = 1 << 20;
  private static final int MAX_ERROR_SAMPLES = 3;

  private final EventLoopGroup group;
  private final Class<? extends SocketChannel> channelType;
  private final InetSocketAddress address;
  private final boolean unary;
  private final boolean streaming;
  private final Http2Headers requestHeaders;
  private final ByteBuf body;
  private final List<Connection> connections = new ArrayList<>();
  private final AtomicInteger next = new AtomicInteger();
  private final LongAdder queued = new LongAdder();
  private final @Nullable ScheduledExecutorService pacer;
  private final AtomicInteger errorSamples = new AtomicInteger();
  private volatile boolean closed;

  RawGrpcTarget(
      InetSocketAddress address,
      int connections,
      int eventLoopThreads,
      CallKind kind,
      String model,
      int maxTokens,
      Map<String, String> headers,
      Duration deadline) {
    this.address = address;
    this.unary = !kind.streaming();
    this.streaming = kind.streaming();
    boolean epoll = Epoll.isAvailable();
    this.group =
        new MultiThreadIoEventLoopGroup(
            eventLoopThreads, epoll ? EpollIoHandler.newFactory() : NioIoHandler.newFactory());
    this.channelType = epoll ? EpollSocketChannel.class : NioSocketChannel.class;
    this.requestHeaders = requestHeaders(address, kind, headers, deadline);
    this.body =
        Unpooled.unreleasableBuffer(
            Unpooled.wrappedBuffer(frame(requestMessage(kind, model, maxTokens))).asReadOnly());
    for (int i = 0; i < connections; i++) {
      this.connections.add(new Connection(group.next()));
    }
    // Timers on NIO's selector have millisecond granularity: too coarse to pace calls with.
    this.pacer = epoll && eventLoopThreads == 1 ? this.connections.get(0).loop : null;
    // Connected and past the SETTINGS exchange before the run, so that MAX_CONCURRENT_STREAMS is
    // known and neither connection set-up nor class loading falls into the schedule.
    for (Connection c : this.connections) {
      c.connect();
    }
    for (Connection c : this.connections) {
      try {
        c.firstReady.get(10, TimeUnit.SECONDS);
      } catch (Exception e) {
        close();
        throw new IllegalStateException("cannot connect to " + address + " over HTTP/2", e);
      }
    }
  }

  /** Calls that waited for a stream slot or a connection before they were sent. */
  long queuedCalls() {
    return queued.sum();
  }

  private static byte[] requestMessage(CallKind kind, String model, int maxTokens) {
    return switch (kind) {
      case CHAT -> GrpcTarget.chatRequest(model, maxTokens).toByteArray();
      case STREAM ->
          StreamChatRequest.newBuilder()
              .setChat(GrpcTarget.chatRequest(model, maxTokens))
              .build()
              .toByteArray();
      case EMBED ->
          EmbedRequest.newBuilder()
              .setModel(model)
              .addInputs("The quick brown fox jumps over the lazy dog.")
              .build()
              .toByteArray();
    };
  }

  /** One gRPC message on the wire: flag byte 0 (uncompressed), 4-byte big-endian length, bytes. */
  static byte[] frame(byte[] message) {
    byte[] out = new byte[5 + message.length];
    out[1] = (byte) (message.length >>> 24);
    out[2] = (byte) (message.length >>> 16);
    out[3] = (byte) (message.length >>> 8);
    out[4] = (byte) message.length;
    System.arraycopy(message, 0, out, 5, message.length);
    return out;
  }

  /** The request HEADERS of every call; HPACK indexes them all after the first call. */
  static Http2Headers requestHeaders(
      InetSocketAddress address, CallKind kind, Map<String, String> extra, Duration deadline) {
    String method =
        switch (kind) {
          case CHAT -> InferenceServiceGrpc.getChatMethod().getFullMethodName();
          case STREAM -> InferenceServiceGrpc.getStreamChatMethod().getFullMethodName();
          case EMBED -> InferenceServiceGrpc.getEmbedMethod().getFullMethodName();
        };
    Http2Headers h =
        new DefaultHttp2Headers()
            .method("POST")
            .scheme("http")
            .path("/" + method)
            .authority(address.getHostString() + ":" + address.getPort());
    h.add("content-type", "application/grpc");
    h.add("te", "trailers");
    h.add("user-agent", "sluice-loadgen-raw");
    // The same deadline as GrpcTarget's, so that the gateway does the same deadline work per call.
    h.add("grpc-timeout", grpcTimeout(deadline));
    extra.forEach(h::add);
    return h;
  }

  /** gRPC's TimeoutValue: at most 8 digits and a unit. */
  static String grpcTimeout(Duration d) {
    long ms = Math.max(1, d.toMillis());
    if (ms < 100_000_000L) {
      return ms + "m";
    }
    return Math.min(99_999_999L, d.toSeconds()) + "S";
  }

  @Override
  public void start(CallSink sink) {
    connections.get(Math.floorMod(next.getAndIncrement(), connections.size())).submit(sink);
  }

  @Override
  public @Nullable ScheduledExecutorService pacer() {
    return pacer;
  }

  @Override
  public void close() {
    closed = true;
    List<CompletableFuture<Void>> done = new ArrayList<>();
    for (Connection c : connections) {
      CompletableFuture<Void> f = new CompletableFuture<>();
      done.add(f);
      try {
        c.loop.execute(
            () -> {
              c.shutdown();
              f.complete(null);
            });
      } catch (RuntimeException e) {
        f.complete(null); // the loop is already gone
      }
    }
    for (CompletableFuture<Void> f : done) {
      try {
        f.get(5, TimeUnit.SECONDS);
      } catch (Exception e) {
        // shut down below regardless
      }
    }
    group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
  }

  private void sampleError(String what) {
    if (errorSamples.getAndIncrement() < MAX_ERROR_SAMPLES) {
      System.err.println("sample error: " + what);
    }
  }

  /** What grpc-java reports for a stream the server reset (its {@code GrpcUtil.Http2Error}). */
  static String resetOutcome(long errorCode) {
    Http2Error e = Http2Error.valueOf(errorCode);
    if (e == null) {
      return Status.Code.UNKNOWN.name();
    }
    return switch (e) {
      case REFUSED_STREAM -> Status.Code.UNAVAILABLE.name();
      case CANCEL -> Status.Code.CANCELLED.name();
      case ENHANCE_YOUR_CALM -> Status.Code.RESOURCE_EXHAUSTED.name();
      case INADEQUATE_SECURITY -> Status.Code.PERMISSION_DENIED.name();
      case HTTP_1_1_REQUIRED -> Status.Code.UNKNOWN.name();
      default -> Status.Code.INTERNAL.name();
    };
  }

  /** The number in a {@code grpc-status} value, or -1 when absent or not a number. */
  static int parseStatus(@Nullable CharSequence v) {
    if (v == null || v.length() == 0 || v.length() > 3) {
      return -1;
    }
    int n = 0;
    for (int i = 0; i < v.length(); i++) {
      char c = v.charAt(i);
      if (c < '0' || c > '9') {
        return -1;
      }
      n = n * 10 + (c - '0');
    }
    return n;
  }

  /** One call: its sink and what its response has shown so far. Confined to one event loop. */
  private final class Call implements GrpcMessageScanner.Listener {
    final CallSink sink;
    final GrpcMessageScanner scanner;
    boolean sawHeaders;
    @Nullable String httpFailure;
    boolean queuedOnce;
    boolean ended;

    Call(CallSink sink) {
      this.sink = sink;
      this.scanner = new GrpcMessageScanner(streaming ? this : null, MAX_MESSAGE_BYTES);
    }

    @Override
    public void onMessage(ByteBuf message, boolean compressed) {
      // Nothing asks for compression (no grpc-accept-encoding), so none is expected.
      if (!compressed && GrpcMessageScanner.isContentToken(message)) {
        sink.onToken(System.nanoTime());
      }
    }

    void end(long now, String outcome) {
      if (ended) {
        return;
      }
      ended = true;
      scanner.release();
      sink.onClose(now, outcome);
    }

    /** The outcome from the HEADERS that end the response. */
    String outcome(Http2Headers trailers) {
      if (httpFailure != null) {
        return httpFailure;
      }
      int code = parseStatus(trailers.get(GRPC_STATUS));
      if (code != 0) {
        String name =
            code < 0 ? Status.Code.UNKNOWN.name() : Status.fromCodeValue(code).getCode().name();
        sampleError(name + ": " + trailers.get(GRPC_MESSAGE));
        return name;
      }
      if (scanner.malformed() || scanner.midMessage() || (unary && scanner.messages() != 1)) {
        // grpc-java fails such a call with INTERNAL ("No value received for unary call", ...).
        sampleError("INTERNAL: status 0 after " + scanner.messages() + " message(s)");
        return Status.Code.INTERNAL.name();
      }
      return CallSink.OK;
    }
  }

  /**
   * One logical connection: the calls waiting for it and its current HTTP/2 session, reconnected
   * (after 100 ms) when lost. Everything but {@link #submit} runs on its event loop.
   */
  private final class Connection implements Runnable {
    final EventLoop loop;
    final CompletableFuture<Void> firstReady = new CompletableFuture<>();

    /** Calls handed over by the load thread; drained by {@link #run} on the loop. */
    private final Queue<CallSink> incoming = new ConcurrentLinkedQueue<>();

    private final AtomicBoolean drainScheduled = new AtomicBoolean();

    /** Calls waiting for a stream slot or for the session to become ready, in arrival order. */
    private final ArrayDeque<Call> waiting = new ArrayDeque<>();

    /** Calls written by the current drain, told {@code onSent} after the one flush. */
    private final ArrayList<Call> batch = new ArrayList<>();

    private final Runnable releaseWaiting = this::releaseWaiting;
    private @Nullable Session session;

    Connection(EventLoop loop) {
      this.loop = loop;
    }

    void submit(CallSink sink) {
      if (loop.inEventLoop()) {
        // Started by the pacer, on this loop: written at once.
        Call c = new Call(sink);
        if (closed) {
          c.end(System.nanoTime(), "CANCELLED");
        } else if (!waiting.isEmpty() || !trySend(c)) {
          wait(c);
        }
        flush();
        return;
      }
      incoming.offer(sink);
      // One task per batch of calls, not per call: the load thread wakes the loop only when it is
      // not already about to drain.
      if (drainScheduled.compareAndSet(false, true)) {
        loop.execute(this);
      }
    }

    /** Drains {@link #incoming}: writes what can be sent, flushes once. */
    @Override
    public void run() {
      drainScheduled.set(false);
      CallSink s;
      while ((s = incoming.poll()) != null) {
        Call c = new Call(s);
        if (closed) {
          c.end(System.nanoTime(), "CANCELLED");
        } else if (!waiting.isEmpty() || !trySend(c)) {
          wait(c);
        }
      }
      flush();
    }

    private void wait(Call c) {
      waiting.add(c);
      if (!c.queuedOnce) {
        c.queuedOnce = true;
        queued.increment();
      }
    }

    /** Sends calls that waited, as far as stream slots allow. */
    void releaseWaiting() {
      Call c;
      while ((c = waiting.peek()) != null && !closed && trySend(c)) {
        waiting.poll();
      }
      flush();
    }

    /** Writes {@code c} as a new stream if the session is ready and has a free stream slot. */
    private boolean trySend(Call c) {
      Session s = session;
      if (s == null || !s.canOpenStream()) {
        return false;
      }
      s.write(c);
      batch.add(c);
      return true;
    }

    private void flush() {
      if (batch.isEmpty()) {
        return;
      }
      Session s = session;
      if (s != null) {
        s.flush();
      }
      long now = System.nanoTime();
      for (Call c : batch) {
        c.sink.onSent(now);
      }
      batch.clear();
    }

    void connect() {
      Session s = new Session(this);
      new Bootstrap()
          .group(loop)
          .channel(channelType)
          .option(ChannelOption.TCP_NODELAY, true)
          .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, 5_000)
          .handler(
              new ChannelInitializer<SocketChannel>() {
                @Override
                protected void initChannel(SocketChannel ch) {
                  ch.pipeline()
                      .addLast(
                          s.handler,
                          new ChannelInboundHandlerAdapter() {
                            @Override
                            public void exceptionCaught(
                                ChannelHandlerContext ctx, Throwable cause) {
                              // I/O errors (a reset connection) reach here; HTTP/2 errors are
                              // handled above.
                              sampleError("connection: " + cause);
                              ctx.close();
                            }
                          });
                }
              })
          .connect(address)
          .addListener(
              (ChannelFuture f) -> {
                if (f.isSuccess()) {
                  f.channel().closeFuture().addListener(x -> lost(s));
                } else {
                  retry();
                }
              });
    }

    private void retry() {
      if (!closed) {
        loop.schedule(this::connect, 100, TimeUnit.MILLISECONDS);
      }
    }

    /** The server's SETTINGS arrived: the session may open streams. */
    void ready(Session s) {
      session = s;
      firstReady.complete(null);
      releaseWaiting();
    }

    /** The session's channel closed; its streams have ended or end as it goes inactive. */
    void lost(Session s) {
      if (session == s) {
        session = null;
      }
      retry();
    }

    /** A stream closed: a waiting call may take its slot (after the close has been counted). */
    void streamClosed() {
      if (!waiting.isEmpty()) {
        loop.execute(releaseWaiting);
      }
    }

    /** A GOAWAY arrived: stop opening streams there and replace the session once it is idle. */
    void goingAway(Session s) {
      if (session == s) {
        session = null;
      }
    }

    /** Ends every call still waiting or open with CANCELLED and closes the channel. */
    void shutdown() {
      long now = System.nanoTime();
      CallSink s;
      while ((s = incoming.poll()) != null) {
        s.onClose(now, "CANCELLED");
      }
      Call c;
      while ((c = waiting.poll()) != null) {
        c.end(now, "CANCELLED");
      }
      Session cur = session;
      session = null;
      if (cur != null) {
        cur.closeNow();
      }
    }
  }

  /** One HTTP/2 connection (channel) of a {@link Connection}; all its events run on the loop. */
  private final class Session extends Http2EventAdapter {
    final Connection owner;
    final Http2Connection connection = new DefaultHttp2Connection(false);
    final Http2Connection.PropertyKey callKey = connection.newKey();
    final Http2ConnectionHandler handler;
    private @Nullable ChannelHandlerContext ctx;
    private boolean ready;
    private boolean goingAway;

    Session(Connection owner) {
      this.owner = owner;
      connection.addListener(this);
      this.handler =
          new Http2ConnectionHandlerBuilder()
              .connection(connection)
              .frameListener(this)
              .validateHeaders(false)
              // close() means now: a run that ends abandons the calls still open.
              .gracefulShutdownTimeoutMillis(0)
              .initialSettings(
                  new Http2Settings()
                      .initialWindowSize(WINDOW)
                      .pushEnabled(false)
                      .maxConcurrentStreams(0)
                      .maxHeaderListSize(16 << 10))
              .build();
    }

    ChannelHandlerContext ctx() {
      ChannelHandlerContext c = ctx;
      if (c == null) {
        throw new IllegalStateException("session not active");
      }
      return c;
    }

    /**
     * Writes what the encoder holds: through the handler, since DATA waits in its flow controller
     * until the handler's own flush, which a plain {@code ctx.flush()} would skip.
     */
    void flush() {
      try {
        handler.flush(ctx());
      } catch (Exception e) {
        sampleError("flush: " + e);
      }
    }

    boolean canOpenStream() {
      return ready && !goingAway && connection.local().canOpenStream();
    }

    void write(Call c) {
      ChannelHandlerContext x = ctx();
      int id = connection.local().incrementAndGetNextStreamId();
      if (id < 0) {
        // Stream ids exhausted (after ~10^9 calls): this session takes no more; the call ends.
        goingAway = true;
        c.end(System.nanoTime(), "CLIENT_STREAM_IDS");
        return;
      }
      handler.encoder().writeHeaders(x, id, requestHeaders, 0, false, x.newPromise());
      Http2Stream stream = connection.stream(id);
      if (stream == null) {
        // The encoder refused to open the stream (the write failed at once): nothing will report on
        // it, so the call ends here.
        sampleError("stream " + id + " not opened");
        c.end(System.nanoTime(), Status.Code.UNAVAILABLE.name());
        return;
      }
      stream.setProperty(callKey, c);
      handler.encoder().writeData(x, id, body.duplicate(), 0, true, x.newPromise());
    }

    private @Nullable Call call(int streamId) {
      Http2Stream s = connection.stream(streamId);
      return s == null ? null : s.getProperty(callKey);
    }

    @Override
    public void onSettingsRead(ChannelHandlerContext ctx, Http2Settings settings) {
      if (ready) {
        return;
      }
      ready = true;
      this.ctx = ctx;
      try {
        // A connection window as large as the stream windows, as grpc-java sets it.
        handler
            .decoder()
            .flowController()
            .incrementWindowSize(
                connection.connectionStream(), WINDOW - Http2CodecUtil.DEFAULT_WINDOW_SIZE);
      } catch (Exception e) {
        sampleError("window update: " + e);
      }
      flush();
      owner.ready(this);
    }

    @Override
    public void onHeadersRead(
        ChannelHandlerContext ctx,
        int streamId,
        Http2Headers headers,
        int padding,
        boolean endOfStream) {
      Call c = call(streamId);
      if (c == null) {
        return;
      }
      if (!c.sawHeaders) {
        c.sawHeaders = true;
        CharSequence status = headers.status();
        if (status != null && !OK_STATUS.contentEquals(status)) {
          c.httpFailure = "HTTP_" + status;
          sampleError("HTTP " + status + " on stream " + streamId);
        }
      }
      if (endOfStream) {
        c.end(System.nanoTime(), c.outcome(headers));
      }
    }

    @Override
    public void onHeadersRead(
        ChannelHandlerContext ctx,
        int streamId,
        Http2Headers headers,
        int streamDependency,
        short weight,
        boolean exclusive,
        int padding,
        boolean endOfStream) {
      onHeadersRead(ctx, streamId, headers, padding, endOfStream);
    }

    @Override
    public int onDataRead(
        ChannelHandlerContext ctx, int streamId, ByteBuf data, int padding, boolean endOfStream) {
      int consumed = data.readableBytes() + padding;
      Call c = call(streamId);
      if (c != null && !c.ended) {
        c.scanner.feed(data);
        if (endOfStream) {
          // The stream ended without trailers: no status, as grpc-java judges it.
          sampleError("INTERNAL: stream " + streamId + " ended without trailers");
          c.end(System.nanoTime(), Status.Code.INTERNAL.name());
        }
      }
      return consumed; // handed back to flow control at once
    }

    @Override
    public void onRstStreamRead(ChannelHandlerContext ctx, int streamId, long errorCode) {
      Call c = call(streamId);
      if (c != null) {
        String outcome = resetOutcome(errorCode);
        sampleError(outcome + ": stream " + streamId + " reset with code " + errorCode);
        c.end(System.nanoTime(), outcome);
      }
    }

    @Override
    public void onGoAwayRead(
        ChannelHandlerContext ctx, int lastStreamId, long errorCode, ByteBuf debugData) {
      goingAway = true;
      owner.goingAway(this);
      if (connection.numActiveStreams() == 0) {
        ctx.close();
      }
    }

    @Override
    public void onStreamClosed(Http2Stream stream) {
      Call c = stream.getProperty(callKey);
      if (c != null && !c.ended) {
        // Closed without an answer: the connection was lost, or a GOAWAY refused the stream.
        c.end(System.nanoTime(), closed ? "CANCELLED" : Status.Code.UNAVAILABLE.name());
      }
      ChannelHandlerContext x = ctx;
      if (goingAway && x != null) {
        // Once the count of active streams includes this close: a session going away is replaced
        // when its last stream has ended.
        x.executor()
            .execute(
                () -> {
                  if (connection.numActiveStreams() == 0) {
                    x.close();
                  }
                });
      }
      owner.streamClosed();
    }

    void closeNow() {
      ChannelHandlerContext c = ctx;
      if (c != null) {
        c.channel().close();
      }
    }
  }
}
