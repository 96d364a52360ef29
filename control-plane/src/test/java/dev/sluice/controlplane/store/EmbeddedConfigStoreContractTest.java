package dev.sluice.controlplane.store;

import java.nio.file.Path;
import org.junit.jupiter.api.io.TempDir;

/** The store contract, kept by the embedded store of development mode. */
class EmbeddedConfigStoreContractTest extends ConfigStoreContractTest {
  @TempDir Path directory;

  @Override
  protected ConfigStore newStore() {
    return ConfigStore.embedded(directory);
  }
}
