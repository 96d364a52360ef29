package dev.sluice.dataplane.auth;

import static java.util.Objects.requireNonNull;

import com.google.common.cache.Cache;
import com.google.common.cache.CacheBuilder;
import com.google.common.hash.HashCode;
import com.google.common.hash.Hashing;
import com.nimbusds.jose.JOSEException;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.jwk.JWK;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.SignedJWT;
import dev.sluice.config.v1.Consumer;
import dev.sluice.dataplane.auth.JwksKeySet.VerificationKey;
import dev.sluice.grpc.ApiException;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.text.ParseException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Date;
import java.util.List;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.jspecify.annotations.Nullable;

/**
 * Verifies JWT bearer tokens against the JwtIssuers of the served config.
 *
 * <p>In order: the token must be a JWS in compact form (an unsigned {@code alg: none} token is not
 * one); its {@code iss} picks the issuer; its {@code alg} must be in that issuer's allow-list,
 * which never holds {@code none} or HMAC; its {@code kid} picks a key from the issuer's current
 * JWKS, whose type and curve must be the ones the algorithm is defined for; the signature must
 * verify. Only then are the claims trusted: {@code exp} is required and must not have passed,
 * {@code nbf} must have, {@code iat} must not lie in the future (each within the issuer's clock
 * skew), {@code aud} must contain one of the issuer's audiences, and the consumer claim must name
 * an existing Consumer, whose grants then apply exactly as for its API keys.
 *
 * <p>Every refusal is the same UNAUTHENTICATED answer with the same message, so a caller cannot
 * probe which check failed (whether an issuer is trusted, a key id known, a consumer existing). The
 * reason is logged at FINE for operators, with the issuer's resource name but never the token nor
 * any other value the caller chose.
 * Nothing here waits on I/O: keys come from the issuer's in-memory snapshot, and an unknown {@code
 * kid} only prompts a background refresh.
 *
 * <p>A caller sends the same token with every request until it expires, and verifying its
 * signature costs tens of microseconds to a millisecond (RSA, Ed25519, ECDSA; see
 * docs/benchmarks.md), many times what the rest of the request's traffic policy costs. So what a
 * verified token established is kept, keyed by the SHA-256 of the whole token: a later request
 * presenting exactly that token skips the parse and the signature, and every check that can change
 * is repeated against the served config and the clock: the issuer must still be configured with
 * equal settings and key source, the same public key must still be published under the token's
 * {@code kid}, the times must still hold and the consumer must still exist. When any of these fails
 * the token is verified afresh, which refuses it or replaces the entry. Keying by a digest means a
 * lookup never compares a presented token with a cached one character by character, so the cache
 * tells a caller nothing about the tokens of others; only valid tokens are kept, at most {@value
 * #MAX_VERIFIED_TOKENS}.
 */
final class JwtAuthenticator {
  private static final Logger logger = Logger.getLogger(JwtAuthenticator.class.getName());

  /** Longer bearer values are refused unparsed; real tokens are well under this. */
  static final int MAX_TOKEN_CHARS = 16 * 1024;

  static final String MESSAGE = "invalid bearer token";

  /** Verified tokens kept; a few hundred bytes each. */
  static final int MAX_VERIFIED_TOKENS = 10_000;

  /**
   * What verifying a token established, and what a later request must still find for it to hold.
   *
   * @param issuer the issuer it was verified for, as configured then
   * @param kid the token's key id
   * @param key the public key its signature verified with
   * @param expiry its {@code exp}
   * @param notBefore its {@code nbf}, or null
   * @param issuedAt its {@code iat}, or null
   * @param consumer the consumer its consumer claim names
   * @param principal {@code <iss>#<sub>}
   */
  private record Verified(
      JwtIssuers.Issuer issuer,
      String kid,
      JWK key,
      Instant expiry,
      @Nullable Instant notBefore,
      @Nullable Instant issuedAt,
      String consumer,
      String principal) {}

