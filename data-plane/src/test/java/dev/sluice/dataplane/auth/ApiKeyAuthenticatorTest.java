package dev.sluice.dataplane.auth;

import static dev.sluice.dataplane.testing.TestConfigs.apiKey;
import static dev.sluice.dataplane.testing.TestConfigs.consumer;
import static dev.sluice.dataplane.testing.TestConfigs.expiring;
import static dev.sluice.dataplane.testing.TestConfigs.plainKey;
import static dev.sluice.dataplane.testing.TestConfigs.resource;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.config.v1.ApiKeyHashAlgorithm;
import dev.sluice.grpc.ApiException;
import io.grpc.Metadata;
import io.grpc.Status;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class ApiKeyAuthenticatorTest {
  private static final Instant NOW = Instant.parse("2026-01-01T00:00:00Z");
  private final Clock clock = Clock.fixed(NOW, ZoneOffset.UTC);
  private final Authenticator strict = Authenticator.apiKeys(false, clock);

  private final AccessTable access =
      AccessTable.build(
          List.of(
              resource(
                  consumer("acme", "m1").toBuilder()
                      .setTenant("eu")
                      .addModelGroups("gold")
                      .build()),
              resource(apiKey("team.prod-1", "acme", "s3cret")),
              resource(expiring(apiKey("until-now", "acme", "x"), NOW)),
              resource(expiring(apiKey("until-later", "acme", "y"), NOW.plusSeconds(1)))));

  private static Metadata authorization(String value) {
    Metadata headers = new Metadata();
    headers.put(ApiKeyAuthenticator.AUTHORIZATION, value);
    return headers;
  }

  @Test
  void resolvesTheConsumerOfAValidKey() {
    Caller caller =
        strict.authenticate(authorization("Bearer " + plainKey("team.prod-1", "s3cret")), access);

    assertThat(caller.consumer()).isEqualTo("acme");
    assertThat(caller.tenant()).isEqualTo("eu");
    assertThat(caller.apiKey()).isEqualTo("team.prod-1");
    assertThat(caller.models()).containsExactly("m1");
    assertThat(caller.modelGroups()).containsExactly("gold");
  }

  @Test
  void acceptsTheBearerSchemeInAnyCase() {
    Caller caller =
        strict.authenticate(authorization("bEaReR " + plainKey("team.prod-1", "s3cret")), access);

    assertThat(caller.consumer()).isEqualTo("acme");
  }

  @Test
  void aKeyExpiresAtItsExpireTime() {
    assertThatThrownBy(
            () ->
                strict.authenticate(authorization("Bearer " + plainKey("until-now", "x")), access))
        .isInstanceOf(ApiException.class);
    assertThat(
            strict
                .authenticate(authorization("Bearer " + plainKey("until-later", "y")), access)
                .consumer())
        .isEqualTo("acme");
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "Bearer sk-sluice-team.prod-1.wrong",
        "Bearer sk-sluice-nobody.s3cret",
        "Bearer sk-sluice-team.prod-1.",
        "Bearer sk-sluice-.s3cret",
        "Bearer sk-sluice-",
        "Bearer s3cret",
        "Basic dXNlcjpwYXNz"
      })
  void refusesEveryBadCredentialAlike(String authorization) {
    assertThatThrownBy(() -> strict.authenticate(authorization(authorization), access))
        .isInstanceOfSatisfying(
            ApiException.class,
            e -> {
              assertThat(e.code()).isEqualTo(Status.Code.UNAUTHENTICATED);
              assertThat(e.reason()).isEqualTo("API_KEY_INVALID");
              assertThat(e.getMessage()).isEqualTo("invalid API key");
            });
  }

  @Test
  void refusesAMissingKeyUnlessAnonymousCallersAreAllowed() {
    assertThatThrownBy(() -> strict.authenticate(new Metadata(), access))
        .isInstanceOfSatisfying(
            ApiException.class, e -> assertThat(e.reason()).isEqualTo("API_KEY_INVALID"));

    Caller anonymous = Authenticator.apiKeys(true, clock).authenticate(new Metadata(), access);

    assertThat(anonymous.consumer()).isEqualTo(Caller.ANONYMOUS);
    assertThat(anonymous.grantedAllModels()).isTrue();
  }

  @Test
  void rejectsAConfigWithAKeyItCannotVerify() {
    var weak =
        apiKey("k", "acme", "s").toBuilder()
            .setHash(
                apiKey("k", "acme", "s").getHash().toBuilder()
                    .setAlgorithm(ApiKeyHashAlgorithm.API_KEY_HASH_ALGORITHM_UNSPECIFIED))
            .build();

    assertThatThrownBy(() -> AccessTable.build(List.of(resource(consumer("acme")), resource(weak))))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("api key k: hash");
    assertThatThrownBy(() -> AccessTable.build(List.of(resource(apiKey("k", "ghost", "s")))))
        .hasMessage("api key k: consumer: ghost does not exist");
  }

  @Test
  void grantsCoverNamesAliasesAndGroups() {
    Caller caller =
        Caller.of(
            consumer("c", "m1", "legacy-name").toBuilder().addModelGroups("gold").build(), "k");

    assertThat(caller.mayUse("m1", "m1", List.of(), List.of())).isTrue();
    assertThat(caller.mayUse("alias-of-m1", "m1", List.of("alias-of-m1"), List.of())).isTrue();
    assertThat(caller.mayUse("m2", "m2", List.of("legacy-name"), List.of())).isTrue();
    assertThat(caller.mayUse("p", "p", List.of(), List.of("gold"))).isTrue();
    assertThat(caller.mayUse("m3", "m3", List.of(), List.of("silver"))).isFalse();
    assertThat(caller.mayUse("nope", null, List.of(), List.of())).isFalse();
  }
}
