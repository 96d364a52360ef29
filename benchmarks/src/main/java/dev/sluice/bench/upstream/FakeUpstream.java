package dev.sluice.bench.upstream;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static java.util.Objects.requireNonNull;

import dev.sluice.bench.internal.DurationConverter;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpServerKeepAliveHandler;
import io.netty.handler.codec.http.HttpServerUpgradeHandler;
import io.netty.handler.codec.http2.CleartextHttp2ServerUpgradeHandler;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamFrameToHttpObjectCodec;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.jspecify.annotations.Nullable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * A fake OpenAI-compatible upstream for benchmarks, bound to 127.0.0.1.
 *
 * <ul>
 *   <li>{@code POST /v1/chat/completions}: JSON with {@code usage}, or SSE when {@code "stream":
 *       true}; as many tokens as {@code max_completion_tokens} / {@code max_tokens} ask for
 *       (default 16). Per-token delay: the {@code /d/{ms}} path prefix ({@code
 *       /d/20/v1/chat/completions}), else the {@code x-mock-delay-ms} header, else the configured
 *       default.
 *   <li>{@code POST /v1/embeddings}: one fixed vector per input.
 *   <li>{@code GET /v1/models}, {@code GET /health}.
 * </ul>
 *
 * <p>Speaks HTTP/1.1 and, on the same port, HTTP/2 with prior knowledge (h2c), each stream served
 * as an HTTP/1.1 connection would be: the gateway's {@code h2c} backends multiplex their streams
 * over one connection, as they would to a provider that offers HTTP/2.
 *
 * <p>One event-loop thread by default: in the benchmark layout it shares a core with the load
 * generator, and one thread is what a core can run.
 */
public final class FakeUpstream implements AutoCloseable {
  private final EventLoopGroup boss;
  private final EventLoopGroup workers;
  private final Channel server;
  private final AtomicInteger connections = new AtomicInteger();