  private final Clock clock;
  private final FailedVerifications failures;
  private final Cache<HashCode, Verified> verified =
      CacheBuilder.newBuilder().maximumSize(MAX_VERIFIED_TOKENS).build();

  JwtAuthenticator(Clock clock) {
    this(clock, FailedVerifications.withDefaults());
  }

  /** @param failures how many failed verifications each client address may cost */
  JwtAuthenticator(Clock clock, FailedVerifications failures) {
    this.clock = requireNonNull(clock, "clock");
    this.failures = requireNonNull(failures, "failures");
  }

  /** As {@link #authenticate(String, AccessTable, InetAddress)} from an unknown address. */
  Caller authenticate(String token, AccessTable access) {
    return authenticate(token, access, null);
  }

  /**
   * The caller presenting {@code token}.
   *
   * @param peer the client's address, whose failed verifications are limited; null when unknown
   * @throws ApiException UNAUTHENTICATED when the token is not valid for any configured issuer;
   *     RESOURCE_EXHAUSTED, before checking the signature of a token not verified before, when
   *     {@code peer} has spent its failed verifications ({@link FailedVerifications})
   */
  Caller authenticate(String token, AccessTable access, @Nullable InetAddress peer) {
    if (token.length() > MAX_TOKEN_CHARS) {
      throw refuse(null, "token too long");
    }
    HashCode id = Hashing.sha256().hashString(token, StandardCharsets.UTF_8);
    Verified known = verified.getIfPresent(id);
    if (known != null) {
      Caller caller = stillValid(known, access);
      if (caller != null) {
        return caller;
      }
      verified.invalidate(id);
    }
    Verified fresh = verify(token, access, peer);
    verified.put(id, fresh);
    // verify() found the consumer in this same immutable table.
    return Caller.ofToken(requireNonNull(access.consumer(fresh.consumer())), fresh.principal());
  }

  /** The number of verified tokens kept, for tests. */
  long verifiedTokens() {
    verified.cleanUp();
    return verified.size();
  }

  /**
   * The caller of a token verified before, if everything its verification relied on still holds in
   * {@code access} and now; null when the token must be verified again.
   */
  private @Nullable Caller stillValid(Verified known, AccessTable access) {
    JwtIssuers.Issuer issuer = access.jwtIssuer(known.issuer().issuer());
    // Equal issuers have the same audiences, algorithms, clock skew, consumer claim and key source
    // (the source compares by identity): a push that changes none of these keeps the entry.
    if (issuer == null || !issuer.equals(known.issuer())) {
      return null;
    }
    VerificationKey key = issuer.keys().key(known.kid());
    if (key == null || !key.jwk().equals(known.key())) {
      return null;
    }
    if (timeProblem(known.expiry(), known.notBefore(), known.issuedAt(), issuer.clockSkew())
        != null) {
      return null;
    }
    Consumer consumer = access.consumer(known.consumer());
    return consumer == null ? null : Caller.ofToken(consumer, known.principal());
  }

