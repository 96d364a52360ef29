package dev.sluice.dataplane.provider.http;

import static java.util.Objects.requireNonNull;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.Channel;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.util.concurrent.EventExecutor;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import java.util.function.ToIntFunction;

/**
 * A non-blocking HTTP/1.1 client for upstream model APIs, on an event loop group it is given (the
 * data plane shares its gRPC server's loops, so a call is served upstream on the loop it arrived
 * on, with no thread hop).
 *
 * <p>Connections are pooled per event loop and {@link UpstreamOrigin}. HTTP/1.1 connections are
 * kept alive and used by one exchange at a time; HTTP/2 (chosen by ALPN for TLS origins whose
 * context offers {@code h2}, or with prior knowledge for {@link UpstreamOrigin#h2c} origins) is
 * shared, one stream per exchange, and a burst of requests to a new origin waits for the first
 * connection's ALPN answer instead of dialling once per request.
 *
 * <p>Each pool is bounded like Envoy's circuit breakers: at most {@link
 * Builder#maxConnectionsPerOrigin} connections per origin, and at most {@link
 * Builder#maxPendingRequestsPerOrigin} requests waiting, in order, for one of them to be released;
 * past that a request fails at once with {@link HttpFailure.Kind#POOL_OVERFLOW}.
 *
 * <p>Flow control: response bytes are read only on demand, so a {@link ResponseHandler} that is not
 * ready stops the reads and the upstream's window closes: the TCP window for HTTP/1.1 ({@code
 * AUTO_READ} off), the stream's window for HTTP/2 (while the connection's other streams go on).
 * Cancel closes an HTTP/1.1 connection (never returned to the pool) and resets an HTTP/2 stream
 * ({@code RST_STREAM}). A request that fails because a reused connection turned out to be closed
 * by the server before any response is sent once more on a new connection, as browsers and OkHttp
 * do.
 *
 * <p>Thread-safe. {@link #close()} closes every connection but not the event loop group, which
 * belongs to the caller.
 */
public final class HttpUpstreamClient implements AutoCloseable {
  /** Default of {@link Builder#maxConnectionsPerOrigin}. */
  public static final int DEFAULT_MAX_CONNECTIONS_PER_ORIGIN = 1024;

  /** Default of {@link Builder#maxPendingRequestsPerOrigin}. */
  public static final int DEFAULT_MAX_PENDING_REQUESTS_PER_ORIGIN = 1024;

  private final LoopConnectionPool[] pools;
  private final HostResolver resolver = new HostResolver();
  private final AtomicInteger next = new AtomicInteger();
  private final ByteBufAllocator allocator;
  private volatile boolean closed;

  private HttpUpstreamClient(Builder b) {
    List<LoopConnectionPool> list = new ArrayList<>();
    for (EventExecutor executor : b.group) {
      if (!(executor instanceof EventLoop loop)) {
        throw new IllegalArgumentException("group: " + b.group + " (expected: an EventLoopGroup)");
      }
      list.add(
          new LoopConnectionPool(
              loop,
              b.channelType,
              b.maxResponseHeaderBytes,
              b.maxConnectionsPerOrigin,
              b.maxPendingRequestsPerOrigin,
              b.idleConnectionTimeout.toNanos(),
              b.socketReceiveBufferBytes));
    }
    if (list.isEmpty()) {
      throw new IllegalArgumentException("group: no event loops");
    }
    this.pools = list.toArray(new LoopConnectionPool[0]);
    this.allocator = ByteBufAllocator.DEFAULT;
  }

  /** A client with default settings. */
  public static HttpUpstreamClient create(
      EventLoopGroup group, Class<? extends Channel> channelType) {
    return builder(group, channelType).build();
  }

  /**
   * Starts a client on {@code group}, whose channels are of {@code channelType} (for example
   * {@code NioSocketChannel.class} for an NIO group, {@code EpollSocketChannel.class} for epoll).
   */
  public static Builder builder(EventLoopGroup group, Class<? extends Channel> channelType) {
    return new Builder(group, channelType);
  }

  /** The allocator request bodies should come from. */
  public ByteBufAllocator allocator() {
    return allocator;
  }

