package dev.sluice.dataplane.provider.http;

import io.netty.bootstrap.Bootstrap;
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
 * The connections of one event loop: idle HTTP/1.1 keep-alive connections and shared HTTP/2
 * connections per origin, and every open channel so that closing the client closes them all.
 *
 * <p>Confined to its event loop (as Envoy keeps connection pools per worker): no locks, and an
 * exchange always runs on the loop that owns its connection, so a request that arrives on a loop
 * is served upstream on the same loop without a thread hop.
 *
 * <p>A new connection carries only TLS (when the origin has it) until it is connected; then the
 * protocol is installed: HTTP/2 when ALPN chose {@code h2} or the origin is {@code h2c}, else
 * HTTP/1.1.
 */
final class LoopConnectionPool {
  private final EventLoop eventLoop;
  private final Bootstrap bootstrap;
  private final HttpDecoderConfig decoderConfig;
  private final int maxHeaderBytes;
  private final int maxIdlePerOrigin;
  private final long idleTimeoutNanos;

  private final Map<UpstreamOrigin, ArrayDeque<Http1Connection>> idle = new HashMap<>();
  private final Map<UpstreamOrigin, List<Http2Connection>> http2 = new HashMap<>();
  private final Set<Channel> open = new HashSet<>();
  /** Per origin, the exchange whose new connection may turn out to be HTTP/2. */
  private final Map<UpstreamOrigin, UpstreamExchange> probes = new HashMap<>();
  /** Per origin, exchanges waiting for that connection instead of dialling their own. */
  private final Map<UpstreamOrigin, ArrayDeque<UpstreamExchange>> waiters = new HashMap<>();
  /** TLS origins whose server chose HTTP/1.1 by ALPN: no point waiting for HTTP/2 there. */
  private final Set<UpstreamOrigin> http1Only = new HashSet<>();
  private @Nullable ScheduledFuture<?> sweeper;
  private boolean closed;

