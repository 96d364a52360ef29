package dev.sluice.client;

import static java.util.Objects.requireNonNull;

import io.grpc.ChannelCredentials;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Metadata;
import io.grpc.TlsChannelCredentials;
import io.grpc.stub.MetadataUtils;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.time.Duration;
import org.jspecify.annotations.Nullable;

/**
 * Configures a {@link SluiceClient}. Obtain one from {@link SluiceClient#builder()}.
 *
 * <p>Only {@link #target(String)} is required. The defaults: TLS with the system's trusted roots,
 * no API key, a 10-minute deadline per call (long generations need it), a 16 MiB limit on
 * received messages, and at most 3 attempts for retried calls (see {@link SluiceClient} for which
 * calls are retried).
 */
public final class SluiceClientBuilder {
  static final Metadata.Key<String> AUTHORIZATION =
      Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

  private static final int MAX_ATTEMPTS_LIMIT = 5; // gRPC caps service-config retries at 5

  private @Nullable String target;
  private boolean plaintext;
  private @Nullable Path trustedCertificates;
  private @Nullable String apiKey;
  private Duration deadline = Duration.ofMinutes(10);
  private int maxInboundMessageSize = 16 * 1024 * 1024;
  private int maxAttempts = 3;

  SluiceClientBuilder() {}

  /**
   * The gateway's address: {@code host:port}, or any gRPC target URI such as {@code
   * dns:///gateway.example.com:443}. Required.
   */
  public SluiceClientBuilder target(String target) {
    requireNonNull(target, "target");
    if (target.isBlank()) {
      throw new IllegalArgumentException("target: \"\" (expected: host:port)");
    }
    this.target = target.strip();
    return this;
  }

  /**
   * Connects without TLS. Only for a gateway on a trusted network, such as {@code bin/sluice dev}
   * on localhost: the API key then travels in clear text.
   */
  public SluiceClientBuilder plaintext() {
    this.plaintext = true;
    this.trustedCertificates = null;
    return this;
  }

  /** Connects with TLS and verifies the gateway's certificate against the system's roots. */
  public SluiceClientBuilder tls() {
    this.plaintext = false;
    this.trustedCertificates = null;
    return this;
  }

  /**
   * Connects with TLS and verifies the gateway's certificate against the CA certificates in
   * {@code trustedCertificatesPem} (a PEM file) instead of the system's roots.
   */
  public SluiceClientBuilder tls(Path trustedCertificatesPem) {
    this.plaintext = false;
    this.trustedCertificates = requireNonNull(trustedCertificatesPem, "trustedCertificatesPem");
    return this;
  }

  /**
   * The inference API key, sent as {@code authorization: Bearer <key>} on every call. Unset means
   * no credential, which only a gateway that allows anonymous calls accepts.
   */
  public SluiceClientBuilder apiKey(String apiKey) {
    requireNonNull(apiKey, "apiKey");
    if (apiKey.isEmpty() || !apiKey.chars().allMatch(c -> c > ' ' && c < 0x7f)) {
      // The key itself is never echoed: error messages end up in logs.
      throw new IllegalArgumentException(
          "apiKey: (expected: non-empty, printable ASCII without spaces)");
    }
    this.apiKey = apiKey;
    return this;
  }

  /**
   * The deadline of every call, measured from its start; for a stream it bounds the whole stream.
   * Default 10 minutes. {@link SluiceClient#withDeadline(Duration)} overrides it for some calls.
   */
  public SluiceClientBuilder deadline(Duration deadline) {
    this.deadline = checkDeadline(deadline);
    return this;
  }

  /** The largest message the client accepts from the gateway, in bytes. Default 16 MiB. */
  public SluiceClientBuilder maxInboundMessageSize(int bytes) {
    if (bytes <= 0) {
      throw new IllegalArgumentException("maxInboundMessageSize: " + bytes + " (expected: > 0)");
    }
    this.maxInboundMessageSize = bytes;
    return this;
  }

  /**
   * The most attempts, the first included, of a retried call. 1 turns retries off. Default 3,
   * at most 5.
   */
  public SluiceClientBuilder maxAttempts(int maxAttempts) {
    if (maxAttempts < 1 || maxAttempts > MAX_ATTEMPTS_LIMIT) {
      throw new IllegalArgumentException(
          "maxAttempts: " + maxAttempts + " (expected: 1 to " + MAX_ATTEMPTS_LIMIT + ")");
    }
    this.maxAttempts = maxAttempts;
    return this;
  }

  /**
   * Opens the channel and returns the client. The connection itself is made lazily, on the first
   * call.
   *
   * @throws IllegalStateException when no target was set
   * @throws UncheckedIOException when the trusted certificates cannot be read
   */
  public SluiceClient build() {
    if (target == null) {
      throw new IllegalStateException("target is not set (expected: host:port)");
    }
    ManagedChannelBuilder<?> builder =
        Grpc.newChannelBuilder(target, credentials())
            .maxInboundMessageSize(maxInboundMessageSize)
            .defaultServiceConfig(RetryServiceConfig.forMaxAttempts(maxAttempts))
            .enableRetry()
            .userAgent("sluice-java");
    if (apiKey != null) {
      Metadata headers = new Metadata();
      headers.put(AUTHORIZATION, "Bearer " + apiKey);
      builder.intercept(MetadataUtils.newAttachHeadersInterceptor(headers));
    }
    ManagedChannel channel = builder.build();
    return GrpcSluiceClient.owning(
        channel, deadline, new GenerationRetryPolicy(maxAttempts, Duration.ofMillis(500)));
  }

  private ChannelCredentials credentials() {
    if (plaintext) {
      return InsecureChannelCredentials.create();
    }
    if (trustedCertificates == null) {
      return TlsChannelCredentials.create();
    }
    try {
      return TlsChannelCredentials.newBuilder()
          .trustManager(trustedCertificates.toFile())
          .build();
    } catch (IOException e) {
      throw new UncheckedIOException(
          "trustedCertificatesPem: cannot read " + trustedCertificates, e);
    }
  }

  static Duration checkDeadline(Duration deadline) {
    requireNonNull(deadline, "deadline");
    if (deadline.isNegative() || deadline.isZero()) {
      throw new IllegalArgumentException("deadline: " + deadline + " (expected: > 0)");
    }
    return deadline;
  }

  @Override
  public String toString() {
    // Never include the API key.
    return "SluiceClientBuilder{target="
        + target
        + ", plaintext="
        + plaintext
        + ", apiKey="
        + (apiKey == null ? "unset" : "set")
        + ", deadline="
        + deadline
        + "}";
  }
}
