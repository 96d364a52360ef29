package dev.sluice.controlplane.apikey;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.common.hash.Hashing;
import dev.sluice.config.v1.ApiKey;
import dev.sluice.config.v1.ApiKeyHashAlgorithm;
import dev.sluice.controlplane.validation.ConfigValidator;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class ApiKeySecretsTest {
  @Test
  void aGeneratedKeyHasThePrefixTheNameAndA43CharacterSecret() {
    ApiKeySecrets.GeneratedKey key = ApiKeySecrets.generate("team.key-1");

    assertThat(key.plainKey()).startsWith("sk-sluice-team.key-1.");
    String secret = key.plainKey().substring(key.plainKey().lastIndexOf('.') + 1);
    assertThat(secret).hasSize(43).matches("[A-Za-z0-9_-]+");
    assertThat(key.toString()).doesNotContain(secret);
  }

  @Test
  void theHashIsSha256OfTheSaltFollowedByTheSecret() {
    ApiKeySecrets.GeneratedKey key = ApiKeySecrets.generate("k1");
    String secret = key.plainKey().substring(key.plainKey().lastIndexOf('.') + 1);
    byte[] salt = key.hash().getSalt().toByteArray();

    byte[] expected =
        Hashing.sha256().newHasher().putBytes(salt).putString(secret, UTF_8).hash().asBytes();

    assertThat(key.hash().getAlgorithm()).isEqualTo(ApiKeyHashAlgorithm.API_KEY_HASH_ALGORITHM_SHA256);
    assertThat(salt).hasSize(16);
    assertThat(key.hash().getDigest().toByteArray()).isEqualTo(expected);
  }

  @Test
  void verifyAcceptsTheKeyAndRejectsAnyOtherOne() {
    ApiKeySecrets.GeneratedKey generated = ApiKeySecrets.generate("team.key-1");
    ApiKey stored = ApiKey.newBuilder().setName("team.key-1").setHash(generated.hash()).build();
    String other = ApiKeySecrets.generate("team.key-1").plainKey();

    assertThat(ApiKeySecrets.verify(generated.plainKey(), stored)).isTrue();
    assertThat(ApiKeySecrets.verify(other, stored)).isFalse();
    assertThat(ApiKeySecrets.verify(generated.plainKey().replace("team.key-1", "team.key-2"), stored))
        .isFalse();
    assertThat(ApiKeySecrets.verify(generated.plainKey(), stored.toBuilder().clearHash().build()))
        .isFalse();
  }

  @Test
  void parseSplitsAtTheLastDotBecauseNamesMayContainDots() {
    assertThat(ApiKeySecrets.parse("sk-sluice-a.b.c.SECRET"))
        .hasValueSatisfying(
            p -> {
              assertThat(p.name()).isEqualTo("a.b.c");
              assertThat(p.secret()).isEqualTo("SECRET");
            });
  }

  @ParameterizedTest
  @ValueSource(strings = {"", "sk-sluice-", "sk-sluice-.x", "sk-sluice-name.", "sk-other-a.b", "Bearer x"})
  void malformedKeysDoNotParse(String key) {
    assertThat(ApiKeySecrets.parse(key)).isEmpty();
  }

  @Test
  void generatedNamesAreValidResourceNamesAndDistinct() {
    Set<String> names = new HashSet<>();
    for (int i = 0; i < 100; i++) {
      String name = ApiKeySecrets.generateName();
      assertThat(ConfigValidator.isValidName(name)).as(name).isTrue();
      names.add(name);
    }
    assertThat(names).hasSize(100);
  }
}
