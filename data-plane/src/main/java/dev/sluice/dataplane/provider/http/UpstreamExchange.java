package dev.sluice.dataplane.provider.http;

import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.EventLoop;
import io.netty.handler.codec.PrematureChannelClosureException;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.EmptyHttpHeaders;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.ssl.SslHandler;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.ScheduledFuture;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.jspecify.annotations.Nullable;

/**
 * One request/response exchange, from finding a transport (a pooled HTTP/1.1 connection, a stream
 * on a shared HTTP/2 connection, a new connection, or a place in the origin's queue until one of
 * those is free) to the end of the response.
 *
 * <p>Everything except {@link #cancel()} and {@link #resume()} runs on the pool's event loop, and
 * those two hop onto it, so the state below needs no synchronization; only the cancel request is
 * volatile, so that a cancel from another thread silences callbacks at once.
 *
 * <p>All timeouts share one scheduled task that is re-armed lazily: reading a chunk only records
 * the time, and the task, when it fires, checks the real due times and either fails the exchange
 * or sleeps again. A stream of 100,000 chunks thus costs a handful of timer operations, not
 * 100,000.
 */
final class UpstreamExchange implements HttpExchange, Runnable {
  private static final Logger logger = Logger.getLogger(UpstreamExchange.class.getName());
  private static final long NONE = Long.MAX_VALUE;

  private enum State {
    NEW,
    CONNECTING,
    ACTIVE,
    DONE
  }

  private final HostResolver resolver;
  private final LoopConnectionPool pool;
  private final EventLoop loop;
  private final UpstreamRequest request;
  private final ResponseHandler handler;
  private final long startNanos = System.nanoTime();

  private volatile boolean cancelRequested;

  private State state = State.NEW;
  /** The transport once the request can be written; null while connecting or opening a stream. */
  private @Nullable Transport transport;
  private @Nullable Channel connecting;
  /** Kept until the response starts, to resend once on a fresh connection if a reused one died. */
  private @Nullable ByteBuf body;
  private boolean reusedConnection;
  /** This exchange dials the connection others to its origin wait for (see LoopConnectionPool). */
  private boolean probing;
  /** This exchange waits for another's connection that may be HTTP/2. */
  private boolean waiting;
  /** This exchange is in its origin's queue, waiting for a connection to be released. */
  private boolean queued;
  /**
   * This exchange holds one of its origin's connection slots (see LoopConnectionPool) and has not
   * yet handed it to a channel: it must give it back if it ends before dialling.
   */
  private boolean slot;
  private boolean retriedOnFreshConnection;
  private boolean requestWritten;
  private boolean responseStarted;
  private boolean informational;
  private boolean bodyStarted;
  private boolean keepAlive;
  private boolean paused;
  private long lastReadNanos;
  private long connectDeadline = NONE;
  private @Nullable ScheduledFuture<?> timer;
  private long timerDue = NONE;

  UpstreamExchange(
      HostResolver resolver,
      LoopConnectionPool pool,
      UpstreamRequest request,
      ResponseHandler handler) {
    this.resolver = resolver;
    this.pool = pool;
    this.loop = pool.eventLoop();
    this.request = request;
    this.handler = handler;
    this.body = request.body();
    HttpHeaders headers = request.headers();
    headers.set(HttpHeaderNames.HOST, request.origin().hostHeader());
    headers.setInt(HttpHeaderNames.CONTENT_LENGTH, request.body().readableBytes());
  }

  /** Starts the exchange; on the loop. */
  void start() {
    if (cancelRequested) {
      state = State.DONE;
      releaseBody();
      return;
    }
    if (pool.isClosed()) {
      fail(HttpFailure.Kind.CLIENT_CLOSED, "the gateway is shutting down", null);
      return;
    }
    long now = System.nanoTime();
    if (expired(request.deadlineNanos(), now)) {
      fail(HttpFailure.Kind.DEADLINE_EXCEEDED, "the deadline passed before the upstream call", null);
      return;
    }
    armTimer(now);
    acquire(now);
  }