  LoopConnectionPool(
      EventLoop eventLoop,
      Class<? extends Channel> channelType,
      int maxResponseHeaderBytes,
      int maxIdlePerOrigin,
      long idleTimeoutNanos,
      int receiveBufferBytes) {
    this.eventLoop = eventLoop;
    this.maxHeaderBytes = maxResponseHeaderBytes;
    this.maxIdlePerOrigin = maxIdlePerOrigin;
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

  /** What an exchange that found no connection should do. */
  enum Dial {
    /** Dial a connection (HTTP/1.1 is known, or nothing is in flight). */
    CONNECT,
    /** Dial, and let others wait: the connection may turn out to be HTTP/2. */
    PROBE,
    /** Wait: a connection that may be HTTP/2 is already being set up. */
    WAIT
  }

  /**
   * Decides how {@code exchange} gets a connection to {@code origin}. A burst of requests to a
   * new origin that may speak HTTP/2 (h2c, or TLS offering {@code h2}) dials once, not once per
   * request: the others wait for ALPN's answer, then share the connection or dial their own.
   */
  Dial dial(UpstreamOrigin origin, UpstreamExchange exchange) {
    boolean mayBeHttp2 =
        origin.http2PriorKnowledge() || (origin.isTls() && !http1Only.contains(origin));
    if (!mayBeHttp2) {
      return Dial.CONNECT;
    }
    if (!probes.containsKey(origin)) {
      probes.put(origin, exchange);
      return Dial.PROBE;
    }
    waiters.computeIfAbsent(origin, o -> new ArrayDeque<>()).add(exchange);
    return Dial.WAIT;
  }

  /**
   * The probe of {@code origin} got its connection installed, or gave up: the waiters try again
   * (finding the HTTP/2 connection, or dialling their own).
   */
  void probeDone(UpstreamOrigin origin, UpstreamExchange exchange) {
    if (probes.get(origin) != exchange) {
      return;
    }
    probes.remove(origin);
    ArrayDeque<UpstreamExchange> waiting = waiters.remove(origin);
    if (waiting != null) {
      for (UpstreamExchange e : waiting) {
        e.retryAcquire();
      }
    }
  }

  void stopWaiting(UpstreamOrigin origin, UpstreamExchange exchange) {
    ArrayDeque<UpstreamExchange> waiting = waiters.get(origin);
    if (waiting != null) {
      waiting.remove(exchange);
    }
  }

  /** An HTTP/2 connection to {@code origin} that can take another stream, or null. */
  @Nullable Http2Connection http2(UpstreamOrigin origin) {
    List<Http2Connection> connections = http2.get(origin);
    if (connections == null) {
      return null;
    }
    for (Http2Connection c : connections) {
      if (c.usable()) {
        return c;
      }
    }
    return null;
  }

  /** An idle HTTP/1.1 connection to {@code origin} that is still open and fresh, or null. */
  @Nullable Http1Connection acquire(UpstreamOrigin origin, long now) {
    ArrayDeque<Http1Connection> connections = idle.get(origin);
    if (connections == null) {
      return null;
    }
    Http1Connection c;
    // Most recently used first: it is the least likely to have been closed by the server.
    while ((c = connections.pollLast()) != null) {
      if (c.channel().isActive() && now - c.idleSince() < idleTimeoutNanos) {
        return c;
      }
      c.channel().close();
    }
    return null;
  }

  /** Takes back an HTTP/1.1 connection whose exchange completed cleanly, or closes it. */
  void release(Http1Connection c, long now) {
    if (closed || !c.channel().isActive()) {
      c.channel().close();
      return;
    }
    ArrayDeque<Http1Connection> connections =
        idle.computeIfAbsent(c.origin(), o -> new ArrayDeque<>());
    if (connections.size() >= maxIdlePerOrigin) {
      c.channel().close();
      return;
    }
    c.idleSince(now);
    connections.addLast(c);
    // One pending read while idle: a server that closes the connection is noticed at once
    // (and any unexpected byte closes it), instead of at the next request.
    c.channel().read();
    startSweeper();
  }

  /**
   * Installs the protocol on a connected (and, for TLS, handshaken) channel: returns the {@link
   * Http2Connection} (already in the pool) or the {@link Http1Connection}.
   */
  Object install(Channel channel, UpstreamOrigin origin) {
    SslHandler tls = channel.pipeline().get(SslHandler.class);
    boolean h2 =
        tls != null
            ? ApplicationProtocolNames.HTTP_2.equals(tls.applicationProtocol())
            : origin.http2PriorKnowledge();
    if (tls != null && !h2) {
      http1Only.add(origin);
    }
    if (h2) {
      Http2Connection connection = Http2Connection.install(channel, origin, this, maxHeaderBytes);
      http2.computeIfAbsent(origin, o -> new ArrayList<>(1)).add(connection);
      startSweeper();
      return connection;
    }
    channel.pipeline().addLast("http", new HttpClientCodec(decoderConfig.clone(), false, false));
    Http1Connection connection = new Http1Connection(channel, origin, this);
    channel.pipeline().addLast("exchange", connection);
    return connection;
  }

  void closed(Http1Connection c) {
    ArrayDeque<Http1Connection> connections = idle.get(c.origin());
    if (connections != null) {
      connections.remove(c);
    }
  }

  void closed(Http2Connection c) {
    List<Http2Connection> connections = http2.get(c.origin());
    if (connections != null) {
      connections.remove(c);
      if (connections.isEmpty()) {
        http2.remove(c.origin());
      }
    }
  }

  ChannelFuture connect(InetSocketAddress address, UpstreamOrigin origin, long connectTimeoutNanos) {
    int millis = (int) Math.max(1, Math.min(Integer.MAX_VALUE, connectTimeoutNanos / 1_000_000));
    return bootstrap
        .clone()
        .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, millis)
        .handler(new Initializer(origin))
        .connect(address);
  }

  int openConnections() {
    return open.size();
  }

  int idleConnections() {
    int n = 0;
    for (ArrayDeque<Http1Connection> connections : idle.values()) {
      n += connections.size();
    }
    for (List<Http2Connection> connections : http2.values()) {
      for (Http2Connection c : connections) {
        if (c.idle()) {
          n++;
        }
      }
    }
    return n;
  }

  /** Closes every connection; running exchanges fail (with {@code CLIENT_CLOSED}). */
  void close() {
    closed = true;
    if (sweeper != null) {
      sweeper.cancel(false);
      sweeper = null;
    }
    for (Channel c : new ArrayList<>(open)) {
      c.close();
    }
    idle.clear();
    http2.clear();
  }

  private void startSweeper() {
    if (sweeper == null && !closed) {
      long period = Math.max(TimeUnit.SECONDS.toNanos(1), idleTimeoutNanos / 2);
      sweeper = eventLoop.scheduleWithFixedDelay(this::sweep, period, period, TimeUnit.NANOSECONDS);
    }
  }

  private void sweep() {
    long now = System.nanoTime();
    for (Iterator<ArrayDeque<Http1Connection>> it = idle.values().iterator(); it.hasNext(); ) {
      ArrayDeque<Http1Connection> connections = it.next();
      Http1Connection oldest;
      while ((oldest = connections.peekFirst()) != null
          && now - oldest.idleSince() >= idleTimeoutNanos) {
        connections.pollFirst();
        oldest.channel().close();
      }
      if (connections.isEmpty()) {
        it.remove();
      }
    }
    for (List<Http2Connection> connections : new ArrayList<>(http2.values())) {
      for (Http2Connection c : new ArrayList<>(connections)) {
        if (c.idle() && now - c.idleSince() >= idleTimeoutNanos) {
          c.channel().close();
        }
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