  private FakeUpstream(Settings settings, int port, int threads) throws InterruptedException {
    boss = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
    workers = new MultiThreadIoEventLoopGroup(threads, NioIoHandler.newFactory());
    try {
      server =
          new ServerBootstrap()
              .group(boss, workers)
              .channel(NioServerSocketChannel.class)
              .option(ChannelOption.SO_BACKLOG, 4096)
              .childOption(ChannelOption.TCP_NODELAY, true)
              .childOption(
                  ChannelOption.WRITE_BUFFER_WATER_MARK,
                  new WriteBufferWaterMark(64 * 1024, 256 * 1024))
              .childHandler(
                  new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                      connections.incrementAndGet();
                      HttpServerCodec http1 = new HttpServerCodec();
                      ch.pipeline()
                          .addLast(
                              new CleartextHttp2ServerUpgradeHandler(
                                  http1,
                                  new HttpServerUpgradeHandler(http1, protocol -> null),
                                  http2(settings)))
                          .addLast(new HttpServerKeepAliveHandler())
                          .addLast(new HttpObjectAggregator(4 << 20))
                          .addLast(new UpstreamHandler(settings));
                    }
                  })
              .bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port))
              .sync()
              .channel();
    } catch (InterruptedException | RuntimeException e) {
      boss.shutdownGracefully(0, 0, TimeUnit.SECONDS);
      workers.shutdownGracefully(0, 0, TimeUnit.SECONDS);
      throw e;
    }
  }

  /**
   * What replaces the HTTP/1.1 codec when a connection opens with the HTTP/2 preface: the frame
   * codec, and one child channel per stream with the HTTP/1.1 handlers behind a converter.
   */
  private static ChannelInitializer<Channel> http2(Settings settings) {
    return new ChannelInitializer<>() {
      @Override
      protected void initChannel(Channel ch) {
        ch.pipeline()
            .addLast(Http2FrameCodecBuilder.forServer().build())
            .addLast(
                new Http2MultiplexHandler(
                    new ChannelInitializer<Http2StreamChannel>() {
                      @Override
                      protected void initChannel(Http2StreamChannel stream) {
                        stream
                            .pipeline()
                            .addLast(new Http2StreamFrameToHttpObjectCodec(true))
                            .addLast(new HttpObjectAggregator(4 << 20))
                            .addLast(new UpstreamHandler(settings));
                      }
                    }));
      }
    };
  }

  /** A builder with the defaults of the class docs. */
  public static Builder builder() {
    return new Builder();
  }

  /** The port the server listens on. */
  public int port() {
    return ((InetSocketAddress) server.localAddress()).getPort();
  }

  /** How many connections the server has accepted since it started. */
  public int connectionsAccepted() {
    return connections.get();
  }

  /** The OpenAI API base URL, {@code http://127.0.0.1:PORT/v1}. */
  public String baseUrl() {
    return "http://127.0.0.1:" + port() + "/v1";
  }

  @Override
  public void close() {
    server.close().syncUninterruptibly();
    boss.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    workers.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
  }

  /** Builds and starts a {@link FakeUpstream}. */
  public static final class Builder {
    private int port;
    private int threads = 1;
    private Duration tokenDelay = Duration.ZERO;
    private int defaultTokens = 16;
    private int embeddingDimensions = 1536;

    private Builder() {}

    /** The port; 0 (the default) picks a free one. */
    public Builder port(int port) {
      if (port < 0 || port > 65535) {
        throw new IllegalArgumentException("port: " + port + " (expected: 0..65535)");
      }
      this.port = port;
      return this;
    }

    /** Event-loop threads (default 1). */
    public Builder threads(int threads) {
      if (threads < 1) {
        throw new IllegalArgumentException("threads: " + threads + " (expected: >= 1)");
      }
      this.threads = threads;
      return this;
    }

    /** Default delay before each streamed token (default 0: all tokens in one burst). */
    public Builder tokenDelay(Duration tokenDelay) {
      this.tokenDelay = requireNonNull(tokenDelay, "tokenDelay");
      return this;
    }

    /** Tokens per answer when the request sets no limit (default 16). */
    public Builder defaultTokens(int defaultTokens) {
      if (defaultTokens < 1) {
        throw new IllegalArgumentException("defaultTokens: " + defaultTokens + " (expected: >= 1)");
      }
      this.defaultTokens = defaultTokens;
      return this;
    }

    /** Length of the embedding vector (default 1536). */
    public Builder embeddingDimensions(int embeddingDimensions) {
      if (embeddingDimensions < 1) {
        throw new IllegalArgumentException(
            "embeddingDimensions: " + embeddingDimensions + " (expected: >= 1)");
      }
      this.embeddingDimensions = embeddingDimensions;
      return this;
    }

    /** Starts the server. */
    public FakeUpstream start() {
      try {
        return new FakeUpstream(
            new Settings(tokenDelay.toMillis(), defaultTokens, embeddingDimensions), port, threads);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException("interrupted while binding", e);
      }
    }
  }

  /** Immutable server settings plus the pre-encoded answers shared by all connections. */
  static final class Settings {
    private final long tokenDelayMillis;
    private final int defaultTokens;
    private final byte[] embedding;
    private final ConcurrentHashMap<Integer, String> contents = new ConcurrentHashMap<>();

    Settings(long tokenDelayMillis, int defaultTokens, int embeddingDimensions) {
      this.tokenDelayMillis = tokenDelayMillis;
      this.defaultTokens = defaultTokens;
      StringBuilder sb = new StringBuilder(embeddingDimensions * 10);
      sb.append('[');
      for (int i = 0; i < embeddingDimensions; i++) {
        sb.append(i > 0 ? "," : "").append(String.format(Locale.ROOT, "%.6f", Math.sin(i) * 0.05));
      }
      this.embedding = sb.append(']').toString().getBytes(US_ASCII);
    }

    long tokenDelayMillis() {
      return tokenDelayMillis;
    }

    int defaultTokens() {
      return defaultTokens;
    }

    byte[] embedding() {
      return embedding;
    }

    /** {@code "tok "} n times, cached per n. */
    String content(int n) {
      return contents.computeIfAbsent(n, k -> "tok ".repeat(k));
    }
  }

  /** Command line: {@code FakeUpstream --port 9001 [--token-delay 20ms] [--port-file F]}. */
  @Command(
      name = "fake-upstream",
      mixinStandardHelpOptions = true,
      description = "Fast fake OpenAI-compatible upstream on 127.0.0.1, for benchmarks.")
  static final class Cli implements Callable<Integer> {
    @Option(names = "--port", description = "Port; 0 picks a free one (default: ${DEFAULT-VALUE}).")
    int port = 9001;

    @Option(names = "--threads", description = "Event-loop threads (default: ${DEFAULT-VALUE}).")
    int threads = 1;

    @Option(
        names = "--token-delay",
        converter = DurationConverter.class,
        description = "Default delay before each streamed token (default: 0).")
    Duration tokenDelay = Duration.ZERO;

    @Option(
        names = "--default-tokens",
        description = "Tokens when a request sets no limit (default: ${DEFAULT-VALUE}).")
    int defaultTokens = 16;

    @Option(
        names = "--embedding-dimensions",
        description = "Embedding length (default: ${DEFAULT-VALUE}).")
    int embeddingDimensions = 1536;

    @Option(names = "--port-file", description = "Write the port to this file once listening.")
    @Nullable Path portFile;

    @Option(
        names = "--max-time",
        converter = DurationConverter.class,
        description = "Exit after this long, as a safety net for scripts (default: 2h).")
    Duration maxTime = Duration.ofHours(2);

    @Override
    public Integer call() throws InterruptedException {
      FakeUpstream up =
          FakeUpstream.builder()
              .port(port)
              .threads(threads)
              .tokenDelay(tokenDelay)
              .defaultTokens(defaultTokens)
              .embeddingDimensions(embeddingDimensions)
              .start();
      CountDownLatch stop = new CountDownLatch(1);
      Runtime.getRuntime()
          .addShutdownHook(
              new Thread(
                  () -> {
                    up.close();
                    stop.countDown();
                  },
                  "fake-upstream-shutdown"));
      if (portFile != null) {
        try {
          Files.writeString(portFile, Integer.toString(up.port()), US_ASCII);
        } catch (IOException e) {
          throw new UncheckedIOException(e);
        }
      }
      System.out.println("fake upstream listening on " + up.baseUrl());
      stop.await(maxTime.toMillis(), TimeUnit.MILLISECONDS);
      return 0;
    }
  }

  public static void main(String[] args) {
    System.exit(new CommandLine(new Cli()).execute(args));
  }
}
