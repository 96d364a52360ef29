package dev.sluice.controlplane.config;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.config.v1.Resource;
import dev.sluice.controlplane.store.ResourceKey;
import dev.sluice.controlplane.validation.ConfigValidator;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every file in {@code config-samples/} parses and is valid on its own and together with all the
 * others, so the samples cannot rot.
 */
class ConfigSamplesTest {
  /** The samples directory, relative to this module (Maven runs tests in the module directory). */
  private static final Path SAMPLES = Path.of("..", "config-samples");

  private final ConfigValidator validator = ConfigValidator.create();

  static Stream<Path> samples() throws IOException {
    try (Stream<Path> files = Files.list(SAMPLES)) {
      List<Path> yaml =
          files.filter(p -> p.getFileName().toString().matches(".*\\.ya?ml")).sorted().toList();
      assertThat(yaml).as("samples in %s", SAMPLES.toAbsolutePath()).isNotEmpty();
      return yaml.stream();
    }
  }

  @Test
  void theExpectedSamplesExist() throws IOException {
    assertThat(samples().map(p -> p.getFileName().toString()))
        .contains(
            "dev.yaml",
            "openai.yaml",
            "ollama.yaml",
            "anthropic.yaml",
            "gemini.yaml",
            "canary-and-fallback.yaml",
            "rate-limits.yaml");
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("samples")
  void eachSampleIsValidOnItsOwn(Path sample) {
    List<Resource> resources = ConfigDocuments.readResources(sample);

    assertThat(resources).isNotEmpty();
    assertThat(validator.validate(index(resources))).isEmpty();
  }

  @Test
  void allSamplesTogetherAreValid() {
    List<Resource> resources = ConfigDocuments.readResources(SAMPLES);

    assertThat(validator.validate(index(resources))).isEmpty();
  }

  @Test
  void theDevSampleNeedsNoSecretsAndHasTheModelsDevModePromises() {
    List<Resource> dev = ConfigDocuments.readResources(SAMPLES.resolve("dev.yaml"));

    assertThat(dev)
        .filteredOn(Resource::hasModel)
        .extracting(r -> r.getModel().getName())
        .contains("mock-chat", "mock-embed");
    assertThat(dev)
        .filteredOn(Resource::hasBackend)
        .allMatch(r -> !r.getBackend().hasApiKey() && r.getBackend().getHeadersCount() == 0);
    assertThat(dev).noneMatch(Resource::hasApiKey);
  }

  private static Map<ResourceKey, Resource> index(List<Resource> resources) {
    Map<ResourceKey, Resource> config = new TreeMap<>();
    for (Resource resource : resources) {
      assertThat(config.put(ResourceKey.of(resource), resource)).as("duplicate %s", ResourceKey.of(resource)).isNull();
    }
    return config;
  }
}
