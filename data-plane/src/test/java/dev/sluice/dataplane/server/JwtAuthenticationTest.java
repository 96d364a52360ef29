package dev.sluice.dataplane.server;

import static dev.sluice.dataplane.server.GrpcErrors.errorInfo;
import static dev.sluice.dataplane.server.InferenceServiceTest.chat;
import static dev.sluice.dataplane.server.InferenceServiceTest.config;
import static dev.sluice.dataplane.server.InferenceServiceTest.limiterOf;
import static dev.sluice.dataplane.testing.Jwts.claims;
import static dev.sluice.dataplane.testing.Jwts.ecKey;
import static dev.sluice.dataplane.testing.Jwts.hs256WithPublicKey;
import static dev.sluice.dataplane.testing.Jwts.issuer;
import static dev.sluice.dataplane.testing.Jwts.jwks;
import static dev.sluice.dataplane.testing.Jwts.rsaKey;
import static dev.sluice.dataplane.testing.Jwts.seconds;
import static dev.sluice.dataplane.testing.Jwts.sign;
import static dev.sluice.dataplane.testing.Jwts.token;
import static dev.sluice.dataplane.testing.Jwts.unsigned;
import static dev.sluice.dataplane.testing.Jwts.writeJwks;
import static dev.sluice.dataplane.testing.TestConfigs.plainKey;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.jwk.ECKey;
import com.nimbusds.jose.jwk.RSAKey;
import com.sun.net.httpserver.HttpServer;
import dev.sluice.dataplane.auth.Authenticator;
import dev.sluice.dataplane.metrics.GatewayMetrics;
import dev.sluice.dataplane.overload.CallsInFlight;
import dev.sluice.dataplane.ratelimit.TokenEstimator;
import dev.sluice.dataplane.routing.Router;
import dev.sluice.dataplane.testing.FakeProvider;
import dev.sluice.inference.v1.ChatResponse;
import dev.sluice.inference.v1.InferenceServiceGrpc;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.MetadataUtils;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** JWT bearer tokens over real gRPC: issuers from config, keys from a JWKS file or URL. */
class JwtAuthenticationTest {
  private static final Duration WAIT = Duration.ofSeconds(10);
  private static final RSAKey RSA = rsaKey("rsa-1");
  private static final ECKey EC = ecKey("ec-1");
  private static final RSAKey ROTATED_IN = rsaKey("rsa-2");
  private static final RSAKey STRANGER = rsaKey("rsa-x");

  private final FakeProvider provider = new FakeProvider();
  private final ScheduledExecutorService scheduler = Executors.newSingleThreadScheduledExecutor();
  private final dev.sluice.dataplane.config.ServingConfig serving =
      new dev.sluice.dataplane.config.ServingConfig();
  private @Nullable Server server;
  private @Nullable ManagedChannel channel;

  @BeforeEach
  void startServer() throws Exception {
    server =
        NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
            .directExecutor()
            .addService(
                InferenceServiceImpl.definition(
                    serving,
                    Authenticator.standard(false, Clock.systemUTC()),
                    Router.create(kind -> provider, scheduler, GatewayMetrics.NOOP),
                    GatewayMetrics.NOOP,
                    limiterOf(serving),
                    TokenEstimator.charsPerToken(),
                    () -> false,
                    CallsInFlight.unlimited()))
            .build()
            .start();
    channel = NettyChannelBuilder.forAddress("127.0.0.1", server.getPort()).usePlaintext().build();
  }

  @AfterEach
  void stopServer() throws Exception {
    if (channel != null) {
      channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
    if (server != null) {
      server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
    provider.close();
    scheduler.shutdownNow();
  }

  private InferenceServiceGrpc.InferenceServiceBlockingStub as(String bearer, Duration deadline) {
    Metadata headers = new Metadata();
    headers.put(
        Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + bearer);
    return InferenceServiceGrpc.newBlockingStub(channel)
        .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers))
        .withDeadlineAfter(deadline.toMillis(), TimeUnit.MILLISECONDS);
  }

  private ChatResponse chatAs(String bearer, String model) {
    return as(bearer, WAIT).chat(chat(model));
  }

  private StatusRuntimeException chatError(String bearer, String model) {
    return catchThrowableOfType(
        StatusRuntimeException.class, () -> as(bearer, WAIT).chat(chat(model)));
  }

