package dev.sluice.dataplane.provider.http;

import static java.util.Objects.requireNonNull;

import io.netty.handler.ssl.SslContext;
import io.netty.util.AsciiString;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * Where connections go: scheme, host and port, plus the TLS context and server name for https.
 * Connections are pooled per origin, so two backends on the same host with different trust
 * settings never share a connection.
 */
public final class UpstreamOrigin {
  private final String host;
  private final int port;
  private final @Nullable SslContext sslContext;
  private final String serverName;
  private final boolean http2PriorKnowledge;
  private final AsciiString hostHeader;
  /** Computed once: pools look an origin up on every request and every release. */
  private final int hash;

  private UpstreamOrigin(
      String host,
      int port,
      @Nullable SslContext sslContext,
      String serverName,
      boolean http2PriorKnowledge) {
    this.host = requireNonNull(host, "host");
    if (port <= 0 || port > 65535) {
      throw new IllegalArgumentException("port: " + port + " (expected: 1-65535)");
    }
    this.port = port;
    this.sslContext = sslContext;
    this.serverName = requireNonNull(serverName, "serverName");
    this.http2PriorKnowledge = http2PriorKnowledge;
    boolean defaultPort = sslContext == null ? port == 80 : port == 443;
    String h = host.indexOf(':') >= 0 ? "[" + host + "]" : host;
    this.hostHeader = new AsciiString(defaultPort ? h : h + ":" + port);
    this.hash =
        Objects.hash(
            host, port, System.identityHashCode(sslContext), serverName, http2PriorKnowledge);
  }

  /** A plaintext ({@code http}) origin spoken to in HTTP/1.1. */
  public static UpstreamOrigin plaintext(String host, int port) {
    return new UpstreamOrigin(host, port, null, host, false);
  }

  /**
   * A plaintext origin spoken to in HTTP/2 with prior knowledge ({@code h2c}, no upgrade dance):
   * for in-house model servers known to speak it (vLLM behind an h2c proxy, Envoy).
   */
  public static UpstreamOrigin h2c(String host, int port) {
    return new UpstreamOrigin(host, port, null, host, true);
  }

  /**
   * A TLS ({@code https}) origin. The protocol is negotiated by ALPN: HTTP/2 when the context
   * offers {@code h2} and the server accepts it, else HTTP/1.1.
   *
   * @param serverName the name sent as SNI and verified against the certificate; usually the host
   */
  public static UpstreamOrigin tls(String host, int port, SslContext sslContext, String serverName) {
    return new UpstreamOrigin(host, port, requireNonNull(sslContext, "sslContext"), serverName, false);
  }

  /** Whether a plaintext connection speaks HTTP/2 from the start. */
  public boolean http2PriorKnowledge() {
    return http2PriorKnowledge;
  }

  public String host() {
    return host;
  }

  public int port() {
    return port;
  }

  public boolean isTls() {
    return sslContext != null;
  }

  public @Nullable SslContext sslContext() {
    return sslContext;
  }

  public String serverName() {
    return serverName;
  }

  /** The {@code host} request header for this origin (port omitted when it is the default). */
  public AsciiString hostHeader() {
    return hostHeader;
  }

  @Override
  public boolean equals(@Nullable Object o) {
    return o instanceof UpstreamOrigin other
        && port == other.port
        && host.equals(other.host)
        && sslContext == other.sslContext
        && http2PriorKnowledge == other.http2PriorKnowledge
        && serverName.equals(other.serverName);
  }

  @Override
  public int hashCode() {
    return hash;
  }

  @Override
  public String toString() {
    return (sslContext == null ? (http2PriorKnowledge ? "h2c://" : "http://") : "https://")
        + hostHeader;
  }
}
