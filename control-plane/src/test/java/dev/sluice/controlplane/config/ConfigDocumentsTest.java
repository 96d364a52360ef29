package dev.sluice.controlplane.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.util.Durations;
import dev.sluice.config.v1.BackendKind;
import dev.sluice.config.v1.Resource;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ConfigDocumentsTest {
  @TempDir Path dir;

  @Test
  void eachDocumentIsOneResourceInItsProtoJsonForm() {
    List<ConfigDocuments.Document> documents =
        ConfigDocuments.parse(
            """
            # leading comment
            backend:
              name: mock
              kind: BACKEND_KIND_MOCK
              mock: {tokensPerResponse: 32, time_to_first_token: 0.25s}
            ---
            model:
              name: chat
              versions:
                - name: v1
                  upstreamModel: m
                  backends: [{backend: mock, weight: 3}]
            """,
            "inline.yaml");

    assertThat(documents).hasSize(2);
    Resource backend = documents.get(0).resource();
    assertThat(backend.getBackend().getKind()).isEqualTo(BackendKind.BACKEND_KIND_MOCK);
    assertThat(backend.getBackend().getMock().getTokensPerResponse()).isEqualTo(32);
    assertThat(backend.getBackend().getMock().getTimeToFirstToken())
        .isEqualTo(Durations.fromMillis(250));
    assertThat(documents.get(1).resource().getModel().getVersions(0).getBackends(0).getWeight())
        .isEqualTo(3);
    assertThat(documents.get(1).document()).isEqualTo(2);
    assertThat(documents.get(1).line()).isEqualTo(7);
  }

  @Test
  void emptyAndCommentOnlyDocumentsAreSkipped() {
    List<ConfigDocuments.Document> documents =
        ConfigDocuments.parse(
            """
            ---
            # only a comment
            ---
            consumer: {name: c, models: ["*"]}
            ---
            """,
            "inline.yaml");

    assertThat(documents).extracting(d -> d.resource().getConsumer().getName()).containsExactly("c");
  }

  @Test
  void anUnknownFieldNamesTheFileTheDocumentAndTheField() {
    assertThatThrownBy(
            () ->
                ConfigDocuments.parse(
                    """
                    backend: {name: a, kind: BACKEND_KIND_MOCK}
                    ---
                    backend:
                      name: b
                      kind: BACKEND_KIND_MOCK
                      mock: {tokensPerRespons: 3}
                    """,
                    "typo.yaml"))
        .isInstanceOfSatisfying(
            ConfigDocumentException.class,
            e -> {
              assertThat(e.source()).isEqualTo("typo.yaml");
              assertThat(e.document()).isEqualTo(2);
              assertThat(e.line()).isEqualTo(3);
            })
        .hasMessageStartingWith("typo.yaml: document 2 (line 3): ")
        .hasMessageContaining("tokensPerRespons");
  }

  @Test
  void anUnknownEnumValueIsAnError() {
    assertThatThrownBy(
            () -> ConfigDocuments.parse("backend: {name: a, kind: BACKEND_KIND_MOKC}\n", "enum.yaml"))
        .isInstanceOf(ConfigDocumentException.class)
        .hasMessageContaining("BACKEND_KIND_MOKC");
  }

  @Test
  void aDocumentWithoutAKindOrWithTwoKindsIsAnError() {
    assertThatThrownBy(() -> ConfigDocuments.parse("{}\n", "none.yaml"))
        .isInstanceOf(ConfigDocumentException.class)
        .hasMessageContaining("no resource kind");
    assertThatThrownBy(
            () ->
                ConfigDocuments.parse(
                    "backend: {name: a}\nconsumer: {name: b}\n", "two.yaml"))
        .isInstanceOf(ConfigDocumentException.class)
        .hasMessageStartingWith("two.yaml: document 1");
  }

  @Test
  void aListOrScalarDocumentIsAnError() {
    assertThatThrownBy(() -> ConfigDocuments.parse("- backend: {name: a}\n", "list.yaml"))
        .isInstanceOf(ConfigDocumentException.class)
        .hasMessageContaining("expected a mapping");
  }

  @Test
  void brokenYamlReportsItsLine() {
    assertThatThrownBy(
            () -> ConfigDocuments.parse("backend:\n  name: a\n   kind: [\n", "broken.yaml"))
        .isInstanceOf(ConfigDocumentException.class)
        .hasMessageStartingWith("broken.yaml: document 1 (line ")
        .hasMessageContaining("invalid YAML");
  }

  @Test
  void duplicateKeysAreAnError() {
    assertThatThrownBy(
            () -> ConfigDocuments.parse("backend: {name: a, name: b}\n", "dup.yaml"))
        .isInstanceOf(ConfigDocumentException.class)
        .hasMessageContaining("name");
  }

  @Test
  void aDirectoryIsReadInNameOrderAndOnlyYamlFilesCount() throws IOException {
    Files.writeString(dir.resolve("b.yml"), "backend: {name: second, kind: BACKEND_KIND_MOCK}\n");
    Files.writeString(dir.resolve("a.yaml"), "backend: {name: first, kind: BACKEND_KIND_MOCK}\n");
    Files.writeString(dir.resolve("notes.txt"), "not config");

    List<Resource> resources = ConfigDocuments.readResources(dir);

    assertThat(resources).extracting(r -> r.getBackend().getName()).containsExactly("first", "second");
  }

  @Test
  void aResourceDefinedTwiceAcrossFilesIsAnError() throws IOException {
    Files.writeString(dir.resolve("a.yaml"), "backend: {name: same, kind: BACKEND_KIND_MOCK}\n");
    Files.writeString(dir.resolve("b.yaml"), "backend: {name: same, kind: BACKEND_KIND_MOCK}\n");

    assertThatThrownBy(() -> ConfigDocuments.read(dir))
        .isInstanceOf(ConfigDocumentException.class)
        .hasMessageContaining("backend/same is already defined in " + dir.resolve("a.yaml"));
  }

  @Test
  void aMissingFileIsAnErrorNamingIt() {
    Path missing = dir.resolve("missing.yaml");

    assertThatThrownBy(() -> ConfigDocuments.read(missing))
        .isInstanceOf(ConfigDocumentException.class)
        .hasMessageStartingWith(missing.toString());
  }
}