  /** Finds a transport: a shared HTTP/2 connection, an idle HTTP/1.1 one, or a new one. */
  private void acquire(long now) {
    UpstreamOrigin origin = request.origin();
    Http2Connection shared = pool.http2(origin);
    if (shared != null) {
      openStream(shared);
      return;
    }
    Http1Connection pooled = pool.acquire(origin, now);
    if (pooled != null) {
      assign(pooled);
      return;
    }
    dial(pool.dial(origin, this), now);
  }

  /** Acts on the pool's answer to "no free connection". */
  private void dial(LoopConnectionPool.Dial dial, long now) {
    switch (dial) {
      case WAIT, QUEUED -> {
        state = State.CONNECTING;
        waiting = dial == LoopConnectionPool.Dial.WAIT;
        queued = dial == LoopConnectionPool.Dial.QUEUED;
        // Waiting is bounded by the connect timeout: a request that cannot get a connection in
        // that time fails and may be retried elsewhere, instead of piling up.
        connectDeadline = now + request.connectTimeoutNanos();
        armTimer(now);
      }
      case OVERFLOW ->
          fail(HttpFailure.Kind.POOL_OVERFLOW,
              "too many requests are waiting for a connection to the upstream", null);
      case PROBE -> {
        slot = true;
        probing = true;
        connect(now);
      }
      case CONNECT -> {
        slot = true;
        connect(now);
      }
    }
  }

  /** Whether this exchange is queued and still wants a connection; on the loop. */
  boolean wantsConnection() {
    return queued && state == State.CONNECTING && !cancelRequested;
  }

  /**
   * The pool hands this queued exchange a released (or idle) HTTP/1.1 connection; returns false,
   * leaving the connection to the pool, when the exchange no longer wants one (it was cancelled
   * from another thread and the cancel has not reached the loop yet). On the loop.
   */
  boolean takeConnection(Http1Connection connection) {
    if (!wantsConnection()) {
      return false;
    }
    queued = false;
    connectDeadline = NONE;
    assign(connection);
    return true;
  }

  /** The pool hands this queued exchange an HTTP/2 connection with a free stream; on the loop. */
  void takeStream(Http2Connection connection) {
    if (!wantsConnection()) {
      return;
    }
    queued = false;
    connectDeadline = NONE;
    openStream(connection);
  }

  /** The pool lets this queued exchange dial (a slot freed up), or wait for a probe; on the loop. */
  void leaveQueue(LoopConnectionPool.Dial dial) {
    queued = false;
    connectDeadline = NONE;
    dial(dial, System.nanoTime());
  }

  /** The connection this exchange waited for is up (or failed): look again; on the loop. */
  void retryAcquire() {
    if (state != State.CONNECTING || !waiting) {
      return;
    }
    waiting = false;
    connectDeadline = NONE;
    acquire(System.nanoTime());
  }

  /** Lets the exchanges waiting on this one's connection go on. */
  private void endProbe() {
    if (probing) {
      probing = false;
      pool.probeDone(request.origin(), this);
    }
  }

  /** The exchange ended: it leaves any queue it is in and gives back a slot it did not use. */
  private void leavePool() {
    if (slot) {
      slot = false;
      pool.releaseSlot(request.origin());
    }
    endProbe();
    if (waiting || queued) {
      waiting = false;
      queued = false;
      pool.stopWaiting(request.origin(), this);
    }
  }

  @Override
  public void resume() {
    if (loop.inEventLoop()) {
      doResume();
    } else {
      loop.execute(this::doResume);
    }
  }

  @Override
  public void cancel() {
    cancelRequested = true;
    if (loop.inEventLoop()) {
      doCancel();
    } else {
      loop.execute(this::doCancel);
    }
  }

  // ---- connecting ----

  private void connect(long now) {
    state = State.CONNECTING;
    connectDeadline = now + request.connectTimeoutNanos();
    armTimer(now);
    CompletableFuture<InetAddress> address = resolver.resolve(request.origin().host());
    if (address.isDone() && !address.isCompletedExceptionally()) {
      connectTo(address.join());
      return;
    }
    address.whenComplete(
        (resolved, error) ->
            loop.execute(
                () -> {
                  if (state != State.CONNECTING || connecting != null) {
                    return;
                  }
                  if (error != null || resolved == null) {
                    fail(HttpFailure.Kind.CONNECT_FAILED, "upstream host name did not resolve",
                        error);
                  } else if (pool.isClosed()) {
                    fail(HttpFailure.Kind.CLIENT_CLOSED, "the gateway is shutting down", null);
                  } else {
                    connectTo(resolved);
                  }
                }));
  }

