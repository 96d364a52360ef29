package dev.sluice.dataplane.provider.http;

import io.netty.bootstrap.Bootstrap;
import io.netty.channel.AdaptiveRecvByteBufAllocator;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.ssl.ApplicationProtocolNames;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandler;
import io.netty.resolver.NoopAddressResolverGroup;
import io.netty.util.concurrent.ScheduledFuture;
import java.net.InetSocketAddress;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLParameters;
import org.jspecify.annotations.Nullable;

/**
 * The connections of one event loop: per origin, idle HTTP/1.1 keep-alive connections, shared
 * HTTP/2 connections, and the requests waiting for a connection; plus every open channel so that
 * closing the client closes them all.
 *
 * <p>Confined to its event loop (as Envoy keeps connection pools per worker): no locks, and an
 * exchange always runs on the loop that owns its connection, so a request that arrives on a loop
 * is served upstream on the same loop without a thread hop.
 *
 * <h2>Bounds (Envoy's circuit breakers, per origin and event loop)</h2>
 *
 * <p>At most {@code maxConnections} connections per origin exist at once, counting those being
 * dialled. An exchange that finds no free connection and no room for a new one joins a FIFO queue
 * of at most {@code maxPending} exchanges; a connection that an exchange releases goes straight to
 * the head of that queue (no close, no reopen), and a connection that closes lets the head dial in
 * its place. A full queue fails the exchange at once with {@link HttpFailure.Kind#POOL_OVERFLOW},
 * and so does waiting in the queue past the connect timeout. Cancelling a queued exchange takes it
 * out of the queue, so it never reaches the upstream.
 *
 * <p>Why: without a bound, an HTTP/1.1 client under a burst opens one connection per request in
 * flight and, once more are in flight than it keeps idle, closes one per completed request; every
 * request then pays a TCP handshake on both ends and leaves a TIME_WAIT socket, which slows the
 * exchanges, which raises the number in flight: a collapse far below the capacity of either end
 * (measured: an open loop at half the gateway's saturation rate served a third of it, with
 * thousands of connects per second). With the bound, a burst waits a little for a warm connection
 * instead, and overload fails fast instead of piling up.
 *
 * <p>Idle HTTP/1.1 connections are kept up to the same bound (they are counted in it) until the
 * idle timeout: the most recently used is reused first, so that connections a burst opened and the
 * steady load no longer needs age out. HTTP/2 connections carry many streams each and queue only
 * when every connection the bound allows is at its stream limit.
 *
 * <p>A new connection carries only TLS (when the origin has it) until it is connected; then the
 * protocol is installed: HTTP/2 when ALPN chose {@code h2} or the origin is {@code h2c}, else
 * HTTP/1.1.
 */
final class LoopConnectionPool {
  /** Receive buffer sizes of upstream reads: at least 2 KiB, growing to 64 KiB for bursts. */
  private static final AdaptiveRecvByteBufAllocator RECEIVE_BUFFERS =
      new AdaptiveRecvByteBufAllocator(2048, 2048, 64 * 1024);

  private final EventLoop eventLoop;
  private final Bootstrap bootstrap;
  private final HttpDecoderConfig decoderConfig;
  private final int maxHeaderBytes;
  private final int maxConnections;
  private final int maxPending;
  private final long idleTimeoutNanos;

  private final Map<UpstreamOrigin, Origin> origins = new HashMap<>();
  private final Set<Channel> open = new HashSet<>();
  private @Nullable ScheduledFuture<?> sweeper;
  private boolean closed;

  /** The state of one origin in this pool. */
  private static final class Origin {
    final UpstreamOrigin origin;
    /** Idle HTTP/1.1 connections, least recently used first. */
    final ArrayDeque<Http1Connection> idle = new ArrayDeque<>();
    final List<Http2Connection> http2 = new ArrayList<>(1);
    /** Exchanges waiting for a connection to be released or a slot to dial, in arrival order. */
    final ArrayDeque<UpstreamExchange> pending = new ArrayDeque<>();
    /** Exchanges waiting for the probe's answer instead of dialling their own. */
    final ArrayDeque<UpstreamExchange> probeWaiters = new ArrayDeque<>();
    /** The exchange whose new connection may turn out to be HTTP/2. */
    @Nullable UpstreamExchange probe;
    /** Connections open or being dialled, plus slots reserved by exchanges about to dial. */
    int connections;
    /** A TLS origin whose server chose HTTP/1.1 by ALPN: no point waiting for HTTP/2 there. */
    boolean http1Only;
    /** Guards {@link #servePending} against re-entry (a dial that fails at once frees a slot). */
    boolean serving;

