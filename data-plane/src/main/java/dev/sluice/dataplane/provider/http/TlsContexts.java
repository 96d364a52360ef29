package dev.sluice.dataplane.provider.http;

import static java.util.Objects.requireNonNull;

import dev.sluice.config.v1.TlsSettings;
import dev.sluice.dataplane.provider.Secret;
import dev.sluice.dataplane.provider.UpstreamException;
import dev.sluice.dataplane.provider.UpstreamFailure;
import io.netty.handler.ssl.ApplicationProtocolConfig;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import java.io.ByteArrayInputStream;
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import javax.net.ssl.SSLException;
import org.jspecify.annotations.Nullable;

/**
 * Client TLS contexts for backends, built once per distinct setting and shared: building one reads
 * PEM files and initializes trust managers, which is far too slow for a request path.
 *
 * <p>All use the JDK provider, verify the server's host name ({@code HTTPS} endpoint
 * identification), and trust the system roots unless {@link TlsSettings#getCaFile()} names a PEM
 * bundle. A client key rotated in its secret gives a new context (the key secret is part of the
 * cache key by identity, and the {@code SecretResolver} hands out a new {@link Secret} when the
 * value changes).
 */
public final class TlsContexts {
  private record Key(TlsSettings settings, @Nullable Secret clientKey, boolean http2) {
    @Override
    public boolean equals(@Nullable Object o) {
      return o instanceof Key k
          && k.settings.equals(settings)
          && k.clientKey == clientKey
          && k.http2 == http2;
    }

    @Override
    public int hashCode() {
      return Objects.hash(settings, System.identityHashCode(clientKey), http2);
    }
  }

  private final ConcurrentHashMap<Key, SslContext> contexts = new ConcurrentHashMap<>();

  /**
   * The context for {@code settings} (the default instance means system roots, no client
   * certificate).
   *
   * @param clientKey the resolved {@link TlsSettings#getClientKey()}, when a client certificate is
   *     configured
   * @param http2 whether to offer {@code h2} (then {@code http/1.1}) by ALPN
   * @throws UpstreamException {@code MISCONFIGURED} when a file cannot be read or parsed; the
   *     message names the setting, not the content
   */
  public SslContext get(
      TlsSettings settings, @Nullable Secret clientKey, boolean http2, String backend) {
    requireNonNull(settings, "settings");
    Key key = new Key(settings, clientKey, http2);
    SslContext context = contexts.get(key);
    if (context != null) {
      return context;
    }
    context = build(settings, clientKey, http2, backend);
    SslContext raced = contexts.putIfAbsent(key, context);
    return raced != null ? raced : context;
  }

  private static SslContext build(
      TlsSettings settings, @Nullable Secret clientKey, boolean http2, String backend) {
    SslContextBuilder builder =
        SslContextBuilder.forClient()
            .sslProvider(SslProvider.JDK)
            .endpointIdentificationAlgorithm("HTTPS");
    if (!settings.getCaFile().isEmpty()) {
      try {
        builder.trustManager(new File(settings.getCaFile()));
      } catch (RuntimeException e) {
        throw misconfigured(backend, "tls.ca_file " + settings.getCaFile() + " cannot be used", e);
      }
    }
    if (!settings.getClientCertificateFile().isEmpty()) {
      if (clientKey == null) {
        throw misconfigured(backend, "tls.client_key is required with a client certificate", null);
      }
      try {
        builder.keyManager(
            new java.io.FileInputStream(settings.getClientCertificateFile()),
            new ByteArrayInputStream(clientKey.reveal().getBytes(StandardCharsets.UTF_8)));
      } catch (java.io.IOException | RuntimeException e) {
        // The cause may describe the key material: keep it out of the exception chain.
        throw misconfigured(
            backend,
            "tls.client_certificate_file " + settings.getClientCertificateFile()
                + " or tls.client_key cannot be used",
            null);
      }
    }
    if (http2) {
      builder.applicationProtocolConfig(
          new ApplicationProtocolConfig(
              ApplicationProtocolConfig.Protocol.ALPN,
              ApplicationProtocolConfig.SelectorFailureBehavior.NO_ADVERTISE,
              ApplicationProtocolConfig.SelectedListenerFailureBehavior.ACCEPT,
              "h2",
              "http/1.1"));
    }
    try {
      return builder.build();
    } catch (SSLException | RuntimeException e) {
      throw misconfigured(backend, "TLS settings cannot be used", null);
    }
  }

  private static UpstreamException misconfigured(
      String backend, String message, @Nullable Throwable cause) {
    return new UpstreamException(
        UpstreamFailure.MISCONFIGURED, backend, 0, null, message + " (backend " + backend + ")",
        cause);
  }
}