  private void connectTo(InetAddress address) {
    ChannelFuture future =
        pool.connect(
            new InetSocketAddress(address, request.origin().port()),
            request.origin(),
            request.connectTimeoutNanos());
    Channel channel = future.channel();
    slot = false; // the channel holds it now
    connecting = channel;
    future.addListener(f -> onConnected(channel, f));
  }

  private void onConnected(Channel channel, Future<?> connect) {
    if (state != State.CONNECTING || connecting != channel) {
      channel.close();
      return;
    }
    if (!connect.isSuccess()) {
      fail(HttpFailure.Kind.CONNECT_FAILED, "could not connect to the upstream", connect.cause());
      return;
    }
    SslHandler tls = channel.pipeline().get(SslHandler.class);
    if (tls == null) {
      connected(channel);
      return;
    }
    tls.handshakeFuture()
        .addListener(
            handshake -> {
              if (state != State.CONNECTING || connecting != channel) {
                channel.close();
              } else if (!handshake.isSuccess()) {
                fail(HttpFailure.Kind.CONNECT_FAILED, "TLS handshake with the upstream failed",
                    handshake.cause());
              } else {
                connected(channel);
              }
            });
  }

  private void connected(Channel channel) {
    connecting = null;
    connectDeadline = NONE;
    if (!channel.isActive()) {
      fail(HttpFailure.Kind.CONNECT_FAILED, "the upstream closed the connection", null);
      return;
    }
    Object connection = pool.install(channel, request.origin());
    if (connection instanceof Http2Connection h2) {
      openStream(h2);
    } else {
      assign((Http1Connection) connection);
    }
    // Only now: the waiters find the HTTP/2 connection in the pool, or know to dial their own.
    endProbe();
  }

  private void openStream(Http2Connection connection) {
    state = State.ACTIVE;
    reusedConnection = connection.open(this, pool.maxHeaderBytes());
  }

  /** The HTTP/2 stream is open; on the loop. */
  void streamOpened(Http2Stream stream) {
    if (state != State.ACTIVE || transport != null) {
      stream.abort(); // cancelled or failed meanwhile
      return;
    }
    transport = stream;
    writeRequest();
  }

  /** The HTTP/2 stream could not be opened (the connection is going away); on the loop. */
  void streamFailed(Http2Connection connection, @Nullable Throwable cause) {
    if (state != State.ACTIVE || transport != null) {
      return;
    }
    if (!retriedOnFreshConnection && !cancelRequested && body != null) {
      retriedOnFreshConnection = true;
      pool.reserveFresh(request.origin());
      slot = true;
      connect(System.nanoTime());
      return;
    }
    fail(HttpFailure.Kind.CONNECTION_CLOSED, "the upstream connection closed before a response", cause);
  }

  // ---- request ----

  private void assign(Http1Connection connection) {
    state = State.ACTIVE;
    transport = connection;
    reusedConnection = connection.assign(this);
    writeRequest();
  }

  private void writeRequest() {
    Transport t = transport;
    ByteBuf content = body;
    if (t == null || content == null) {
      fail(HttpFailure.Kind.HANDLER_FAILED, "request body already released", null);
      return;
    }
    DefaultFullHttpRequest message =
        new DefaultFullHttpRequest(
            HttpVersion.HTTP_1_1,
            request.method(),
            request.pathAndQuery(),
            content.retainedDuplicate(),
            request.headers(),
            EmptyHttpHeaders.INSTANCE);
    Channel channel = t.channel();
    channel.writeAndFlush(message).addListener(f -> onWritten(t, f));
    channel.read();
  }

  private void onWritten(Transport t, Future<?> write) {
    if (transport != t) {
      return;
    }
    if (write.isSuccess()) {
      requestWritten = true;
    } else {
      onTransportClosed(t, write.cause());
    }
  }

  // ---- response (called by the transport) ----

