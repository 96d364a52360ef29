package dev.sluice.integration;

import dev.sluice.controlplane.store.ConfigStore;
import dev.sluice.controlplane.store.etcd.EtcdConfigStore;
import dev.sluice.controlplane.store.etcd.EtcdStoreOptions;
import dev.sluice.testing.etcd.EtcdExtension;
import java.util.List;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The end-to-end path with the control plane on a real etcd process, as in production. */
class EtcdStoreStreamingIT extends StreamingThroughTheGatewayContract {
  @RegisterExtension static final EtcdExtension etcd = EtcdExtension.create();

  @Override
  ConfigStore openStore() {
    return EtcdConfigStore.connect(EtcdStoreOptions.builder(List.of(etcd.clientEndpoint())).build());
  }
}