  /**
   * Starts an exchange. Returns at once; {@code handler} is called on the event loop that owns the
   * connection: the caller's loop when the caller runs on one of the group's loops.
   */
  public HttpExchange exchange(UpstreamRequest request, ResponseHandler handler) {
    requireNonNull(request, "request");
    requireNonNull(handler, "handler");
    LoopConnectionPool pool = pickPool();
    UpstreamExchange exchange = new UpstreamExchange(resolver, pool, request, handler);
    EventLoop loop = pool.eventLoop();
    if (loop.inEventLoop()) {
      exchange.start();
    } else {
      try {
        loop.execute(exchange::start);
      } catch (RuntimeException rejected) {
        // The group is shutting down.
        request.body().release();
        handler.onFailure(
            new HttpFailure(
                HttpFailure.Kind.CLIENT_CLOSED, false, request.origin().toString(),
                "the gateway is shutting down", rejected));
      }
    }
    return exchange;
  }

  /**
   * Sends a request and decodes the whole response body, which is buffered up to {@code
   * maxBodyBytes} in one heap buffer (so a JSON parser reads it from its backing array).
   *
   * <p>The future completes on the connection's event loop, with what {@code decoder} returns or
   * throws, or with what {@code onFailure} makes of an {@link HttpFailure}. Cancelling the future
   * cancels the exchange (its connection is closed).
   */
  public <T> CompletableFuture<T> send(
      UpstreamRequest request,
      int maxBodyBytes,
      BodyDecoder<T> decoder,
      Function<HttpFailure, ? extends Throwable> onFailure) {
    BufferingResponseHandler<T> handler =
        new BufferingResponseHandler<>(maxBodyBytes, decoder, onFailure);
    HttpExchange exchange = exchange(request, handler);
    CompletableFuture<T> future = handler.future();
    future.whenComplete(
        (result, error) -> {
          if (future.isCancelled()) {
            exchange.cancel();
          }
        });
    return future;
  }

  /** Decodes a buffered response. */
  @FunctionalInterface
  public interface BodyDecoder<T> {
    /**
     * @param body the whole body, a heap buffer valid only during the call (released after)
     */
    T decode(HttpResponse response, ByteBuf body) throws Exception;
  }

  /**
   * The event loop a call from the current thread would run on: the current loop when the caller
   * runs on one of the group's loops, else the next one in turn. For adapters that must report an
   * error asynchronously.
   */
  public EventLoop eventLoop() {
    return pickPool().eventLoop();
  }

  /** Open connections across all loops (for tests and metrics; approximate while busy). */
  public int openConnections() {
    return sum(LoopConnectionPool::openConnections);
  }

  /** Idle pooled connections across all loops (for tests and metrics; approximate). */
  public int idleConnections() {
    return sum(LoopConnectionPool::idleConnections);
  }

  /**
   * Requests waiting for a connection across all loops (for tests and metrics; approximate).
   */
  public int pendingRequests() {
    return sum(LoopConnectionPool::pendingRequests);
  }

  private int sum(ToIntFunction<LoopConnectionPool> count) {
    int total = 0;
    for (LoopConnectionPool pool : pools) {
      if (pool.eventLoop().inEventLoop()) {
        total += count.applyAsInt(pool);
      } else {
        try {
          total +=
              pool.eventLoop()
                  .submit(() -> count.applyAsInt(pool))
                  .get(5, TimeUnit.SECONDS);
        } catch (Exception e) {
          throw new IllegalStateException("event loop did not answer", e);
        }
      }
    }
    return total;
  }

