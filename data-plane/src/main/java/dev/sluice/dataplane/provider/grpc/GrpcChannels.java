package dev.sluice.dataplane.provider.grpc;

import dev.sluice.config.v1.Backend;
import dev.sluice.config.v1.TlsSettings;
import dev.sluice.dataplane.provider.Secret;
import dev.sluice.dataplane.provider.SecretResolver;
import dev.sluice.dataplane.provider.UpstreamException;
import dev.sluice.dataplane.provider.UpstreamFailure;
import dev.sluice.dataplane.provider.http.BaseUrl;
import io.grpc.ManagedChannel;
import io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.channel.Channel;
import io.netty.channel.EventLoopGroup;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import java.io.ByteArrayInputStream;
import java.io.File;
import java.io.FileInputStream;
import java.nio.charset.StandardCharsets;
import com.google.common.base.Ticker;
import io.netty.util.concurrent.ScheduledFuture;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;

/**
 * The gRPC channels to upstream gateways, one per distinct endpoint (URL and TLS settings), shared
 * by every backend that points there and kept across config versions that do not change them.
 *
 * <p>Channels run on the data plane's event loop group and deliver callbacks directly on the
 * transport's loop ({@code directExecutor}): the adapter's callbacks never block, and this keeps a
 * streamed event on one thread from socket to listener.
 *
 * <p>A channel nobody asked for during {@code idleTimeout} is dropped: config versions come and go,
 * and an endpoint the config no longer names would otherwise keep its channel (its TLS context, its
 * name resolver, its slot in this map) for the life of the process. grpc-java's own idle mode
 * already closes the connections of a quiet channel; this releases the channel itself. A dropped
 * channel is shut down gracefully and only after {@link #SHUTDOWN_GRACE}: a call that fetched it
 * just before it was dropped still starts on it, and calls in flight run to their end.
 */
final class GrpcChannels implements AutoCloseable {
  /** Default of how long an unused channel is kept. */
  static final Duration DEFAULT_IDLE_TIMEOUT = Duration.ofMinutes(30);

  /** How long a dropped channel still accepts the calls of callers that fetched it before. */
  static final Duration SHUTDOWN_GRACE = Duration.ofSeconds(5);

  /** A channel and when it was last handed out. */
  private static final class Entry {
    final ManagedChannel channel;
    volatile long lastUsedNanos;

    Entry(ManagedChannel channel, long now) {
      this.channel = channel;
      this.lastUsedNanos = now;
    }
  }

  private record Key(String baseUrl, TlsSettings tls, @Nullable Secret clientKey) {
    @Override
    public boolean equals(@Nullable Object o) {
      return o instanceof Key k && k.baseUrl.equals(baseUrl) && k.tls.equals(tls) && k.clientKey == clientKey;
    }

    @Override
    public int hashCode() {
      return Objects.hash(baseUrl, tls, System.identityHashCode(clientKey));
    }
  }

  static final int FLOW_CONTROL_WINDOW = 1 << 20;

  private final EventLoopGroup group;
  private final Class<? extends Channel> channelType;
  private final SecretResolver secrets;
  private final Ticker ticker;
  private final long idleTimeoutNanos;
  private final long shutdownGraceNanos;
  private final ConcurrentHashMap<Key, Entry> channels = new ConcurrentHashMap<>();
  /** Dropped channels waiting out their grace; {@link #close} shuts them down at once. */
  private final Set<ManagedChannel> retiring = ConcurrentHashMap.newKeySet();
  private final @Nullable ScheduledFuture<?> sweeper;
  private volatile boolean closed;

  GrpcChannels(EventLoopGroup group, Class<? extends Channel> channelType, SecretResolver secrets) {
    this(group, channelType, secrets, Ticker.systemTicker(), DEFAULT_IDLE_TIMEOUT, SHUTDOWN_GRACE, true);
  }

  /**
   * @param shutdownGrace how long a dropped channel still takes calls before it shuts down
   * @param sweepPeriodically whether to drop idle channels on a timer (tests call {@link
   *     #dropIdle} themselves with a fake ticker)
   */
  GrpcChannels(
      EventLoopGroup group,
      Class<? extends Channel> channelType,
      SecretResolver secrets,
      Ticker ticker,
      Duration idleTimeout,
      Duration shutdownGrace,
      boolean sweepPeriodically) {
    this.group = group;
    this.channelType = channelType;
    this.secrets = secrets;
    this.ticker = ticker;
    this.idleTimeoutNanos = idleTimeout.toNanos();
    this.shutdownGraceNanos = shutdownGrace.toNanos();
    long period = Math.max(TimeUnit.SECONDS.toNanos(1), idleTimeoutNanos / 4);
    this.sweeper =
        sweepPeriodically
            ? group.next().scheduleWithFixedDelay(this::dropIdle, period, period, TimeUnit.NANOSECONDS)
            : null;
  }