    Origin(UpstreamOrigin origin) {
      this.origin = origin;
    }

    boolean mayBeHttp2() {
      return origin.http2PriorKnowledge() || (origin.isTls() && !http1Only);
    }

    boolean unused() {
      return connections == 0 && pending.isEmpty() && probeWaiters.isEmpty() && probe == null;
    }
  }

  LoopConnectionPool(
      EventLoop eventLoop,
      Class<? extends Channel> channelType,
      int maxResponseHeaderBytes,
      int maxConnectionsPerOrigin,
      int maxPendingPerOrigin,
      long idleTimeoutNanos,
      int receiveBufferBytes) {
    this.eventLoop = eventLoop;
    this.maxHeaderBytes = maxResponseHeaderBytes;
    this.maxConnections = maxConnectionsPerOrigin;
    this.maxPending = maxPendingPerOrigin;
    this.idleTimeoutNanos = idleTimeoutNanos;
    this.decoderConfig =
        new HttpDecoderConfig()
            .setMaxInitialLineLength(8192)
            .setMaxHeaderSize(maxResponseHeaderBytes)
            // Large enough that a burst of SSE events arrives as one piece, small enough to bound
            // what one read hands the decoder.
            .setMaxChunkSize(64 * 1024);
    this.bootstrap =
        new Bootstrap()
            .group(eventLoop)
            .channel(channelType)
            .resolver(NoopAddressResolverGroup.INSTANCE)
            // Reads happen only on demand: that is how a slow consumer slows the upstream.
            .option(ChannelOption.AUTO_READ, false)
            // Reads on demand take one buffer per read, and Netty's default guess shrinks to the
            // size of the last reads (down to 64 bytes): with one token per read it settles just
            // above a typical SSE event, so every slightly longer event takes two reads (two
            // syscalls) and arrives as a line split in two. Never guess below 2 KiB.
            .option(ChannelOption.RECVBUF_ALLOCATOR, RECEIVE_BUFFERS)
            .option(ChannelOption.TCP_NODELAY, true)
            .option(ChannelOption.SO_KEEPALIVE, true);
    if (receiveBufferBytes > 0) {
      bootstrap.option(ChannelOption.SO_RCVBUF, receiveBufferBytes);
    }
  }

  EventLoop eventLoop() {
    return eventLoop;
  }

  boolean isClosed() {
    return closed;
  }

  int maxHeaderBytes() {
    return maxHeaderBytes;
  }

  /** What an exchange that found no free connection should do. */
  enum Dial {
    /** Dial a connection (HTTP/1.1 is known, or nothing is in flight); a slot is reserved. */
    CONNECT,
    /** Dial, and let others wait: the connection may turn out to be HTTP/2. A slot is reserved. */
    PROBE,
    /** Wait: a connection that may be HTTP/2 is already being set up. */
    WAIT,
    /** Wait in the queue: the origin has as many connections as allowed. */
    QUEUED,
    /** Fail: the queue is full. */
    OVERFLOW
  }

