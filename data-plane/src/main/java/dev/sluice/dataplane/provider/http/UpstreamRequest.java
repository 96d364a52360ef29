package dev.sluice.dataplane.provider.http;

import static java.util.Objects.requireNonNull;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.handler.codec.http.DefaultHttpHeadersFactory;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import java.time.Duration;

/**
 * One upstream HTTP request: where it goes, what it carries and how long each phase may take.
 *
 * <p>The body is owned by the request: {@link HttpUpstreamClient#exchange} releases it when the
 * exchange no longer needs it, also on failure. A request is used for one exchange only.
 *
 * <p>Timeouts, all optional: the deadline bounds the whole exchange; the first-byte timeout bounds
 * the wait from the start until the first body byte (a streaming model's time to first token);
 * the idle timeout bounds each later gap between body reads, but never the total length of a
 * stream, and does not run while reading is paused for flow control.
 */
public final class UpstreamRequest {
  private final UpstreamOrigin origin;
  private final HttpMethod method;
  private final String pathAndQuery;
  private final HttpHeaders headers;
  private final ByteBuf body;
  private final long connectTimeoutNanos;
  private final long firstByteTimeoutNanos;
  private final long idleTimeoutNanos;
  private final long deadlineNanos;

  private UpstreamRequest(Builder b) {
    this.origin = b.origin;
    this.method = b.method;
    this.pathAndQuery = b.pathAndQuery;
    this.headers = b.headers;
    this.body = b.body;
    this.connectTimeoutNanos = b.connectTimeoutNanos;
    this.firstByteTimeoutNanos = b.firstByteTimeoutNanos;
    this.idleTimeoutNanos = b.idleTimeoutNanos;
    this.deadlineNanos = b.deadlineNanos;
  }

  /**
   * Starts a request.
   *
   * @param pathAndQuery the request target, starting with {@code /}
   */
  public static Builder builder(UpstreamOrigin origin, HttpMethod method, String pathAndQuery) {
    return new Builder(origin, method, pathAndQuery);
  }

  public UpstreamOrigin origin() {
    return origin;
  }

  public HttpMethod method() {
    return method;
  }

  public String pathAndQuery() {
    return pathAndQuery;
  }

  public HttpHeaders headers() {
    return headers;
  }

  public ByteBuf body() {
    return body;
  }

  public long connectTimeoutNanos() {
    return connectTimeoutNanos;
  }

  /** 0 means none. */
  public long firstByteTimeoutNanos() {
    return firstByteTimeoutNanos;
  }

  /** 0 means none. */
  public long idleTimeoutNanos() {
    return idleTimeoutNanos;
  }

  /** Absolute, on the {@link System#nanoTime()} clock; {@link Long#MAX_VALUE} means none. */
  public long deadlineNanos() {
    return deadlineNanos;
  }

  @Override
  public String toString() {
    // Headers may carry credentials: never print them.
    return method + " " + origin + pathAndQuery;
  }

  /** Builds an {@link UpstreamRequest}. */
  public static final class Builder {
    private static final DefaultHttpHeadersFactory HEADERS =
        DefaultHttpHeadersFactory.headersFactory().withValidation(false);

    private final UpstreamOrigin origin;
    private final HttpMethod method;
    private final String pathAndQuery;
    private final HttpHeaders headers = HEADERS.newHeaders();
    private ByteBuf body = Unpooled.EMPTY_BUFFER;
    private long connectTimeoutNanos = Duration.ofSeconds(5).toNanos();
    private long firstByteTimeoutNanos;
    private long idleTimeoutNanos;
    private long deadlineNanos = Long.MAX_VALUE;

    private Builder(UpstreamOrigin origin, HttpMethod method, String pathAndQuery) {
      this.origin = requireNonNull(origin, "origin");
      this.method = requireNonNull(method, "method");
      this.pathAndQuery = requireNonNull(pathAndQuery, "pathAndQuery");
      if (!pathAndQuery.startsWith("/")) {
        throw new IllegalArgumentException(
            "pathAndQuery: " + pathAndQuery + " (expected: starting with /)");
      }
    }

    /**
     * Adds a header. Values are not validated here: callers pass trusted names and values already
     * checked for line breaks (see {@link HeaderValues}).
     */
    public Builder header(CharSequence name, CharSequence value) {
      headers.add(name, value);
      return this;
    }

    /** The body; ownership passes to the request. */
    public Builder body(ByteBuf body) {
      this.body = requireNonNull(body, "body");
      return this;
    }

    public Builder connectTimeoutNanos(long nanos) {
      this.connectTimeoutNanos = positive(nanos, "connectTimeoutNanos");
      return this;
    }

    /** 0 means none. */
    public Builder firstByteTimeoutNanos(long nanos) {
      this.firstByteTimeoutNanos = nonNegative(nanos, "firstByteTimeoutNanos");
      return this;
    }

    /** 0 means none. */
    public Builder idleTimeoutNanos(long nanos) {
      this.idleTimeoutNanos = nonNegative(nanos, "idleTimeoutNanos");
      return this;
    }

    /** Absolute, on the {@link System#nanoTime()} clock; {@link Long#MAX_VALUE} means none. */
    public Builder deadlineNanos(long deadlineNanos) {
      this.deadlineNanos = deadlineNanos;
      return this;
    }

    public UpstreamRequest build() {
      return new UpstreamRequest(this);
    }

    private static long positive(long value, String name) {
      if (value <= 0) {
        throw new IllegalArgumentException(name + ": " + value + " (expected: > 0)");
      }
      return value;
    }

    private static long nonNegative(long value, String name) {
      if (value < 0) {
        throw new IllegalArgumentException(name + ": " + value + " (expected: >= 0)");
      }
      return value;
    }
  }
}