  /**
   * Closes all connections; running exchanges fail with {@link HttpFailure.Kind#CLIENT_CLOSED}.
   * Waits briefly for the loops to do it, unless called from one of them.
   */
  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    CountDownLatch done = new CountDownLatch(pools.length);
    boolean onLoop = false;
    for (LoopConnectionPool pool : pools) {
      EventLoop loop = pool.eventLoop();
      onLoop |= loop.inEventLoop();
      try {
        loop.execute(
            () -> {
              pool.close();
              done.countDown();
            });
      } catch (RuntimeException rejected) {
        done.countDown(); // the group is already shut down, and its channels with it
      }
    }
    if (!onLoop) {
      try {
        done.await(5, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    resolver.close();
  }

  private LoopConnectionPool pickPool() {
    for (LoopConnectionPool pool : pools) {
      if (pool.eventLoop().inEventLoop()) {
        return pool;
      }
    }
    return pools[Math.floorMod(next.getAndIncrement(), pools.length)];
  }

  /** Builds an {@link HttpUpstreamClient}. */
  public static final class Builder {
    private final EventLoopGroup group;
    private final Class<? extends Channel> channelType;
    private int maxConnectionsPerOrigin = DEFAULT_MAX_CONNECTIONS_PER_ORIGIN;
    private int maxPendingRequestsPerOrigin = DEFAULT_MAX_PENDING_REQUESTS_PER_ORIGIN;
    private Duration idleConnectionTimeout = Duration.ofSeconds(30);
    private int maxResponseHeaderBytes = 32 * 1024;
    private int socketReceiveBufferBytes;

    private Builder(EventLoopGroup group, Class<? extends Channel> channelType) {
      this.group = requireNonNull(group, "group");
      this.channelType = requireNonNull(channelType, "channelType");
    }

    /**
     * Connections per origin and event loop, open or being dialled, HTTP/1.1 and HTTP/2 alike;
     * idle keep-alive connections count too and are kept up to this bound until the idle timeout.
     * A request that finds them all busy waits for one to be released (see {@link
     * #maxPendingRequestsPerOrigin}) rather than dialling a connection it would close after use.
     * Default {@value HttpUpstreamClient#DEFAULT_MAX_CONNECTIONS_PER_ORIGIN}, Envoy's default:
     * an HTTP/1.1 connection carries one request at a time, so this is also the concurrency one
     * loop can have with an HTTP/1.1 origin (an HTTP/2 connection carries the server's stream
     * limit, usually 100 or more).
     */
    public Builder maxConnectionsPerOrigin(int max) {
      if (max < 1) {
        throw new IllegalArgumentException("maxConnectionsPerOrigin: " + max + " (expected: >= 1)");
      }
      this.maxConnectionsPerOrigin = max;
      return this;
    }

    /**
     * Requests per origin and event loop that may wait for a connection when the origin has
     * {@link #maxConnectionsPerOrigin} of them, in arrival order; each waits at most its connect
     * timeout. A request beyond this, or one that waited too long, fails at once with {@link
     * HttpFailure.Kind#POOL_OVERFLOW}: overload turns into fast, retryable failures instead of a
     * growing backlog. Default {@value HttpUpstreamClient#DEFAULT_MAX_PENDING_REQUESTS_PER_ORIGIN},
     * Envoy's default. 0 fails at once whenever no connection is free.
     */
    public Builder maxPendingRequestsPerOrigin(int max) {
      if (max < 0) {
        throw new IllegalArgumentException(
            "maxPendingRequestsPerOrigin: " + max + " (expected: >= 0)");
      }
      this.maxPendingRequestsPerOrigin = max;
      return this;
    }

    /**
     * How long an idle connection is kept. Default 30 s: below most servers' keep-alive limits
     * (a server closing first is handled by resending on a new connection).
     */
    public Builder idleConnectionTimeout(Duration timeout) {
      if (timeout.isNegative() || timeout.isZero()) {
        throw new IllegalArgumentException("idleConnectionTimeout: " + timeout + " (expected: > 0)");
      }
      this.idleConnectionTimeout = timeout;
      return this;
    }

    /** Largest accepted response header block. Default 32 KiB. */
    public Builder maxResponseHeaderBytes(int max) {
      if (max < 1024) {
        throw new IllegalArgumentException("maxResponseHeaderBytes: " + max + " (expected: >= 1024)");
      }
      this.maxResponseHeaderBytes = max;
      return this;
    }

    /**
     * The socket receive buffer ({@code SO_RCVBUF}) of upstream connections, which bounds how much
     * a paused stream leaves buffered in the kernel (and so how soon the upstream feels the
     * backpressure). Default 0: the system's auto-tuned buffer.
     */
    public Builder socketReceiveBufferBytes(int bytes) {
      if (bytes < 0) {
        throw new IllegalArgumentException("socketReceiveBufferBytes: " + bytes + " (expected: >= 0)");
      }
      this.socketReceiveBufferBytes = bytes;
      return this;
    }

    public HttpUpstreamClient build() {
      return new HttpUpstreamClient(this);
    }
  }
}
