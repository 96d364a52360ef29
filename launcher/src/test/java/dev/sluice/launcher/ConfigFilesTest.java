package dev.sluice.launcher;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.config.v1.BackendKind;
import dev.sluice.config.v1.Resource;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ConfigFilesTest {
  @TempDir Path dir;

  @Test
  void readsEveryDocumentOfAFileAsAResource() throws Exception {
    Path file =
        write(
            "models.yaml",
            """
            ---
            # leading separator and comments are fine
            backend:
              name: local-vllm
              kind: BACKEND_KIND_OPENAI_COMPATIBLE
              base_url: http://127.0.0.1:8000/v1
              timeouts:
                request_timeout: 30s
            ---
            model:
              name: llama
              aliases: ["meta-llama/Llama-3.1-8B-Instruct"]
              versions:
                - name: v1
                  upstreamModel: meta-llama/Llama-3.1-8B-Instruct
                  backends: [{backend: local-vllm, weight: 100}]
            """);

    List<Resource> resources = ConfigFiles.load(List.of(file));

    assertThat(resources).hasSize(2);
    assertThat(resources.get(0).getBackend().getKind())
        .isEqualTo(BackendKind.BACKEND_KIND_OPENAI_COMPATIBLE);
    assertThat(resources.get(0).getBackend().getTimeouts().getRequestTimeout().getSeconds())
        .isEqualTo(30);
    assertThat(resources.get(1).getModel().getVersions(0).getUpstreamModel())
        .isEqualTo("meta-llama/Llama-3.1-8B-Instruct");
    assertThat(resources.get(1).getModel().getVersions(0).getBackends(0).getWeight()).isEqualTo(100);
  }

  @Test
  void readsTheYamlFilesOfADirectoryInNameOrder() throws Exception {
    write("b.yml", "model: {name: second, versions: [{name: v1, backends: [{backend: x}]}]}\n");
    write("a.yaml", "backend: {name: first, kind: BACKEND_KIND_MOCK}\n");
    write("notes.txt", "not config");

    List<Resource> resources = ConfigFiles.load(List.of(dir));

    assertThat(resources).extracting(r -> ResourceNames.refOf(r).getName()).containsExactly("first", "second");
  }

  @Test
  void aTypoInAFieldNameIsAnErrorNamingTheFileAndDocument() throws Exception {
    Path file =
        write(
            "typo.yaml",
            """
            backend: {name: ok, kind: BACKEND_KIND_MOCK}
            ---
            backend:
              name: bad
              kind: BACKEND_KIND_MOCK
              baseurl: http://x
            """);

    assertThatThrownBy(() -> ConfigFiles.load(List.of(file)))
        .isInstanceOf(CommandFailure.class)
        .hasMessageContaining("typo.yaml: document 2 (line ")
        .hasMessageContaining("baseurl");
  }

  @Test
  void aDocumentWithoutAKindIsAnError() throws Exception {
    Path file = write("nokind.yaml", "name: lonely\n");

    assertThatThrownBy(() -> ConfigFiles.load(List.of(file)))
        .hasMessageContaining("nokind.yaml: document 1");
  }

  @Test
  void brokenYamlIsReportedWithItsLine() throws Exception {
    Path file = write("broken.yaml", "backend:\n  name: [unclosed\n");

    assertThatThrownBy(() -> ConfigFiles.load(List.of(file)))
        .isInstanceOf(CommandFailure.class)
        .hasMessageContaining("broken.yaml: document 1 (line ")
        .hasMessageContaining("invalid YAML");
  }

  @Test
  void aMissingFileSaysSo() {
    assertThatThrownBy(() -> ConfigFiles.load(List.of(dir.resolve("nope.yaml"))))
        .isInstanceOf(NoSuchFileException.class)
        .hasMessageContaining("nope.yaml");
  }

  @Test
  void anEmptyDirectoryIsAnError() throws Exception {
    Path empty = Files.createDirectory(dir.resolve("empty"));

    assertThatThrownBy(() -> ConfigFiles.load(List.of(empty)))
        .hasMessageContaining("no resources in the *.yaml or *.yml files");
  }

  @Test
  void aResourceInTwoOfTheGivenFilesIsAnError() throws Exception {
    Path first = write("first.yaml", "backend: {name: twin, kind: BACKEND_KIND_MOCK}\n");
    Path second = write("second.yaml", "---\nbackend: {name: twin, kind: BACKEND_KIND_MOCK}\n");

    assertThatThrownBy(() -> ConfigFiles.load(List.of(first, second)))
        .isInstanceOf(CommandFailure.class)
        .hasMessageContaining("second.yaml: document 1 (line 2): backend/twin is already defined in")
        .hasMessageContaining("first.yaml: document 1 (line 1)");
  }

  private Path write(String name, String content) throws Exception {
    return Files.writeString(dir.resolve(name), content, UTF_8);
  }
}
