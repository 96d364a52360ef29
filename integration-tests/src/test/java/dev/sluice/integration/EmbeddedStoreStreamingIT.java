package dev.sluice.integration;

import dev.sluice.controlplane.store.ConfigStore;
import java.nio.file.Path;
import org.junit.jupiter.api.io.TempDir;

/** The end-to-end path with the control plane on the embedded store, as {@code sluice dev} runs. */
class EmbeddedStoreStreamingIT extends StreamingThroughTheGatewayContract {
  @TempDir static Path storeDir;

  @Override
  ConfigStore openStore() {
    return ConfigStore.embedded(storeDir);
  }
}