  /** Retries until {@code bearer} may call {@code m1}, for keys that arrive in the background. */
  private void awaitAccepted(String bearer) throws InterruptedException {
    long deadline = System.nanoTime() + WAIT.toNanos();
    while (true) {
      try {
        chatAs(bearer, "m1");
        return;
      } catch (StatusRuntimeException e) {
        assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED);
        if (System.nanoTime() > deadline) {
          throw new AssertionError("token still refused after " + WAIT, e);
        }
        Thread.sleep(100);
      }
    }
  }

  private static void assertRefusedAsInvalidCredential(StatusRuntimeException e) {
    assertThat(e).isNotNull();
    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED);
    assertThat(e.getStatus().getDescription()).isEqualTo("invalid bearer token");
    assertThat(errorInfo(e).getReason()).isEqualTo("API_KEY_INVALID");
    assertThat(errorInfo(e).getDomain()).isEqualTo("sluice.dev");
  }

  @Nested
  class WithKeysFromAFile {
    @TempDir Path dir;

    @BeforeEach
    void trustTheIssuer() {
      Path file = dir.resolve("jwks.json");
      writeJwks(file, jwks(RSA, EC));
      serving.serve(config(2, issuer("corp").setJwksFile(file.toString()).build()));
    }

    @Test
    void aValidRs256TokenCallsAGrantedModelAsItsConsumer() {
      ChatResponse response = chatAs(token(RSA, "acme", Instant.now()), "m1");

      assertThat(response.getModel()).isEqualTo("m1");
      assertThat(provider.chatCalls).hasSize(1);
    }

    @Test
    void aValidEs256TokenCallsAGrantedModelAsItsConsumer() {
      assertThat(chatAs(token(EC, "acme", Instant.now()), "premium").getModel())
          .isEqualTo("premium");
    }

    @Test
    void aTokenStillChecksTheConsumersGrants() {
      StatusRuntimeException e = chatError(token(RSA, "acme", Instant.now()), "m2");

      assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.PERMISSION_DENIED);
      assertThat(errorInfo(e).getReason()).isEqualTo("MODEL_NOT_ALLOWED");
      assertThat(provider.chatCalls).isEmpty();
    }

    @Test
    void apiKeysKeepWorkingNextToTokens() {
      assertThat(chatAs(plainKey("k-acme", "s3cret"), "m1").getModel()).isEqualTo("m1");
      assertThat(chatError(plainKey("k-acme", "wrong"), "m1").getStatus().getDescription())
          .isEqualTo("invalid API key");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.sluice.dataplane.server.JwtAuthenticationTest#refusedTokens")
    void refusesABadTokenAsAnInvalidCredentialWithoutCallingUpstream(
        String description, String token) {
      StatusRuntimeException e = chatError(token, "m1");

      assertRefusedAsInvalidCredential(e);
      assertThat(e.toString()).doesNotContain(token);
      assertThat(provider.chatCalls).isEmpty();
    }

    @Test
    void aClientSendingForgedTokensIsThrottledWhileItsVerifiedTokenKeepsWorking() {
      String good = token(RSA, "acme", Instant.now());
      chatAs(good, "m1");
      String forged = sign(STRANGER, "rsa-1", JWSAlgorithm.RS256, claims("acme", Instant.now()).build());

      StatusRuntimeException throttled = null;
      int refusedAsInvalid = 0;
      for (int i = 0; i < 500 && throttled == null; i++) {
        StatusRuntimeException e = chatError(forged, "m1");
        if (e.getStatus().getCode() == Status.Code.UNAUTHENTICATED) {
          refusedAsInvalid++;
        } else {
          throttled = e;
        }
      }

      assertThat(throttled).as("refused before verifying, after the address's burst").isNotNull();
      assertThat(refusedAsInvalid).isGreaterThanOrEqualTo(64);
      assertThat(throttled.getStatus().getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
      assertThat(errorInfo(throttled).getReason()).isEqualTo("TOO_MANY_FAILED_AUTHENTICATIONS");
      assertThat(GrpcErrors.retryInfo(throttled).getRetryDelay().getNanos()).isPositive();
      assertThat(chatAs(good, "m1").getModel()).isEqualTo("m1");
    }

    @Test
    void aKeyAddedToTheFileIsPickedUpWithoutARestart() throws Exception {
      String rotated = token(ROTATED_IN, "acme", Instant.now());
      assertRefusedAsInvalidCredential(chatError(rotated, "m1"));

      writeJwks(dir.resolve("jwks.json"), jwks(RSA, EC, ROTATED_IN));

      awaitAccepted(rotated);
      assertThat(chatAs(token(RSA, "acme", Instant.now()), "m1").getModel()).isEqualTo("m1");
    }
  }

  static Stream<Arguments> refusedTokens() {
    Instant now = Instant.now();
    return Stream.of(
        Arguments.of("unsigned, alg none", unsigned(claims("acme", now).build())),
        Arguments.of(
            "HS256 keyed with the RSA public key",
            hs256WithPublicKey(RSA, claims("acme", now).build())),
        Arguments.of(
            "RS384, not in the allow-list", sign(RSA, JWSAlgorithm.RS384, claims("acme", now).build())),
        Arguments.of(
            "ES256 header on an RSA key",
            sign(EC, "rsa-1", JWSAlgorithm.ES256, claims("acme", now).build())),
        Arguments.of(
            "expired beyond the clock skew",
            token(
                RSA,
                "acme",
                now,
                c -> c.expirationTime(java.util.Date.from(now.minusSeconds(60))))),
        Arguments.of(
            "without exp", token(RSA, "acme", now, c -> c.expirationTime(null))),
        Arguments.of(
            "not yet valid",
            token(RSA, "acme", now, c -> c.notBeforeTime(java.util.Date.from(now.plusSeconds(120))))),
        Arguments.of(
            "issued in the future",
            token(RSA, "acme", now, c -> c.issueTime(java.util.Date.from(now.plusSeconds(120))))),
        Arguments.of(
            "for another audience", token(RSA, "acme", now, c -> c.audience("someone-else"))),
        Arguments.of(
            "from an untrusted issuer",
            token(RSA, "acme", now, c -> c.issuer("https://evil.example.com"))),
        Arguments.of(
            "naming an unknown kid",
            sign(RSA, "no-such-kid", JWSAlgorithm.RS256, claims("acme", now).build())),
        Arguments.of(
            "signed by another key under a known kid",
            sign(STRANGER, "rsa-1", JWSAlgorithm.RS256, claims("acme", now).build())),
        Arguments.of(
            "with a tampered payload", tamper(token(RSA, "acme", now), token(RSA, "root", now))),
        Arguments.of("without the consumer claim", token(RSA, "acme", now, c -> c.subject(null))),
        Arguments.of("naming an unknown consumer", token(RSA, "ghost", now)),
        Arguments.of("not a JWT at all", "definitely-not-a-jwt"));
  }

  /** The header and signature of {@code signed} around the payload of {@code other}. */
  private static String tamper(String signed, String other) {
    String[] a = signed.split("\\.");
    String[] b = other.split("\\.");
    return a[0] + "." + b[1] + "." + a[2];
  }

  @Nested
  class WithKeysFromAUrl {
    private final AtomicInteger fetches = new AtomicInteger();
    private final CountDownLatch release = new CountDownLatch(1);
    private final ExecutorService httpThreads = Executors.newCachedThreadPool();
    private volatile String published = jwks(RSA);
    private volatile boolean hanging;
    private @Nullable HttpServer jwksServer;

    @BeforeEach
    void publishTheKeys() throws IOException {
      HttpServer http = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
      http.createContext(
          "/jwks",
          exchange -> {
            fetches.incrementAndGet();
            try {
              if (hanging) {
                release.await(WAIT.toMillis(), TimeUnit.MILLISECONDS);
              }
              byte[] body = published.getBytes(StandardCharsets.UTF_8);
              exchange.getResponseHeaders().set("Content-Type", "application/json");
              exchange.sendResponseHeaders(200, body.length);
              try (OutputStream out = exchange.getResponseBody()) {
                out.write(body);
              }
            } catch (InterruptedException e) {
              Thread.currentThread().interrupt();
            } finally {
              exchange.close();
            }
          });
      http.setExecutor(httpThreads);
      http.start();
      jwksServer = http;
      String uri = "http://127.0.0.1:" + http.getAddress().getPort() + "/jwks";
      serving.serve(
          config(2, issuer("corp").setJwksUri(uri).setJwksCacheDuration(seconds(1)).build()));
    }

    @AfterEach
    void stopPublishing() {
      release.countDown();
      if (jwksServer != null) {
        jwksServer.stop(0);
      }
      httpThreads.shutdownNow();
    }

    @Test
    void keysFetchedFromTheUrlAuthenticateCallers() throws Exception {
      awaitAccepted(token(RSA, "acme", Instant.now()));

      assertThat(fetches.get()).isPositive();
    }

    @Test
    void aKeyTheIssuerRotatesInIsPickedUpAfterARefresh() throws Exception {
      awaitAccepted(token(RSA, "acme", Instant.now()));

      published = jwks(RSA, ROTATED_IN);

      awaitAccepted(token(ROTATED_IN, "acme", Instant.now()));
    }

    @Test
    void aJwksEndpointThatHangsDoesNotHoldUpCallsWithKnownKeys() throws Exception {
      String known = token(RSA, "acme", Instant.now());
      awaitAccepted(known);
      int before = fetches.get();

      hanging = true;
      Thread.sleep(1_500); // past the one-second cache duration: the next call starts a refetch

      for (int i = 0; i < 5; i++) {
        long start = System.nanoTime();
        assertThat(as(known, Duration.ofSeconds(2)).chat(chat("m1")).getModel()).isEqualTo("m1");
        assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(1));
      }
      long deadline = System.nanoTime() + WAIT.toNanos();
      while (fetches.get() == before && System.nanoTime() < deadline) {
        Thread.sleep(20);
      }
      assertThat(fetches.get()).as("a refetch was attempted").isGreaterThan(before);
      assertRefusedAsInvalidCredential(
          chatError(token(ROTATED_IN, "acme", Instant.now()), "m1"));
    }
  }

  @Test
  void withoutJwtIssuersABearerThatIsNotAKeyIsAnInvalidApiKey() {
    serving.serve(config(2));

    StatusRuntimeException e = chatError(token(RSA, "acme", Instant.now()), "m1");

    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED);
    assertThat(e.getStatus().getDescription()).isEqualTo("invalid API key");
    assertThat(List.of(errorInfo(e).getReason())).containsExactly("API_KEY_INVALID");
  }
}
