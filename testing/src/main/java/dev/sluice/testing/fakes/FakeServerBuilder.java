package dev.sluice.testing.fakes;

import static java.util.Objects.requireNonNull;

import io.netty.handler.ssl.ApplicationProtocolConfig;
import io.netty.handler.ssl.ApplicationProtocolNames;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import java.io.File;
import javax.net.ssl.SSLException;
import org.jspecify.annotations.Nullable;

/** Transport options every fake's builder has: TLS, HTTP/2 and socket buffers. */
public abstract class FakeServerBuilder<B extends FakeServerBuilder<B>> {
  @Nullable SslContext tls;
  @Nullable File certificateChain;
  @Nullable File privateKey;
  boolean http2;
  int socketSendBufferBytes;

  FakeServerBuilder() {}

  abstract B self();

  /** Serves https with this server context (then the base URL starts with https). */
  public B tls(SslContext serverContext) {
    this.tls = requireNonNull(serverContext, "serverContext");
    return self();
  }

  /**
   * Serves https with this PEM certificate chain and PKCS#8 key; with {@link #http2()} the server
   * offers {@code h2} and {@code http/1.1} by ALPN.
   */
  public B tls(File certificateChain, File privateKey) {
    this.certificateChain = requireNonNull(certificateChain, "certificateChain");
    this.privateKey = requireNonNull(privateKey, "privateKey");
    return self();
  }

  /**
   * Speaks HTTP/2 as well as HTTP/1.1: by ALPN over TLS, with prior knowledge ({@code h2c}) in
   * plaintext. A stream reset ({@code resetAfterEvents}) is then an {@code RST_STREAM}.
   */
  public B http2() {
    this.http2 = true;
    return self();
  }

  /**
   * The socket send buffer of accepted connections. Small values make flow-control stalls
   * appear after little data. Default: the system's.
   */
  public B socketSendBufferBytes(int bytes) {
    this.socketSendBufferBytes = bytes;
    return self();
  }

  boolean isTls() {
    return tls != null || certificateChain != null;
  }

  ScriptedHttpServer server(java.util.function.Function<RecordedRequest, ScriptedResponse> responder) {
    return new ScriptedHttpServer(responder, sslContext(), socketSendBufferBytes, http2);
  }

  private @Nullable SslContext sslContext() {
    if (tls != null || certificateChain == null || privateKey == null) {
      return tls;
    }
    try {
      SslContextBuilder b = SslContextBuilder.forServer(certificateChain, privateKey).sslProvider(SslProvider.JDK);
      if (http2) {
        b.applicationProtocolConfig(
            new ApplicationProtocolConfig(
                ApplicationProtocolConfig.Protocol.ALPN,
                ApplicationProtocolConfig.SelectorFailureBehavior.NO_ADVERTISE,
                ApplicationProtocolConfig.SelectedListenerFailureBehavior.ACCEPT,
                ApplicationProtocolNames.HTTP_2,
                ApplicationProtocolNames.HTTP_1_1));
      }
      return b.build();
    } catch (SSLException e) {
      throw new IllegalArgumentException("cannot build a TLS context from the given files", e);
    }
  }
}
