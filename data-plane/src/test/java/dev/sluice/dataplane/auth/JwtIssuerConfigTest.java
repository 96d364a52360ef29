package dev.sluice.dataplane.auth;

import static dev.sluice.dataplane.testing.Jwts.ecKey;
import static dev.sluice.dataplane.testing.Jwts.issuer;
import static dev.sluice.dataplane.testing.Jwts.jwks;
import static dev.sluice.dataplane.testing.Jwts.rsaKey;
import static dev.sluice.dataplane.testing.Jwts.seconds;
import static dev.sluice.dataplane.testing.Jwts.token;
import static dev.sluice.dataplane.testing.Jwts.writeJwks;
import static dev.sluice.dataplane.testing.TestConfigs.backend;
import static dev.sluice.dataplane.testing.TestConfigs.consumer;
import static dev.sluice.dataplane.testing.TestConfigs.resource;
import static dev.sluice.dataplane.testing.TestConfigs.runtimeConfig;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.nimbusds.jose.jwk.RSAKey;
import dev.sluice.config.v1.JwtAlgorithm;
import dev.sluice.config.v1.JwtIssuer;
import dev.sluice.grpc.ApiException;
import io.grpc.Metadata;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What a JwtIssuer must be for a config to be served, and what a verified token yields. */
class JwtIssuerConfigTest {
  private static final Instant NOW = Instant.parse("2026-01-01T00:00:00Z");
  private static final RSAKey RSA = rsaKey("rsa-1");

  @TempDir Path dir;

  private Path jwksFile(String content) throws Exception {
    Path file = dir.resolve("jwks-" + content.hashCode() + ".json");
    Files.writeString(file, content);
    return file;
  }

  private static AccessTable access(JwtIssuer issuer) {
    return AccessTable.build(
        List.of(
            resource(consumer("acme", "m1").toBuilder().setTenant("eu").build()),
            resource(issuer)));
  }

  private static Metadata bearer(String token) {
    Metadata headers = new Metadata();
    headers.put(ApiKeyAuthenticator.AUTHORIZATION, "Bearer " + token);
    return headers;
  }

  @Test
  void aVerifiedTokenCarriesItsConsumerTenantAndPrincipal() throws Exception {
    AccessTable access =
        access(issuer("corp").setJwksFile(jwksFile(jwks(RSA)).toString()).build());
    Authenticator authenticator =
        Authenticator.standard(false, Clock.fixed(NOW, ZoneOffset.UTC));

    Caller caller = authenticator.authenticate(bearer(token(RSA, "acme", NOW)), access);

    assertThat(caller.consumer()).isEqualTo("acme");
    assertThat(caller.tenant()).isEqualTo("eu");
    assertThat(caller.models()).containsExactly("m1");
    assertThat(caller.principal()).isEqualTo("https://idp.example.com#acme");
    assertThat(caller.apiKey()).isNull();
  }

  @Test
  void expiryAllowsTheConfiguredClockSkewAndNoMore() throws Exception {
    AccessTable access =
        access(
            issuer("corp")
                .setJwksFile(jwksFile(jwks(RSA)).toString())
                .setClockSkew(seconds(30))
                .build());
    String token = token(RSA, "acme", NOW);
    Instant exp = NOW.plusSeconds(300);

    assertThat(
            Authenticator.standard(false, Clock.fixed(exp.plusSeconds(29), ZoneOffset.UTC))
                .authenticate(bearer(token), access)
                .consumer())
        .isEqualTo("acme");
    assertThatThrownBy(
            () ->
                Authenticator.standard(false, Clock.fixed(exp.plusSeconds(30), ZoneOffset.UTC))
                    .authenticate(bearer(token), access))
        .isInstanceOf(ApiException.class);
  }

  @Test
  void aConfigWithAnUnreadableOrMalformedJwksFileIsRefusedNamingTheIssuerAndField()
      throws Exception {
    Path missing = dir.resolve("missing.json");
    Path garbage = jwksFile("{\"keys\": 42}");
    Path onlyHmac = jwksFile("{\"keys\":[{\"kty\":\"oct\",\"kid\":\"h\",\"k\":\"c2VjcmV0\"}]}");

    assertThatThrownBy(() -> access(issuer("corp").setJwksFile(missing.toString()).build()))
        .hasMessageStartingWith("jwt issuer corp: jwks_file: " + missing + ": cannot read");
    assertThatThrownBy(() -> access(issuer("corp").setJwksFile(garbage.toString()).build()))
        .hasMessageStartingWith("jwt issuer corp: jwks_file: " + garbage + ": not a valid JWKS");
    assertThatThrownBy(() -> access(issuer("corp").setJwksFile(onlyHmac.toString()).build()))
        .hasMessageContaining("jwt issuer corp: jwks_file: ")
        .hasMessageContaining("no usable signing key");
  }

