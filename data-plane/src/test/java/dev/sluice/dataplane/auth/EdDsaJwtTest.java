package dev.sluice.dataplane.auth;

import static dev.sluice.dataplane.testing.Jwts.claims;
import static dev.sluice.dataplane.testing.Jwts.issuer;
import static dev.sluice.dataplane.testing.Jwts.jwks;
import static dev.sluice.dataplane.testing.Jwts.rsaKey;
import static dev.sluice.dataplane.testing.Jwts.sign;
import static dev.sluice.dataplane.testing.TestConfigs.consumer;
import static dev.sluice.dataplane.testing.TestConfigs.resource;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.nimbusds.jose.JOSEException;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.crypto.Ed25519Signer;
import com.nimbusds.jose.crypto.MACSigner;
import com.nimbusds.jose.jwk.Curve;
import com.nimbusds.jose.jwk.OctetKeyPair;
import com.nimbusds.jose.jwk.RSAKey;
import com.nimbusds.jose.jwk.gen.OctetKeyPairGenerator;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.SignedJWT;
import dev.sluice.config.v1.JwtAlgorithm;
import dev.sluice.config.v1.JwtIssuer;
import dev.sluice.grpc.ApiException;
import io.grpc.Metadata;
import io.grpc.Status;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** EdDSA (Ed25519) tokens: verified with the issuer's Ed25519 key, and with nothing else. */
class EdDsaJwtTest {
  private static final Instant NOW = Instant.parse("2026-01-01T00:00:00Z");
  private static final OctetKeyPair ED = ed25519Key("ed-1");
  private static final RSAKey RSA = rsaKey("rsa-1");

  private final Authenticator authenticator =
      Authenticator.standard(false, Clock.fixed(NOW, ZoneOffset.UTC));

  @TempDir Path dir;

  @Test
  void aValidEd25519TokenIsAcceptedAsItsConsumer() throws Exception {
    AccessTable access = access(edDsaIssuer(jwks(ED)));

    Caller caller =
        authenticator.authenticate(bearer(signEd25519(ED, "ed-1", JWSAlgorithm.EdDSA)), access);

    assertThat(caller.consumer()).isEqualTo("acme");
    assertThat(caller.principal()).isEqualTo("https://idp.example.com#acme");
  }

  @Test
  void theFullySpecifiedEd25519AlgorithmNameIsAcceptedForTheSameKey() throws Exception {
    AccessTable access = access(edDsaIssuer(jwks(ED)));

    Caller caller =
        authenticator.authenticate(bearer(signEd25519(ED, "ed-1", JWSAlgorithm.Ed25519)), access);

    assertThat(caller.consumer()).isEqualTo("acme");
  }

  @Test
  void aTokenSignedByAnotherEd25519KeyIsRefused() throws Exception {
    AccessTable access = access(edDsaIssuer(jwks(ED)));
    String forged = signEd25519(ed25519Key("ed-1"), "ed-1", JWSAlgorithm.EdDSA);

    assertRefused(forged, access);
  }

  @Test
  void anHs256TokenKeyedWithTheEd25519PublicKeyIsRefused() throws Exception {
    AccessTable access = access(edDsaIssuer(jwks(ED)));
    SignedJWT confused =
        new SignedJWT(
            new JWSHeader.Builder(JWSAlgorithm.HS256).keyID("ed-1").build(),
            claims("acme", NOW).build());
    // HS256 wants a 256-bit secret: the 32-byte public key is exactly that.
    confused.sign(new MACSigner(ED.getDecodedX()));

    assertRefused(confused.serialize(), access);
  }

  @Test
  void anEdDsaTokenNamingAnRsaKeyIsRefused() throws Exception {
    AccessTable access =
        access(
            edDsaIssuer(jwks(ED, RSA)).toBuilder()
                .addAlgorithms(JwtAlgorithm.JWT_ALGORITHM_RS256)
                .build());

    assertRefused(signEd25519(ED, "rsa-1", JWSAlgorithm.EdDSA), access);
  }

  @Test
  void anRs256TokenNamingTheEd25519KeyIsRefused() throws Exception {
    AccessTable access =
        access(
            edDsaIssuer(jwks(ED, RSA)).toBuilder()
                .addAlgorithms(JwtAlgorithm.JWT_ALGORITHM_RS256)
                .build());

    assertRefused(sign(RSA, "ed-1", JWSAlgorithm.RS256, claims("acme", NOW).build()), access);
  }

  @Test
  void anEd25519TokenIsRefusedByAnIssuerThatDoesNotAllowEdDsa() throws Exception {
    AccessTable access =
        access(issuer("corp").setJwksFile(jwksFile(jwks(ED, RSA)).toString()).build());

    assertRefused(signEd25519(ED, "ed-1", JWSAlgorithm.EdDSA), access);
  }

  @Test
  void aJwksWhoseOnlyOkpKeyIsForKeyAgreementHasNoUsableSigningKey() throws Exception {
    OctetKeyPair x25519 = new OctetKeyPairGenerator(Curve.X25519).keyID("x-1").generate();

    assertThatThrownBy(() -> access(edDsaIssuer(jwks(x25519))))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("jwt issuer corp: jwks_file: ")
        .hasMessageContaining("no usable signing key");
  }

  private JwtIssuer edDsaIssuer(String jwks) throws Exception {
    return issuer("corp")
        .clearAlgorithms()
        .addAlgorithms(JwtAlgorithm.JWT_ALGORITHM_EDDSA)
        .setJwksFile(jwksFile(jwks).toString())
        .build();
  }

  private Path jwksFile(String content) throws Exception {
    Path file = Files.createTempFile(dir, "jwks", ".json");
    Files.writeString(file, content);
    return file;
  }

  private static AccessTable access(JwtIssuer issuer) {
    return AccessTable.build(List.of(resource(consumer("acme", "m1")), resource(issuer)));
  }

  private void assertRefused(String token, AccessTable access) {
    assertThatThrownBy(() -> authenticator.authenticate(bearer(token), access))
        .isInstanceOfSatisfying(
            ApiException.class,
            e -> {
              assertThat(e.code()).isEqualTo(Status.Code.UNAUTHENTICATED);
              assertThat(e.reason()).isEqualTo(ApiKeyAuthenticator.REASON);
            });
  }

  private static Metadata bearer(String token) {
    Metadata headers = new Metadata();
    headers.put(ApiKeyAuthenticator.AUTHORIZATION, "Bearer " + token);
    return headers;
  }

  private static OctetKeyPair ed25519Key(String kid) {
    try {
      return new OctetKeyPairGenerator(Curve.Ed25519).keyID(kid).generate();
    } catch (JOSEException e) {
      throw new IllegalStateException(e);
    }
  }

  /** A valid token for consumer {@code acme}, signed with {@code key}, naming {@code kid}. */
  private static String signEd25519(OctetKeyPair key, String kid, JWSAlgorithm alg)
      throws JOSEException {
    JWTClaimsSet claims = claims("acme", NOW).build();
    SignedJWT jwt = new SignedJWT(new JWSHeader.Builder(alg).keyID(kid).build(), claims);
    jwt.sign(new Ed25519Signer(key));
    return jwt.serialize();
  }
}
