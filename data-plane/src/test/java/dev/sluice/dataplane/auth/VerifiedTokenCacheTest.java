package dev.sluice.dataplane.auth;

import static dev.sluice.dataplane.testing.Jwts.issuer;
import static dev.sluice.dataplane.testing.Jwts.jwks;
import static dev.sluice.dataplane.testing.Jwts.rsaKey;
import static dev.sluice.dataplane.testing.Jwts.seconds;
import static dev.sluice.dataplane.testing.Jwts.token;
import static dev.sluice.dataplane.testing.Jwts.writeJwks;
import static dev.sluice.dataplane.testing.TestConfigs.consumer;
import static dev.sluice.dataplane.testing.TestConfigs.resource;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.nimbusds.jose.jwk.RSAKey;
import dev.sluice.config.v1.Consumer;
import dev.sluice.config.v1.JwtIssuer;
import dev.sluice.grpc.ApiException;
import java.net.http.HttpClient;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A token verified once is recognised by its digest on later requests, and recognition never
 * outlives what the verification relied on: the clock, the issuer's settings, the published key and
 * the consumer are checked again on every request.
 */
class VerifiedTokenCacheTest {
  private static final Instant NOW = Instant.parse("2026-01-01T00:00:00Z");
  private static final RSAKey RSA = rsaKey("rsa-1");

  @TempDir Path dir;

  private final MutableClock clock = new MutableClock(NOW);
  private final JwtAuthenticator jwts = new JwtAuthenticator(clock);
  private final AtomicLong nanos = new AtomicLong();
  /** Checks files on the calling thread, on the test's own nanosecond clock. */
  private final JwksFetcher fetcher =
      new JwksFetcher(
          Runnable::run,
          HttpClient.newBuilder().build(),
          Duration.ofSeconds(10),
          Duration.ofSeconds(1),
          Duration.ofSeconds(1),
          nanos::get);

  private Path jwksFile() {
    Path file = dir.resolve("jwks.json");
    writeJwks(file, jwks(RSA));
    return file;
  }

  private AccessTable access(JwtIssuer issuer, Consumer consumer) {
    return AccessTable.build(List.of(resource(consumer), resource(issuer)), null, () -> fetcher);
  }

  private JwtIssuer corp(Path file) {
    return issuer("corp").setJwksFile(file.toString()).setClockSkew(seconds(30)).build();
  }

  @Test
  void aTokenIsVerifiedOnceAndRecognisedAfterwards() {
    AccessTable access = access(corp(jwksFile()), consumer("acme", "m1"));
    String token = token(RSA, "acme", NOW);

    Caller first = jwts.authenticate(token, access);
    Caller second = jwts.authenticate(token, access);

    assertThat(jwts.verifiedTokens()).isEqualTo(1);
    assertThat(second).isEqualTo(first);
    assertThat(second.principal()).isEqualTo("https://idp.example.com#acme");
  }

  @Test
  void aRecognisedTokenIsRefusedOnceItExpires() {
    AccessTable access = access(corp(jwksFile()), consumer("acme", "m1"));
    String token = token(RSA, "acme", NOW);
    jwts.authenticate(token, access);

    clock.set(NOW.plusSeconds(300 + 30));

    assertRefused(token, access);
    assertThat(jwts.verifiedTokens()).isZero();
  }

  @Test
  void aRecognisedTokenIsRefusedOnceItsKidNamesAnotherKey() {
    Path file = jwksFile();
    AccessTable access = access(corp(file), consumer("acme", "m1"));
    String token = token(RSA, "acme", NOW);
    jwts.authenticate(token, access);

    writeJwks(file, jwks(rsaKey("rsa-1")));
    nanos.addAndGet(Duration.ofSeconds(2).toNanos());

    assertRefused(token, access);
  }

  @Test
  void aRecognisedTokenIsRefusedByAnIssuerThatNoLongerAcceptsItsAudience() {
    Path file = jwksFile();
    String token = token(RSA, "acme", NOW);
    jwts.authenticate(token, access(corp(file), consumer("acme", "m1")));

    AccessTable pushed =
        access(
            corp(file).toBuilder().clearAudiences().addAudiences("another").build(),
            consumer("acme", "m1"));

    assertRefused(token, pushed);
  }

  @Test
  void aRecognisedTokenGetsItsConsumersCurrentGrantsAndNoneOnceTheConsumerIsGone() {
    Path file = jwksFile();
    String token = token(RSA, "acme", NOW);
    jwts.authenticate(token, access(corp(file), consumer("acme", "m1")));

    Caller regranted = jwts.authenticate(token, access(corp(file), consumer("acme", "m2")));

    assertThat(regranted.models()).containsExactly("m2");
    assertRefused(token, access(corp(file), consumer("other", "m1")));
  }

  @Test
  void aTamperedCopyOfARecognisedTokenIsVerifiedAndRefused() {
    AccessTable access = access(corp(jwksFile()), consumer("acme", "m1"));
    String token = token(RSA, "acme", NOW);
    jwts.authenticate(token, access);
    int middleOfSignature = token.lastIndexOf('.') + 40;
    char original = token.charAt(middleOfSignature);
    String tampered =
        token.substring(0, middleOfSignature)
            + (original == 'A' ? 'B' : 'A')
            + token.substring(middleOfSignature + 1);

    assertRefused(tampered, access);
    assertThat(jwts.verifiedTokens()).isEqualTo(1);
  }

  private void assertRefused(String token, AccessTable access) {
    assertThatThrownBy(() -> jwts.authenticate(token, access))
        .isInstanceOf(ApiException.class)
        .hasMessageContaining(JwtAuthenticator.MESSAGE);
  }

  /** A clock the test moves. */
  private static final class MutableClock extends Clock {
    private volatile Instant now;

    MutableClock(Instant now) {
      this.now = now;
    }

    void set(Instant instant) {
      now = instant;
    }

    @Override
    public ZoneId getZone() {
      return ZoneOffset.UTC;
    }

    @Override
    public Clock withZone(ZoneId zone) {
      throw new UnsupportedOperationException();
    }

    @Override
    public Instant instant() {
      return now;
    }
  }
}
