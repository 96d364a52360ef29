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
import java.util.Objects;
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
 */
final class GrpcChannels implements AutoCloseable {
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
  private final ConcurrentHashMap<Key, ManagedChannel> channels = new ConcurrentHashMap<>();
  private volatile boolean closed;

  GrpcChannels(EventLoopGroup group, Class<? extends Channel> channelType, SecretResolver secrets) {
    this.group = group;
    this.channelType = channelType;
    this.secrets = secrets;
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
    ManagedChannel channel = channels.get(key);
    if (channel != null) {
      return channel;
    }
    return channels.computeIfAbsent(key, k -> build(backend, clientKey));
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
    for (ManagedChannel c : channels.values()) {
      c.shutdownNow();
    }
    for (ManagedChannel c : channels.values()) {
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