  void onMessage(Object msg) {
    try {
      if (state != State.ACTIVE) {
        return;
      }
      if (cancelRequested) {
        doCancel();
        return;
      }
      if (msg instanceof HttpResponse response) {
        onResponse(response);
        if (state != State.ACTIVE) {
          return;
        }
      }
      if (msg instanceof HttpContent content) {
        onContent(content);
      }
    } finally {
      ReferenceCountUtil.release(msg);
    }
  }

  private void onResponse(HttpResponse response) {
    if (response.decoderResult().isFailure()) {
      Throwable cause = response.decoderResult().cause();
      if (cause instanceof PrematureChannelClosureException) {
        onTransportClosed(transport, cause);
      } else {
        fail(HttpFailure.Kind.MALFORMED_RESPONSE, "the upstream sent a malformed HTTP response",
            cause);
      }
      return;
    }
    int status = response.status().code();
    if (status >= 100 && status < 200) {
      // 100 Continue and friends: not the response; its (empty) content follows and is skipped.
      informational = true;
      return;
    }
    responseStarted = true;
    releaseBody();
    keepAlive = HttpUtil.isKeepAlive(response);
    try {
      handler.onHeaders(response);
    } catch (RuntimeException e) {
      handlerFailed(e);
    }
  }

  private void onContent(HttpContent content) {
    if (informational) {
      if (content instanceof LastHttpContent) {
        informational = false;
      }
      return;
    }
    if (!responseStarted) {
      return;
    }
    if (content.decoderResult().isFailure()) {
      fail(HttpFailure.Kind.MALFORMED_RESPONSE, "the upstream sent a malformed HTTP response body",
          content.decoderResult().cause());
      return;
    }
    ByteBuf bytes = content.content();
    if (bytes.isReadable()) {
      long now = System.nanoTime();
      lastReadNanos = now;
      if (!bodyStarted) {
        bodyStarted = true;
        // The idle timeout takes over from the first-byte timeout and may be due sooner.
        armTimer(now);
      }
      try {
        handler.onContent(bytes);
      } catch (RuntimeException e) {
        handlerFailed(e);
        return;
      }
      if (state != State.ACTIVE) {
        return;
      }
    }
    if (content instanceof LastHttpContent) {
      complete();
    }
  }

  void onReadComplete() {
    Transport t = transport;
    if (state != State.ACTIVE || t == null) {
      return;
    }
    if (cancelRequested) {
      doCancel();
      return;
    }
    boolean ready;
    try {
      ready = !responseStarted || handler.isReady();
    } catch (RuntimeException e) {
      handlerFailed(e);
      return;
    }
    if (ready) {
      t.channel().read();
    } else {
      paused = true;
    }
  }

  void onTransportClosed(@Nullable Transport t, @Nullable Throwable cause) {
    if (state != State.ACTIVE || transport != t || t == null) {
      return;
    }
    if (pool.isClosed()) {
      fail(HttpFailure.Kind.CLIENT_CLOSED, "the gateway is shutting down", cause);
      return;
    }
    if (reusedConnection
        && !retriedOnFreshConnection
        && !responseStarted
        && body != null
        && !cancelRequested) {
      // A kept-alive connection the server closed while we picked it (or an HTTP/2 connection
      // that went away): the request was not processed, so sending it again on a new connection
      // is safe. Once only.
      retriedOnFreshConnection = true;
      transport = null;
      t.abort();
      requestWritten = false;
      pool.reserveFresh(request.origin());
      slot = true;
      connect(System.nanoTime());
      return;
    }
    fail(
        HttpFailure.Kind.CONNECTION_CLOSED,
        responseStarted
            ? "the upstream connection closed before the response was complete"
            : "the upstream connection closed before a response",
        cause);
  }

  // ---- ending ----

  private void complete() {
    Transport t = transport;
    state = State.DONE;
    transport = null;
    cancelTimer();
    if (t != null) {
      // Back to the pool before the handler runs: a follow-up request may reuse it at once.
      t.complete(keepAlive && requestWritten && !cancelRequested);
    }
    if (!cancelRequested) {
      try {
        handler.onComplete();
      } catch (RuntimeException e) {
        logger.log(Level.WARNING, "Upstream response handler failed on completion", e);
      }
    }
  }

