package dev.sluice.dataplane.auth;

import static java.util.Objects.requireNonNull;

import com.nimbusds.jose.JOSEException;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.SignedJWT;
import dev.sluice.config.v1.Consumer;
import dev.sluice.dataplane.auth.JwksKeySet.VerificationKey;
import dev.sluice.grpc.ApiException;
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
 */
final class JwtAuthenticator {
  private static final Logger logger = Logger.getLogger(JwtAuthenticator.class.getName());

  /** Longer bearer values are refused unparsed; real tokens are well under this. */
  static final int MAX_TOKEN_CHARS = 16 * 1024;

  static final String MESSAGE = "invalid bearer token";

  private final Clock clock;

  JwtAuthenticator(Clock clock) {
    this.clock = requireNonNull(clock, "clock");
  }

  /**
   * The caller presenting {@code token}.
   *
   * @throws ApiException UNAUTHENTICATED when the token is not valid for any configured issuer
   */
  Caller authenticate(String token, AccessTable access) {
    if (token.length() > MAX_TOKEN_CHARS) {
      throw refuse(null, "token too long");
    }
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
    boolean verified;
    try {
      verified = key.verifier().verify(header, jwt.getSigningInput(), jwt.getSignature());
    } catch (JOSEException | RuntimeException e) {
      verified = false;
    }
    if (!verified) {
      throw refuse(issuer, "bad signature");
    }
    checkTimes(claims, issuer);
    List<String> audiences = claims.getAudience();
    if (audiences.stream().noneMatch(issuer.audiences()::contains)) {
      throw refuse(issuer, "audience not accepted");
    }
    Object name = claims.getClaim(issuer.consumerClaim());
    if (!(name instanceof String consumerName) || consumerName.isEmpty()) {
      throw refuse(issuer, "no string claim " + issuer.consumerClaim());
    }
    Consumer consumer = access.consumer(consumerName);
    if (consumer == null) {
      throw refuse(issuer, "unknown consumer");
    }
    String subject = claims.getSubject();
    String principal =
        subject == null || subject.isEmpty() ? issuer.issuer() : issuer.issuer() + "#" + subject;
    return Caller.ofToken(consumer, principal);
  }

  private void checkTimes(JWTClaimsSet claims, JwtIssuers.Issuer issuer) {
    Instant now = clock.instant();
    Duration skew = issuer.clockSkew();
    Date exp = claims.getExpirationTime();
    if (exp == null) {
      throw refuse(issuer, "no exp");
    }
    if (!now.isBefore(exp.toInstant().plus(skew))) {
      throw refuse(issuer, "expired");
    }
    Date nbf = claims.getNotBeforeTime();
    if (nbf != null && now.plus(skew).isBefore(nbf.toInstant())) {
      throw refuse(issuer, "not yet valid");
    }
    Date iat = claims.getIssueTime();
    if (iat != null && iat.toInstant().isAfter(now.plus(skew))) {
      throw refuse(issuer, "issued in the future");
    }
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
