package dev.sluice.controlplane.quota;

import static java.util.Objects.requireNonNull;

import io.grpc.ManagedChannel;
import io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLException;
import org.jspecify.annotations.Nullable;

/**
 * Opens the gRPC channels one control-plane replica uses to forward {@code LeaseQuota} calls to
 * another (the elected quota allocator), at the address that replica advertises.
 *
 * <p>Replicas speak to each other as data planes speak to them: plaintext when the replicas serve
 * plaintext, and TLS when they serve TLS. Over TLS the forwarding replica verifies the leader's
 * certificate against the host in its advertised address, trusting the given CA (the one that
 * issues the deployment's certificates; the JDK's trust store when none is given), and presents
 * its own certificate as a client certificate, because a replica that requires client
 * certificates of data planes requires them of every caller. A replica certificate must then be
 * valid for client authentication too (extended key usage {@code clientAuth} as well as {@code
 * serverAuth}, or no extended key usage).
 */
@FunctionalInterface
public interface PeerChannels {
  /** A channel to {@code address} ({@code HOST:PORT}); the caller shuts it down. */
  ManagedChannel open(String address);

  /** Plaintext channels, for replicas that serve plaintext (loopback, development). */
  static PeerChannels plaintext() {
    return address -> configure(NettyChannelBuilder.forTarget(address)).usePlaintext().build();
  }

  /**
   * TLS channels.
   *
   * @param trustedCa PEM CAs to verify the leader's certificate with, or null for the JDK's
   * @param certificateChain PEM certificate chain presented to the leader, or null for none
   * @param privateKey PKCS#8 PEM key of {@code certificateChain}, or null for none
   * @throws IllegalArgumentException if the files cannot be read
   */
  static PeerChannels tls(
      @Nullable Path trustedCa, @Nullable Path certificateChain, @Nullable Path privateKey) {
    SslContext ssl;
    try {
      SslContextBuilder builder = GrpcSslContexts.forClient();
      if (trustedCa != null) {
        builder.trustManager(trustedCa.toFile());
      }
      if (certificateChain != null && privateKey != null) {
        builder.keyManager(certificateChain.toFile(), privateKey.toFile());
      }
      ssl = builder.build();
    } catch (SSLException | RuntimeException e) {
      throw new IllegalArgumentException(
          "cannot set up TLS between control-plane replicas: " + e.getMessage(), e);
    }
    return address -> configure(NettyChannelBuilder.forTarget(address)).sslContext(ssl).build();
  }

  private static NettyChannelBuilder configure(NettyChannelBuilder builder) {
    requireNonNull(builder, "builder");
    // Forwarded calls come about once a second per node; an idle channel (this replica became
    // the leader, or the leader is unreachable) releases its connection.
    return builder.idleTimeout(5, TimeUnit.MINUTES);
  }
}
