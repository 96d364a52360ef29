package dev.sluice.dataplane.testing;

import com.google.protobuf.Duration;
import com.nimbusds.jose.JOSEException;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.JWSSigner;
import com.nimbusds.jose.crypto.ECDSASigner;
import com.nimbusds.jose.crypto.MACSigner;
import com.nimbusds.jose.crypto.RSASSASigner;
import com.nimbusds.jose.jwk.Curve;
import com.nimbusds.jose.jwk.ECKey;
import com.nimbusds.jose.jwk.JWK;
import com.nimbusds.jose.jwk.JWKSet;
import com.nimbusds.jose.jwk.RSAKey;
import com.nimbusds.jose.jwk.gen.ECKeyGenerator;
import com.nimbusds.jose.jwk.gen.RSAKeyGenerator;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.PlainJWT;
import com.nimbusds.jwt.SignedJWT;
import dev.sluice.config.v1.JwtAlgorithm;
import dev.sluice.config.v1.JwtIssuer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Instant;
import java.util.Arrays;
import java.util.Date;
import java.util.List;
import java.util.function.UnaryOperator;

/** Keys, JWKS documents, JwtIssuer resources and tokens for JWT tests. */
public final class Jwts {
  public static final String ISSUER = "https://idp.example.com";
  public static final String AUDIENCE = "sluice";

  private Jwts() {}

  public static RSAKey rsaKey(String kid) {
    try {
      return new RSAKeyGenerator(2048).keyID(kid).generate();
    } catch (JOSEException e) {
      throw new IllegalStateException(e);
    }
  }

  public static ECKey ecKey(String kid) {
    try {
      return new ECKeyGenerator(Curve.P_256).keyID(kid).generate();
    } catch (JOSEException e) {
      throw new IllegalStateException(e);
    }
  }

  /** The JWKS document publishing the public halves of {@code keys}. */
  public static String jwks(JWK... keys) {
    return new JWKSet(Arrays.stream(keys).map(JWK::toPublicJWK).toList()).toString();
  }

  /** Writes {@code jwks} to {@code file} atomically, as an operator's tooling should. */
  public static void writeJwks(Path file, String jwks) {
    try {
      Path tmp = Files.createTempFile(file.getParent(), "jwks", ".tmp");
      Files.writeString(tmp, jwks, StandardCharsets.UTF_8);
      Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Issuer {@link #ISSUER} with audience {@link #AUDIENCE}, accepting RS256 and ES256. */
  public static JwtIssuer.Builder issuer(String name) {
    return JwtIssuer.newBuilder()
        .setName(name)
        .setIssuer(ISSUER)
        .addAudiences(AUDIENCE)
        .addAlgorithms(JwtAlgorithm.JWT_ALGORITHM_RS256)
        .addAlgorithms(JwtAlgorithm.JWT_ALGORITHM_ES256);
  }

  public static Duration seconds(long seconds) {
    return Duration.newBuilder().setSeconds(seconds).build();
  }

  /**
   * Claims valid now for {@code subject}: issuer {@link #ISSUER}, audience {@link #AUDIENCE},
   * issued now, valid for five minutes.
   */
  public static JWTClaimsSet.Builder claims(String subject, Instant now) {
    return new JWTClaimsSet.Builder()
        .issuer(ISSUER)
        .audience(List.of(AUDIENCE))
        .subject(subject)
        .issueTime(Date.from(now))
        .notBeforeTime(Date.from(now))
        .expirationTime(Date.from(now.plusSeconds(300)));
  }

  /** A token for {@code subject} signed with {@code key} (RS256 or ES256 by its type). */
  public static String token(JWK key, String subject, Instant now) {
    return sign(key, defaultAlgorithm(key), claims(subject, now).build());
  }

  /** A token signed with {@code key} and the claims {@code edit} makes of the valid ones. */
  public static String token(
      JWK key, String subject, Instant now, UnaryOperator<JWTClaimsSet.Builder> edit) {
    return sign(key, defaultAlgorithm(key), edit.apply(claims(subject, now)).build());
  }

  public static String sign(JWK key, JWSAlgorithm alg, JWTClaimsSet claims) {
    return sign(key, key.getKeyID(), alg, claims);
  }

  /** Signs with {@code key} but names {@code kid} in the header. */
  public static String sign(JWK key, String kid, JWSAlgorithm alg, JWTClaimsSet claims) {
    try {
      JWSSigner signer =
          key instanceof RSAKey rsa ? new RSASSASigner(rsa) : new ECDSASigner((ECKey) key);
      SignedJWT jwt = new SignedJWT(new JWSHeader.Builder(alg).keyID(kid).build(), claims);
      jwt.sign(signer);
      return jwt.serialize();
    } catch (JOSEException e) {
      throw new IllegalStateException(e);
    }
  }

  /**
   * The algorithm-confusion attack: an HS256 token whose HMAC secret is the issuer's RSA public
   * key, which a verifier that lets the token choose the algorithm would accept.
   */
  public static String hs256WithPublicKey(RSAKey key, JWTClaimsSet claims) {
    try {
      SignedJWT jwt =
          new SignedJWT(
              new JWSHeader.Builder(JWSAlgorithm.HS256).keyID(key.getKeyID()).build(), claims);
      jwt.sign(new MACSigner(key.toRSAPublicKey().getEncoded()));
      return jwt.serialize();
    } catch (JOSEException e) {
      throw new IllegalStateException(e);
    }
  }

  /** An unsigned token ({@code alg: none}). */
  public static String unsigned(JWTClaimsSet claims) {
    return new PlainJWT(claims).serialize();
  }

  private static JWSAlgorithm defaultAlgorithm(JWK key) {
    return key instanceof RSAKey ? JWSAlgorithm.RS256 : JWSAlgorithm.ES256;
  }
}
