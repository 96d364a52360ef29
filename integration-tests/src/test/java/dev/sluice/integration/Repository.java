package dev.sluice.integration;

import java.nio.file.Files;
import java.nio.file.Path;

/** Paths in this checkout, as the build passes them (see integration-tests/pom.xml). */
final class Repository {
  private Repository() {}

  /** The repository root. */
  static Path root() {
    return Path.of(required("sluice.repository")).toAbsolutePath().normalize();
  }

  /** {@code bin/sluice}, the README's run command. */
  static Path sluiceScript() {
    Path script = root().resolve("bin").resolve("sluice");
    if (!Files.isExecutable(script)) {
      throw new AssertionError(script + " is missing or not executable");
    }
    return script;
  }

  /** {@code launcher/target/sluice.jar}, which the launcher module's package phase builds. */
  static Path sluiceJar() {
    Path jar = Path.of(required("sluice.jar")).toAbsolutePath().normalize();
    if (!Files.isRegularFile(jar)) {
      throw new AssertionError(
          jar + " is missing: build it first (mvn -pl launcher -am package), or run the whole"
              + " reactor (mvn verify)");
    }
    return jar;
  }

  private static String required(String property) {
    String value = System.getProperty(property);
    if (value == null || value.isBlank()) {
      throw new AssertionError(
          "system property " + property + " is not set; run the integration tests through Maven");
    }
    return value;
  }
}
