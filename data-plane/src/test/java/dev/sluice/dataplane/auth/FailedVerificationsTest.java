package dev.sluice.dataplane.auth;

import static dev.sluice.dataplane.testing.Jwts.issuer;
import static dev.sluice.dataplane.testing.Jwts.jwks;
import static dev.sluice.dataplane.testing.Jwts.rsaKey;
import static dev.sluice.dataplane.testing.Jwts.token;
import static dev.sluice.dataplane.testing.Jwts.writeJwks;
import static dev.sluice.dataplane.testing.TestConfigs.consumer;
import static dev.sluice.dataplane.testing.TestConfigs.resource;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import com.google.rpc.RetryInfo;
import com.nimbusds.jose.jwk.RSAKey;
import dev.sluice.grpc.ApiException;
import io.grpc.Status;
import java.net.InetAddress;
import java.net.http.HttpClient;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Failed token verifications are limited per client address, so forged tokens cannot make a node
 * check signatures without end; good tokens already verified and other addresses are untouched.
 */
class FailedVerificationsTest {
  private static final Instant NOW = Instant.parse("2026-01-01T00:00:00Z");
  private static final RSAKey RSA = rsaKey("rsa-1");
  private static final RSAKey FORGER = rsaKey("rsa-1");

  @TempDir Path dir;

  private final AtomicLong nanos = new AtomicLong(-5_000_000_000L);
  private final FailedVerifications failures = new FailedVerifications(3, 0.5, nanos::get);
  private final JwtAuthenticator jwts =
      new JwtAuthenticator(Clock.fixed(NOW, ZoneOffset.UTC), failures);
  private final InetAddress attacker = address("192.0.2.7");
  private final InetAddress neighbour = address("192.0.2.8");

  private static InetAddress address(String literal) {
    try {
      return InetAddress.getByName(literal);
    } catch (java.net.UnknownHostException e) {
      throw new AssertionError(e);
    }
  }

  private AccessTable access() {
    Path file = dir.resolve("jwks.json");
    writeJwks(file, jwks(RSA));
    JwksFetcher fetcher =
        new JwksFetcher(
            Runnable::run, HttpClient.newBuilder().build(), Duration.ofSeconds(10),
            Duration.ofSeconds(1), Duration.ofSeconds(1), nanos::get);
    return AccessTable.build(
        List.of(resource(consumer("acme", "m1")), resource(issuer("corp").setJwksFile(file.toString()).build())),
        null,
        () -> fetcher);
  }

  private static Status.Code codeOf(Runnable call) {
    ApiException e = catchThrowableOfType(call::run, ApiException.class);
    return e == null ? Status.Code.OK : e.code();
  }

  @Test
  void anAddressThatSpentItsFailuresIsRefusedBeforeTheSignatureIsChecked() {
    AccessTable access = access();
    String forged = token(FORGER, "acme", NOW);

    for (int i = 0; i < 3; i++) {
      assertThat(codeOf(() -> jwts.authenticate(forged, access, attacker)))
          .isEqualTo(Status.Code.UNAUTHENTICATED);
    }
    ApiException throttled =
        catchThrowableOfType(() -> jwts.authenticate(forged, access, attacker), ApiException.class);

    assertThat(throttled.code()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
    assertThat(throttled.reason()).isEqualTo(FailedVerifications.REASON);
    assertThat(throttled.details()).singleElement().isInstanceOfSatisfying(
        RetryInfo.class, r -> assertThat(r.getRetryDelay().getSeconds()).isEqualTo(2));
  }

  @Test
  void theAddressGetsAnotherAttemptAsTheBucketRefills() {
    AccessTable access = access();
    String forged = token(FORGER, "acme", NOW);
    for (int i = 0; i < 3; i++) {
      codeOf(() -> jwts.authenticate(forged, access, attacker));
    }

    nanos.addAndGet(Duration.ofMillis(1_999).toNanos());
    assertThat(codeOf(() -> jwts.authenticate(forged, access, attacker)))
        .isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
    nanos.addAndGet(Duration.ofMillis(1).toNanos());
    assertThat(codeOf(() -> jwts.authenticate(forged, access, attacker)))
        .as("one failure regained after 2 s at 0.5/s: the token is verified, and refused")
        .isEqualTo(Status.Code.UNAUTHENTICATED);
    assertThat(codeOf(() -> jwts.authenticate(forged, access, attacker)))
        .isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
  }

  @Test
  void aTokenVerifiedBeforeStillWorksFromAThrottledAddressAndOthersAreUntouched() {
    AccessTable access = access();
    String good = token(RSA, "acme", NOW);
    jwts.authenticate(good, access, attacker);
    String forged = token(FORGER, "acme", NOW.minusSeconds(1));
    for (int i = 0; i < 3; i++) {
      codeOf(() -> jwts.authenticate(forged, access, attacker));
    }

    assertThat(jwts.authenticate(good, access, attacker).consumer()).isEqualTo("acme");
    assertThat(codeOf(() -> jwts.authenticate(token(RSA, "acme", NOW.minusSeconds(2)), access, attacker)))
        .as("a new good token is not checked either: the price of refusing before verifying")
        .isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
    assertThat(jwts.authenticate(token(RSA, "acme", NOW.minusSeconds(3)), access, neighbour).consumer())
        .isEqualTo("acme");
  }

  @Test
  void refusalsFoundBeforeTheSignatureCostLittleAndNeitherCountNorAreThrottled() {
    AccessTable access = access();
    String unknownKid = token(rsaKey("rotated-in-later"), "acme", NOW);
    for (int i = 0; i < 10; i++) {
      assertThat(codeOf(() -> jwts.authenticate(unknownKid, access, attacker)))
          .isEqualTo(Status.Code.UNAUTHENTICATED);
    }
    assertThat(jwts.authenticate(token(RSA, "acme", NOW), access, attacker).consumer())
        .as("no failure counted").isEqualTo("acme");

    String forged = token(FORGER, "acme", NOW.minusSeconds(1));
    for (int i = 0; i < 3; i++) {
      codeOf(() -> jwts.authenticate(forged, access, attacker));
    }
    assertThat(codeOf(() -> jwts.authenticate(unknownKid, access, attacker)))
        .as("throttled, but this refusal needs no signature check")
        .isEqualTo(Status.Code.UNAUTHENTICATED);
  }

  @Test
  void anIpv6ClientIsCountedByItsSlash64() {
    InetAddress one = address("2001:db8:1:2::1");
    InetAddress other = address("2001:db8:1:2:ffff::9");
    InetAddress elsewhere = address("2001:db8:1:3::1");

    assertThat(FailedVerifications.key(one)).isEqualTo(FailedVerifications.key(other));
    assertThat(FailedVerifications.key(one)).isNotEqualTo(FailedVerifications.key(elsewhere));
    assertThat(FailedVerifications.key(attacker)).isEqualTo(attacker);
  }

  @Test
  void aBurstOfZeroTurnsTheLimitOff() {
    FailedVerifications off = new FailedVerifications(0, 1, nanos::get);
    for (int i = 0; i < 100; i++) {
      off.failed(attacker);
    }
    assertThatCode(() -> off.checkAllowed(attacker)).doesNotThrowAnyException();
  }
}