  /**
   * Decides how {@code exchange}, which found neither a usable HTTP/2 connection nor an idle
   * HTTP/1.1 one, gets a connection to {@code origin}.
   *
   * <p>A burst of requests to a new origin that may speak HTTP/2 (h2c, or TLS offering {@code
   * h2}) dials once, not once per request: the others wait for ALPN's answer, then share the
   * connection or dial their own. Below the bound (and with nobody queued ahead, so that the queue
   * stays FIFO) the exchange dials; else it queues, or fails when the queue is full. {@link
   * Dial#CONNECT} and {@link Dial#PROBE} reserve a slot that {@link #connect} hands to the new
   * channel, or {@link #releaseSlot} returns.
   */
  Dial dial(UpstreamOrigin key, UpstreamExchange exchange) {
    Origin o = origins.computeIfAbsent(key, Origin::new);
    boolean full = o.connections >= maxConnections || !o.pending.isEmpty();
    if (full || (o.probe != null && o.mayBeHttp2())) {
      if (o.pending.size() + o.probeWaiters.size() >= maxPending) {
        return Dial.OVERFLOW;
      }
      if (full) {
        o.pending.addLast(exchange);
        return Dial.QUEUED;
      }
      o.probeWaiters.addLast(exchange);
      return Dial.WAIT;
    }
    return admit(o, exchange);
  }

  /** Lets {@code exchange} dial: reserves its slot, and makes it the probe where that applies. */
  private Dial admit(Origin o, UpstreamExchange exchange) {
    o.connections++;
    if (o.mayBeHttp2()) {
      o.probe = exchange;
      return Dial.PROBE;
    }
    return Dial.CONNECT;
  }

  /**
   * Reserves a slot past the bound for an exchange that resends its request on a fresh connection
   * because the reused one it had died: that connection is gone or going, so the count is over the
   * bound for a moment at most, and a resend never waits behind the queue it already left.
   */
  void reserveFresh(UpstreamOrigin key) {
    origins.computeIfAbsent(key, Origin::new).connections++;
  }

  /** An exchange gives back a slot it reserved but did not dial with (it failed or was cancelled). */
  void releaseSlot(UpstreamOrigin key) {
    Origin o = origins.get(key);
    if (o != null) {
      slotFreed(o);
    }
  }

  /**
   * The probe of {@code origin} got its connection installed, or gave up: the waiters try again
   * (finding the HTTP/2 connection, or dialling their own), and a new HTTP/2 connection takes
   * queued exchanges too.
   */
  void probeDone(UpstreamOrigin key, UpstreamExchange exchange) {
    Origin o = origins.get(key);
    if (o == null || o.probe != exchange) {
      return;
    }
    o.probe = null;
    if (!o.probeWaiters.isEmpty()) {
      List<UpstreamExchange> waiting = new ArrayList<>(o.probeWaiters);
      o.probeWaiters.clear();
      for (UpstreamExchange e : waiting) {
        e.retryAcquire();
      }
    }
    servePending(o);
    removeIfUnused(o);
  }

  /** {@code exchange} no longer waits (cancelled, failed or timed out): forget it. */
  void stopWaiting(UpstreamOrigin key, UpstreamExchange exchange) {
    Origin o = origins.get(key);
    if (o != null) {
      // O(waiting exchanges), bounded by maxPending; only cancellation and timeouts pay it.
      if (!o.pending.remove(exchange)) {
        o.probeWaiters.remove(exchange);
      }
      removeIfUnused(o);
    }
  }

  /** An HTTP/2 connection to {@code origin} that can take another stream, or null. */
  @Nullable Http2Connection http2(UpstreamOrigin key) {
    Origin o = origins.get(key);
    return o == null ? null : usableHttp2(o);
  }

  private static @Nullable Http2Connection usableHttp2(Origin o) {
    for (Http2Connection c : o.http2) {
      if (c.usable()) {
        return c;
      }
    }
    return null;
  }

  /**
   * An idle HTTP/1.1 connection to {@code origin} that is still open and fresh, or null. None is
   * handed out while exchanges are queued (they come first; a connection only idles when the queue
   * is empty, so this is a guard, not a path).
   */
  @Nullable Http1Connection acquire(UpstreamOrigin key, long now) {
    Origin o = origins.get(key);
    return o == null || !o.pending.isEmpty() ? null : pollIdle(o, now);
  }

  private @Nullable Http1Connection pollIdle(Origin o, long now) {
    Http1Connection c;
    // Most recently used first: it is the least likely to have been closed by the server, and
    // the ones a burst opened and the load no longer needs age out at the other end.
    while ((c = o.idle.pollLast()) != null) {
      if (c.channel().isActive() && now - c.idleSince() < idleTimeoutNanos) {
        return c;
      }
      c.channel().close();
    }
    return null;
  }