  /**
   * The full verification, described on the class; refuses or says what the token established.
   * The checks before the signature are cheap and refuse as UNAUTHENTICATED whoever asks; the
   * signature and every check after it count against {@code peer}'s failed verifications, and are
   * not attempted once it has none left.
   */
  private Verified verify(String token, AccessTable access, @Nullable InetAddress peer) {
    SignedJWT jwt;
    JWTClaimsSet claims;
    try {
      jwt = SignedJWT.parse(token);
      claims = jwt.getJWTClaimsSet();
    } catch (ParseException | RuntimeException e) {
      throw refuse(null, "not a signed JWT");
    }
    String iss = claims.getIssuer();
    JwtIssuers.Issuer issuer = iss == null ? null : access.jwtIssuer(iss);
    if (issuer == null) {
      throw refuse(null, "untrusted issuer");
    }
    JWSHeader header = jwt.getHeader();
    JWSAlgorithm alg = header.getAlgorithm();
    if (!issuer.algorithms().contains(alg)
        || JWSAlgorithm.Family.HMAC_SHA.contains(alg)
        || "none".equalsIgnoreCase(alg.getName())) {
      throw refuse(issuer, "algorithm not allowed");
    }
    String kid = header.getKeyID();
    if (kid == null || kid.isEmpty()) {
      throw refuse(issuer, "no kid");
    }
    VerificationKey key = issuer.keys().key(kid);
    if (key == null) {
      throw refuse(issuer, "unknown kid");
    }
    if (!key.permits(alg)) {
      throw refuse(issuer, "key type does not fit the algorithm");
    }
    if (peer == null) {
      return verifySigned(jwt, claims, issuer, kid, key, access);
    }
    failures.checkAllowed(peer);
    try {
      return verifySigned(jwt, claims, issuer, kid, key, access);
    } catch (ApiException e) {
      failures.failed(peer);
      throw e;
    }
  }

  /** The signature, then the claims a valid signature vouches for. */
  private Verified verifySigned(
      SignedJWT jwt,
      JWTClaimsSet claims,
      JwtIssuers.Issuer issuer,
      String kid,
      VerificationKey key,
      AccessTable access) {
    JWSHeader header = jwt.getHeader();
    boolean verified;
    try {
      verified = key.verifier().verify(header, jwt.getSigningInput(), jwt.getSignature());
    } catch (JOSEException | RuntimeException e) {
      verified = false;
    }
    if (!verified) {
      throw refuse(issuer, "bad signature");
    }
    Date exp = claims.getExpirationTime();
    if (exp == null) {
      throw refuse(issuer, "no exp");
    }
    Instant expiry = exp.toInstant();
    Instant notBefore = instant(claims.getNotBeforeTime());
    Instant issuedAt = instant(claims.getIssueTime());
    String timeProblem = timeProblem(expiry, notBefore, issuedAt, issuer.clockSkew());
    if (timeProblem != null) {
      throw refuse(issuer, timeProblem);
    }
    List<String> audiences = claims.getAudience();
    if (audiences.stream().noneMatch(issuer.audiences()::contains)) {
      throw refuse(issuer, "audience not accepted");
    }
    Object name = claims.getClaim(issuer.consumerClaim());
    if (!(name instanceof String consumerName) || consumerName.isEmpty()) {
      throw refuse(issuer, "no string claim " + issuer.consumerClaim());
    }
    if (access.consumer(consumerName) == null) {
      throw refuse(issuer, "unknown consumer");
    }
    String subject = claims.getSubject();
    String principal =
        subject == null || subject.isEmpty() ? issuer.issuer() : issuer.issuer() + "#" + subject;
    return new Verified(
        issuer, kid, key.jwk(), expiry, notBefore, issuedAt, consumerName, principal);
  }

  /** What is wrong with a token's times now, within {@code skew}; null when nothing is. */
  private @Nullable String timeProblem(
      Instant expiry, @Nullable Instant notBefore, @Nullable Instant issuedAt, Duration skew) {
    Instant now = clock.instant();
    if (!now.isBefore(expiry.plus(skew))) {
      return "expired";
    }
    if (notBefore != null && now.plus(skew).isBefore(notBefore)) {
      return "not yet valid";
    }
    if (issuedAt != null && issuedAt.isAfter(now.plus(skew))) {
      return "issued in the future";
    }
    return null;
  }

  private static @Nullable Instant instant(@Nullable Date date) {
    return date == null ? null : date.toInstant();
  }

  private static ApiException refuse(JwtIssuers.@Nullable Issuer issuer, String why) {
    if (logger.isLoggable(Level.FINE)) {
      logger.fine(
          "JWT refused"
              + (issuer == null ? "" : " for jwt issuer " + issuer.name())
              + ": "
              + why);
    }
    return ApiKeyAuthenticator.unauthenticated(MESSAGE);
  }
}
