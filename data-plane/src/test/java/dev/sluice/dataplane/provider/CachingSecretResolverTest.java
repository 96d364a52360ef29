package dev.sluice.dataplane.provider;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.config.v1.SecretRef;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CachingSecretResolverTest {
  private final Map<String, String> env = new HashMap<>();
  private final AtomicLong clock = new AtomicLong();
  private final SecretResolver resolver =
      SecretResolver.create(env::get, clock::get, Duration.ofSeconds(1));

  @TempDir Path dir;

  private static SecretRef envRef(String name) {
    return SecretRef.newBuilder().setEnvVar(name).build();
  }

  private static SecretRef fileRef(Path path) {
    return SecretRef.newBuilder().setFilePath(path.toString()).build();
  }

  @Test
  void resolvesAnEnvironmentVariable() {
    env.put("OPENAI_API_KEY", "sk-test-123");

    assertThat(resolver.resolve(envRef("OPENAI_API_KEY"), "openai").reveal()).isEqualTo("sk-test-123");
  }

  @Test
  void aMissingVariableIsMisconfiguredAndNamesTheVariable() {
    assertThatThrownBy(() -> resolver.resolve(envRef("MISSING_KEY"), "openai-main"))
        .isInstanceOfSatisfying(
            UpstreamException.class,
            e -> {
              assertThat(e.failure()).isEqualTo(UpstreamFailure.MISCONFIGURED);
              assertThat(e.backend()).isEqualTo("openai-main");
              assertThat(e.getMessage()).contains("MISSING_KEY").contains("openai-main");
            });
  }

  @Test
  void aFileHasOneTrailingNewlineRemoved() throws IOException {
    Path lf = write("lf", "key-one\n");
    Path crlf = write("crlf", "key-two\r\n");
    Path two = write("two", "key-three\n\n");

    assertThat(resolver.resolve(fileRef(lf), "b").reveal()).isEqualTo("key-one");
    assertThat(resolver.resolve(fileRef(crlf), "b").reveal()).isEqualTo("key-two");
    assertThat(resolver.resolve(fileRef(two), "b").reveal()).isEqualTo("key-three\n");
  }

  @Test
  void aRotatedFileIsReadAgainAfterTheRecheckInterval() throws IOException {
    Path file = write("key", "old-secret\n");
    SecretRef ref = fileRef(file);
    assertThat(resolver.resolve(ref, "b").reveal()).isEqualTo("old-secret");

    Files.writeString(file, "new-secret-value\n");
    Files.setLastModifiedTime(file, FileTime.fromMillis(System.currentTimeMillis() + 5_000));
    clock.addAndGet(Duration.ofMillis(500).toNanos());
    assertThat(resolver.resolve(ref, "b").reveal())
        .as("within the recheck interval the cached value is used")
        .isEqualTo("old-secret");

    clock.addAndGet(Duration.ofMillis(600).toNanos());
    assertThat(resolver.resolve(ref, "b").reveal()).isEqualTo("new-secret-value");
  }

  @Test
  void anUnchangedSourceKeepsTheSameSecretInstance() throws IOException {
    env.put("K", "value");
    Path file = write("f", "value\n");
    Secret fromEnv = resolver.resolve(envRef("K"), "b");
    Secret fromFile = resolver.resolve(fileRef(file), "b");

    clock.addAndGet(Duration.ofSeconds(5).toNanos());

    assertThat(resolver.resolve(envRef("K"), "b")).isSameAs(fromEnv);
    assertThat(resolver.resolve(fileRef(file), "b")).isSameAs(fromFile);
  }

  @Test
  void aChangedVariableIsSeenAfterTheRecheckInterval() {
    env.put("K", "first");
    assertThat(resolver.resolve(envRef("K"), "b").reveal()).isEqualTo("first");
    env.put("K", "second");
    clock.addAndGet(Duration.ofSeconds(2).toNanos());

    assertThat(resolver.resolve(envRef("K"), "b").reveal()).isEqualTo("second");
  }

  @Test
  void aMissingFileIsMisconfiguredAndNamesThePath() {
    Path missing = dir.resolve("nope");

    assertThatThrownBy(() -> resolver.resolve(fileRef(missing), "b"))
        .isInstanceOfSatisfying(
            UpstreamException.class,
            e -> {
              assertThat(e.failure()).isEqualTo(UpstreamFailure.MISCONFIGURED);
              assertThat(e.getMessage()).contains(missing.toString());
            });
  }

  @Test
  void emptyValuesAndControlCharactersAreRejectedWithoutShowingTheValue() throws IOException {
    env.put("EMPTY", "");
    env.put("BELL", "sk-secret\u0007value");

    assertThatThrownBy(() -> resolver.resolve(envRef("EMPTY"), "b"))
        .hasMessageContaining("EMPTY")
        .hasMessageContaining("empty");
    assertThatThrownBy(() -> resolver.resolve(envRef("BELL"), "b"))
        .hasMessageContaining("control characters")
        .hasMessageNotContaining("sk-secret");
    Path newlineOnly = write("blank", "\n");
    assertThatThrownBy(() -> resolver.resolve(fileRef(newlineOnly), "b")).hasMessageContaining("empty");
  }

  @Test
  void aReferenceWithoutSourceIsMisconfigured() {
    assertThatThrownBy(() -> resolver.resolve(SecretRef.getDefaultInstance(), "b"))
        .isInstanceOfSatisfying(
            UpstreamException.class, e -> assertThat(e.failure()).isEqualTo(UpstreamFailure.MISCONFIGURED));
  }

  @Test
  void aSecretNeverPrintsItsValue() {
    Secret secret = Secret.of("sk-live-very-secret");

    assertThat(secret.toString()).doesNotContain("sk-live").isEqualTo("Secret[redacted]");
    assertThat(String.valueOf(secret)).doesNotContain("very-secret");
    assertThat(secret.bearerAuthorization().toString()).isEqualTo("Bearer sk-live-very-secret");
  }

  private Path write(String name, String content) throws IOException {
    Path p = dir.resolve(name);
    Files.write(p, content.getBytes(StandardCharsets.UTF_8));
    return p;
  }
}