  /**
   * Takes back an HTTP/1.1 connection whose exchange completed cleanly: hands it to the oldest
   * queued exchange at once, else keeps it idle. A connection that is no longer open is closed
   * (its slot then lets a queued exchange dial).
   */
  void release(Http1Connection c, long now) {
    if (closed || !c.channel().isActive()) {
      c.channel().close();
      return;
    }
    Origin o = origins.get(c.origin());
    if (o == null) { // cannot happen while the connection is counted; never leak it
      c.channel().close();
      return;
    }
    UpstreamExchange next;
    while ((next = o.pending.pollFirst()) != null) {
      if (next.takeConnection(c)) {
        return;
      }
    }
    c.idleSince(now);
    o.idle.addLast(c);
    // One pending read while idle: a server that closes the connection is noticed at once
    // (and any unexpected byte closes it), instead of at the next request.
    c.channel().read();
    startSweeper();
  }

  /** A stream of {@code c} closed: a queued exchange may take its place. */
  void streamClosed(Http2Connection c) {
    Origin o = origins.get(c.origin());
    if (o != null && !o.pending.isEmpty()) {
      servePending(o);
    }
  }

  /**
   * Installs the protocol on a connected (and, for TLS, handshaken) channel: returns the {@link
   * Http2Connection} (already in the pool) or the {@link Http1Connection}.
   */
  Object install(Channel channel, UpstreamOrigin key) {
    Origin o = origins.computeIfAbsent(key, Origin::new);
    SslHandler tls = channel.pipeline().get(SslHandler.class);
    boolean h2 =
        tls != null
            ? ApplicationProtocolNames.HTTP_2.equals(tls.applicationProtocol())
            : key.http2PriorKnowledge();
    if (tls != null && !h2) {
      o.http1Only = true;
    }
    if (h2) {
      Http2Connection connection = Http2Connection.install(channel, key, this, maxHeaderBytes);
      o.http2.add(connection);
      startSweeper();
      return connection;
    }
    channel.pipeline().addLast("http", new HttpClientCodec(decoderConfig.clone(), false, false));
    Http1Connection connection = new Http1Connection(channel, key, this);
    channel.pipeline().addLast("exchange", connection);
    return connection;
  }

  void closed(Http1Connection c) {
    Origin o = origins.get(c.origin());
    if (o != null) {
      o.idle.remove(c);
    }
  }

  void closed(Http2Connection c) {
    Origin o = origins.get(c.origin());
    if (o != null) {
      o.http2.remove(c);
    }
  }