  /** Fails the exchange (no-op once it ended); on the loop. */
  void fail(HttpFailure.Kind kind, String message, @Nullable Throwable cause) {
    if (state == State.DONE) {
      return;
    }
    state = State.DONE;
    leavePool();
    cancelTimer();
    releaseBody();
    abortTransport();
    if (cancelRequested) {
      return;
    }
    HttpFailure failure =
        new HttpFailure(kind, responseStarted, request.origin().toString(), message, cause);
    try {
      handler.onFailure(failure);
    } catch (RuntimeException e) {
      logger.log(Level.WARNING, "Upstream response handler failed on failure", e);
    }
  }

  private void handlerFailed(RuntimeException e) {
    fail(HttpFailure.Kind.HANDLER_FAILED, "the upstream response could not be processed", e);
  }

  private void doCancel() {
    if (state == State.DONE) {
      return;
    }
    state = State.DONE;
    leavePool();
    cancelTimer();
    releaseBody();
    abortTransport();
  }

  private void doResume() {
    Transport t = transport;
    if (state != State.ACTIVE || t == null) {
      return;
    }
    if (paused) {
      paused = false;
      long now = System.nanoTime();
      // Time spent paused by our own consumer is not upstream idleness.
      lastReadNanos = now;
      armTimer(now);
    }
    t.channel().read();
  }

  private void abortTransport() {
    Transport t = transport;
    transport = null;
    if (t != null) {
      t.abort();
    }
    Channel pending = connecting;
    connecting = null;
    if (pending != null) {
      pending.close();
    }
  }

  private void releaseBody() {
    ByteBuf b = body;
    body = null;
    if (b != null) {
      b.release();
    }
  }

  // ---- timeouts ----

  /** The timer fired: fail for the first due timeout, or sleep until the next one. */
  @Override
  public void run() {
    timer = null;
    timerDue = NONE;
    if (state == State.DONE) {
      return;
    }
    long now = System.nanoTime();
    if (expired(request.deadlineNanos(), now)) {
      fail(HttpFailure.Kind.DEADLINE_EXCEEDED, "the upstream call exceeded its deadline", null);
    } else if (state == State.CONNECTING && expired(connectDeadline, now)) {
      if (queued) {
        fail(HttpFailure.Kind.POOL_OVERFLOW,
            "no connection to the upstream became free within the connect timeout", null);
      } else {
        fail(HttpFailure.Kind.CONNECT_TIMEOUT, "connecting to the upstream timed out", null);
      }
    } else if (expired(firstByteDue(), now)) {
      fail(HttpFailure.Kind.FIRST_BYTE_TIMEOUT, "the upstream did not start responding in time",
          null);
    } else if (expired(idleDue(), now)) {
      fail(HttpFailure.Kind.IDLE_TIMEOUT, "the upstream stream was idle for too long", null);
    } else {
      armTimer(now);
    }
  }

  private long firstByteDue() {
    long timeout = request.firstByteTimeoutNanos();
    return bodyStarted || timeout == 0 ? NONE : startNanos + timeout;
  }

  private long idleDue() {
    long timeout = request.idleTimeoutNanos();
    return !bodyStarted || paused || timeout == 0 ? NONE : lastReadNanos + timeout;
  }

  private void armTimer(long now) {
    long due = earliest(request.deadlineNanos(), state == State.CONNECTING ? connectDeadline : NONE);
    due = earliest(due, earliest(firstByteDue(), idleDue()));
    if (due == NONE) {
      return;
    }
    if (timer != null) {
      if (due - timerDue >= 0) {
        return; // the scheduled check comes first and re-arms itself
      }
      timer.cancel(false);
    }
    timerDue = due;
    timer = loop.schedule(this, Math.max(0, due - now), TimeUnit.NANOSECONDS);
  }

  private void cancelTimer() {
    ScheduledFuture<?> t = timer;
    timer = null;
    timerDue = NONE;
    if (t != null) {
      t.cancel(false);
    }
  }

  private static boolean expired(long due, long now) {
    return due != NONE && due - now <= 0;
  }

  private static long earliest(long a, long b) {
    if (a == NONE) {
      return b;
    }
    if (b == NONE) {
      return a;
    }
    return a - b <= 0 ? a : b;
  }
}