  @Test
  void aConfigWithAnAlgorithmThisBuildCannotVerifyIsRefused() throws Exception {
    String file = jwksFile(jwks(RSA)).toString();

    assertThatThrownBy(
            () ->
                access(
                    issuer("corp")
                        .setJwksFile(file)
                        .addAlgorithms(JwtAlgorithm.JWT_ALGORITHM_UNSPECIFIED)
                        .build()))
        .hasMessage("jwt issuer corp: algorithms[2]: must be set");
    assertThatThrownBy(() -> access(issuer("corp").setJwksFile(file).addAlgorithmsValue(99).build()))
        .hasMessageContaining("algorithms[2]: algorithm number 99 is not supported");
  }

  @Test
  void everyAlgorithmTheConfigCanNameIsVerifiedByThisBuild() throws Exception {
    String file = jwksFile(jwks(RSA)).toString();
    JwtIssuer.Builder all = issuer("corp").setJwksFile(file).clearAlgorithms();
    for (JwtAlgorithm algorithm : JwtAlgorithm.values()) {
      if (algorithm != JwtAlgorithm.JWT_ALGORITHM_UNSPECIFIED
          && algorithm != JwtAlgorithm.UNRECOGNIZED) {
        all.addAlgorithms(algorithm);
      }
    }

    assertThat(access(all.build()).hasJwtIssuers()).isTrue();
  }

  @Test
  void aConfigWithAMissingOrIncompleteFieldIsRefused() throws Exception {
    String file = jwksFile(jwks(RSA)).toString();

    assertThatThrownBy(() -> access(issuer("corp").build()))
        .hasMessage("jwt issuer corp: jwks_file or jwks_uri: exactly one is required");
    assertThatThrownBy(() -> access(issuer("corp").setJwksFile(file).clearAudiences().build()))
        .hasMessage("jwt issuer corp: audiences: at least one is required");
    assertThatThrownBy(() -> access(issuer("corp").setJwksFile(file).clearAlgorithms().build()))
        .hasMessage("jwt issuer corp: algorithms: at least one is required");
    assertThatThrownBy(() -> access(issuer("corp").setJwksFile(file).setIssuer("").build()))
        .hasMessage("jwt issuer corp: issuer: required");
    assertThatThrownBy(
            () -> access(issuer("corp").setJwksFile(file).setClockSkew(seconds(301)).build()))
        .hasMessage("jwt issuer corp: clock_skew: must be between 0 and 5 min");
    assertThatThrownBy(() -> access(issuer("corp").setJwksFile("relative.json").build()))
        .hasMessage("jwt issuer corp: jwks_file: must be an absolute path");
  }

  @Test
  void keysAreFetchedOverHttpsExceptFromLoopback() {
    assertThatThrownBy(
            () -> access(issuer("corp").setJwksUri("http://idp.example.com/jwks").build()))
        .hasMessage(
            "jwt issuer corp: jwks_uri: must use https (http is allowed for loopback hosts only)");
    assertThatThrownBy(() -> access(issuer("corp").setJwksUri("ftp://idp/jwks").build()))
        .hasMessage("jwt issuer corp: jwks_uri: must be an absolute https URL");
    assertThat(access(issuer("corp").setJwksUri("http://127.0.0.1:9/jwks").build()).hasJwtIssuers())
        .isTrue();
  }

  @Test
  void twoIssuersMayNotClaimTheSameIss() throws Exception {
    String file = jwksFile(jwks(RSA)).toString();

    assertThatThrownBy(
            () ->
                AccessTable.build(
                    List.of(
                        resource(issuer("a").setJwksFile(file).build()),
                        resource(issuer("b").setJwksFile(file).build()))))
        .hasMessage(
            "jwt issuer b: issuer: https://idp.example.com is also the issuer of jwt issuer a");
  }

  @Test
  void theRuntimeConfigOfASnapshotWithABadIssuerIsRefused() {
    assertThatThrownBy(
            () ->
                runtimeConfig(
                    1,
                    backend("b1"),
                    issuer("corp").setJwksFile(dir.resolve("absent.json").toString()).build()))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("jwt issuer corp: jwks_file:");
  }

  @Test
  void aJwksFileWithEncryptionAndSymmetricKeysKeepsOnlyItsSigningKeys() throws Exception {
    String mixed =
        "{\"keys\":["
            + "{\"kty\":\"oct\",\"kid\":\"h\",\"k\":\"c2VjcmV0\"},"
            + RSA.toPublicJWK().toJSONString()
            + ","
            + ecKey("enc-1").toPublicJWK().toJSONObject().entrySet().stream()
                .map(e -> "\"" + e.getKey() + "\":\"" + e.getValue() + "\"")
                .reduce((a, b) -> a + "," + b)
                .map(s -> "{" + s + ",\"use\":\"enc\"}")
                .orElseThrow()
            + "]}";
    Path file = jwksFile(mixed);
    writeJwks(file, mixed);

    JwksKeySet keys = JwksKeySet.parse(Files.readString(file));

    assertThat(keys.kids()).containsExactly("rsa-1");
  }
}
