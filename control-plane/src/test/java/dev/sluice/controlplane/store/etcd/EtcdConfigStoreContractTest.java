package dev.sluice.controlplane.store.etcd;

import static dev.sluice.controlplane.store.StoreTesting.eventually;

import dev.sluice.controlplane.store.ConfigStore;
import dev.sluice.controlplane.store.ConfigStoreContractTest;
import dev.sluice.testing.etcd.EtcdExtension;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The store contract, kept by the etcd store against a real etcd. One etcd serves the class; each
 * test gets an empty store of its own under a fresh key prefix.
 */
class EtcdConfigStoreContractTest extends ConfigStoreContractTest {
  @RegisterExtension static final EtcdExtension etcd = EtcdExtension.create();

  /** A store under a fresh prefix that has reached etcd once, so no test pays a cold start. */
  @Override
  protected ConfigStore newStore() throws InterruptedException {
    ConfigStore store =
        EtcdConfigStore.connect(
            EtcdStoreOptions.builder(List.of(etcd.clientEndpoint()))
                .keyPrefix("/sluice-test/" + UUID.randomUUID() + "/")
                .build());
    eventually("the new store reaches etcd", store::isWritable);
    return store;
  }
}