  /**
   * The channel for {@code backend}.
   *
   * @throws UpstreamException {@code MISCONFIGURED} for a missing or invalid base URL or TLS setup
   */
  ManagedChannel get(Backend backend) {
    if (closed) {
      throw new UpstreamException(
          UpstreamFailure.CONNECT_FAILED, backend.getName(), 0, null, "the gateway is shutting down", null);
    }
    TlsSettings tls = backend.getTls();
    Secret clientKey = tls.hasClientKey() ? secrets.resolve(tls.getClientKey(), backend.getName()) : null;
    Key key = new Key(backend.getBaseUrl(), tls, clientKey);
    long now = ticker.read();
    Entry entry = channels.get(key);
    if (entry == null) {
      entry = channels.computeIfAbsent(key, k -> new Entry(build(backend, clientKey), now));
    }
    entry.lastUsedNanos = now;
    return entry.channel;
  }

  /**
   * Drops the channels not handed out for the idle timeout and shuts each down after the shutdown
   * grace; returns how many it dropped.
   */
  int dropIdle() {
    long now = ticker.read();
    int dropped = 0;
    for (var e : channels.entrySet()) {
      Entry entry = e.getValue();
      if (now - entry.lastUsedNanos >= idleTimeoutNanos && channels.remove(e.getKey(), entry)) {
        dropped++;
        ManagedChannel channel = entry.channel;
        retiring.add(channel);
        group.next()
            .schedule(
                () -> {
                  if (retiring.remove(channel)) {
                    channel.shutdown();
                  }
                },
                shutdownGraceNanos,
                TimeUnit.NANOSECONDS);
      }
    }
    return dropped;
  }

  /** How many channels are kept now. */
  int size() {
    return channels.size();
  }

  private ManagedChannel build(Backend backend, @Nullable Secret clientKey) {
    String name = backend.getName();
    if (backend.getBaseUrl().isEmpty()) {
      throw misconfigured(name, "base_url is required for SLUICE_GRPC backends");
    }
    BaseUrl url;
    try {
      url = BaseUrl.parse(backend.getBaseUrl());
    } catch (IllegalArgumentException e) {
      throw misconfigured(name, e.getMessage());
    }
    NettyChannelBuilder builder =
        NettyChannelBuilder.forAddress(url.host(), url.port())
            .eventLoopGroup(group)
            .channelType(channelType)
            .directExecutor()
            .maxInboundMessageSize(64 << 20)
            // A fixed window (this also turns off BDP auto-tuning, which can grow the window while
            // a paused stream is not being read): a slow client leaves at most this much buffered
            // per upstream stream.
            .flowControlWindow(FLOW_CONTROL_WINDOW)
            .keepAliveTime(60, TimeUnit.SECONDS)
            .keepAliveTimeout(20, TimeUnit.SECONDS);
    if (url.tls()) {
      TlsSettings tls = backend.getTls();
      try {
        SslContextBuilder ssl = GrpcSslContexts.configure(SslContextBuilder.forClient(), SslProvider.JDK);
        if (!tls.getCaFile().isEmpty()) {
          ssl.trustManager(new File(tls.getCaFile()));
        }
        if (!tls.getClientCertificateFile().isEmpty()) {
          if (clientKey == null) {
            throw misconfigured(name, "tls.client_key is required with a client certificate");
          }
          ssl.keyManager(
              new FileInputStream(tls.getClientCertificateFile()),
              new ByteArrayInputStream(clientKey.reveal().getBytes(StandardCharsets.UTF_8)));
        }
        builder.sslContext(ssl.build()).useTransportSecurity();
      } catch (UpstreamException e) {
        throw e;
      } catch (Exception e) {
        throw misconfigured(name, "TLS settings cannot be used");
      }
      if (!tls.getServerName().isEmpty()) {
        builder.overrideAuthority(tls.getServerName() + ":" + url.port());
      }
    } else {
      builder.usePlaintext();
    }
    return builder.build();
  }

  private static UpstreamException misconfigured(String backend, @Nullable String message) {
    return new UpstreamException(
        UpstreamFailure.MISCONFIGURED, backend, 0, null, message + " (backend " + backend + ")", null);
  }

  @Override
  public void close() {
    closed = true;
    if (sweeper != null) {
      sweeper.cancel(false);
    }
    List<ManagedChannel> all = new ArrayList<>(retiring);
    channels.values().forEach(entry -> all.add(entry.channel));
    for (ManagedChannel c : all) {
      c.shutdownNow();
    }
    for (ManagedChannel c : all) {
      try {
        c.awaitTermination(5, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      }
    }
    channels.clear();
  }
}