  /**
   * Dials {@code address} with the slot the exchange reserved (by {@link #dial} or {@link
   * #reserveFresh}): from now on the channel holds it, and its closing frees it.
   */
  ChannelFuture connect(InetSocketAddress address, UpstreamOrigin key, long connectTimeoutNanos) {
    Origin o = origins.computeIfAbsent(key, Origin::new);
    int millis = (int) Math.max(1, Math.min(Integer.MAX_VALUE, connectTimeoutNanos / 1_000_000));
    ChannelFuture future =
        bootstrap
            .clone()
            .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, millis)
            .handler(new Initializer(key))
            .connect(address);
    // Completes however the channel ends: failed registration, failed connect, or close.
    future.channel().closeFuture().addListener(f -> slotFreed(o));
    return future;
  }

  /** A connection of {@code o} closed, or a reserved slot was given back. */
  private void slotFreed(Origin o) {
    o.connections--;
    servePending(o);
    removeIfUnused(o);
  }

  /**
   * Serves queued exchanges, oldest first, while something can take them: a usable HTTP/2
   * connection, an idle HTTP/1.1 one, or room under the bound to dial.
   */
  private void servePending(Origin o) {
    if (o.serving || closed) {
      return;
    }
    o.serving = true;
    try {
      long now = System.nanoTime();
      UpstreamExchange next;
      while ((next = o.pending.peekFirst()) != null) {
        Http2Connection h2 = usableHttp2(o);
        if (h2 != null) {
          o.pending.pollFirst();
          next.takeStream(h2);
          continue;
        }
        Http1Connection idle = pollIdle(o, now);
        if (idle != null) {
          o.pending.pollFirst();
          if (!next.takeConnection(idle)) {
            o.idle.addLast(idle); // still idle (and still reading), as it was
          }
          continue;
        }
        if (o.connections >= maxConnections || (o.probe != null && o.mayBeHttp2())) {
          // Full, or a connection that may be HTTP/2 is coming: its probeDone serves the queue.
          return;
        }
        o.pending.pollFirst();
        if (next.wantsConnection()) {
          next.leaveQueue(admit(o, next));
        }
      }
    } finally {
      o.serving = false;
    }
  }

  private void removeIfUnused(Origin o) {
    if (o.unused() && o.idle.isEmpty() && o.http2.isEmpty() && origins.get(o.origin) == o) {
      origins.remove(o.origin);
    }
  }

  int openConnections() {
    return open.size();
  }

  int idleConnections() {
    int n = 0;
    for (Origin o : origins.values()) {
      n += o.idle.size();
      for (Http2Connection c : o.http2) {
        if (c.idle()) {
          n++;
        }
      }
    }
    return n;
  }

  /** Exchanges waiting for a connection (queued, or waiting for a probe's answer). */
  int pendingRequests() {
    int n = 0;
    for (Origin o : origins.values()) {
      n += o.pending.size() + o.probeWaiters.size();
    }
    return n;
  }

  /**
   * Closes every connection; running exchanges fail (with {@code CLIENT_CLOSED}), and so do the
   * waiting ones.
   */
  void close() {
    closed = true;
    if (sweeper != null) {
      sweeper.cancel(false);
      sweeper = null;
    }
    List<UpstreamExchange> waiting = new ArrayList<>();
    for (Origin o : origins.values()) {
      waiting.addAll(o.pending);
      waiting.addAll(o.probeWaiters);
      o.pending.clear();
      o.probeWaiters.clear();
    }
    for (UpstreamExchange e : waiting) {
      e.fail(HttpFailure.Kind.CLIENT_CLOSED, "the gateway is shutting down", null);
    }
    for (Channel c : new ArrayList<>(open)) {
      c.close();
    }
    for (Origin o : origins.values()) {
      o.idle.clear();
      o.http2.clear();
    }
  }

  private void startSweeper() {
    if (sweeper == null && !closed) {
      long period = Math.max(TimeUnit.SECONDS.toNanos(1), idleTimeoutNanos / 2);
      sweeper = eventLoop.scheduleWithFixedDelay(this::sweep, period, period, TimeUnit.NANOSECONDS);
    }
  }

  private void sweep() {
    long now = System.nanoTime();
    for (Iterator<Origin> it = origins.values().iterator(); it.hasNext(); ) {
      Origin o = it.next();
      Http1Connection oldest;
      while ((oldest = o.idle.peekFirst()) != null
          && now - oldest.idleSince() >= idleTimeoutNanos) {
        o.idle.pollFirst();
        oldest.channel().close(); // its slot is freed when the close completes
      }
      for (Http2Connection c : new ArrayList<>(o.http2)) {
        if (c.idle() && now - c.idleSince() >= idleTimeoutNanos) {
          c.channel().close();
        }
      }
      if (o.unused() && o.idle.isEmpty() && o.http2.isEmpty()) {
        it.remove();
      }
    }
  }

  private final class Initializer extends ChannelInitializer<Channel> {
    private final UpstreamOrigin origin;

    Initializer(UpstreamOrigin origin) {
      this.origin = origin;
    }

    @Override
    protected void initChannel(Channel ch) {
      open.add(ch);
      ch.closeFuture().addListener(f -> open.remove(ch));
      if (closed) {
        ch.close();
        return;
      }
      SslContext ssl = origin.sslContext();
      if (ssl != null) {
        SslHandler handler = ssl.newHandler(ch.alloc(), origin.serverName(), origin.port());
        SSLEngine engine = handler.engine();
        SSLParameters parameters = engine.getSSLParameters();
        parameters.setEndpointIdentificationAlgorithm("HTTPS");
        engine.setSSLParameters(parameters);
        ch.pipeline().addLast("tls", handler);
      }
    }
  }
}
