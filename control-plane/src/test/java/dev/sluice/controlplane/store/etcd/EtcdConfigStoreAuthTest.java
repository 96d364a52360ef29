package dev.sluice.controlplane.store.etcd;

import static dev.sluice.controlplane.Fixtures.await;
import static dev.sluice.controlplane.store.StoreTesting.backend;
import static dev.sluice.controlplane.store.StoreTesting.change;
import static dev.sluice.controlplane.store.StoreTesting.eventually;
import static dev.sluice.controlplane.store.StoreTesting.failure;
import static dev.sluice.controlplane.store.StoreTesting.next;
import static dev.sluice.controlplane.store.StoreTesting.version;
import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.controlplane.store.ConfigStore;
import dev.sluice.controlplane.store.StoredConfig;
import dev.sluice.grpc.ApiException;
import dev.sluice.testing.etcd.EtcdExtension;
import io.etcd.jetcd.Auth;
import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import io.etcd.jetcd.auth.Permission;
import io.grpc.Status;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The etcd store on an etcd with authentication on: a user whose role may read and write only the
 * store's prefix. The etcd of this class is its own, because enabling authentication is for good.
 */
@Timeout(60)
class EtcdConfigStoreAuthTest {
  @RegisterExtension static final EtcdExtension etcd = EtcdExtension.create();

  private static final String PREFIX = "/sluice/v1/";

  @BeforeAll
  static void enableAuthentication() throws Exception {
    try (Client root = Client.builder().endpoints(etcd.clientEndpoint()).build()) {
      Auth auth = root.getAuthClient();
      auth.userAdd(bytes("root"), bytes("root-secret")).get(10, TimeUnit.SECONDS);
      auth.roleAdd(bytes("root")).get(10, TimeUnit.SECONDS);
      auth.userGrantRole(bytes("root"), bytes("root")).get(10, TimeUnit.SECONDS);
      auth.roleAdd(bytes("sluice")).get(10, TimeUnit.SECONDS);
      auth.roleGrantPermission(
              bytes("sluice"),
              bytes(PREFIX),
              io.etcd.jetcd.options.OptionsUtil.prefixEndOf(bytes(PREFIX)),
              Permission.Type.READWRITE)
          .get(10, TimeUnit.SECONDS);
      auth.userAdd(bytes("control-plane"), bytes("cp-secret")).get(10, TimeUnit.SECONDS);
      auth.userGrantRole(bytes("control-plane"), bytes("sluice")).get(10, TimeUnit.SECONDS);
      auth.authEnable().get(10, TimeUnit.SECONDS);
    }
  }

  @Test
  void aStoreWithCredentialsReadsWritesAndWatches() throws Exception {
    try (ConfigStore store =
        EtcdConfigStore.connect(
            EtcdStoreOptions.builder(List.of(etcd.clientEndpoint()))
                .credentials("control-plane", "cp-secret")
                .build())) {
      eventually("the store reaches etcd", store::isWritable);
      BlockingQueue<StoredConfig> deliveries = new LinkedBlockingQueue<>();
      ConfigStore.Subscription subscription = store.watch(deliveries::add);
      try {
        long v1 =
            version(store.commit(change(0).upsert(backend("a", "one")).requestId("r-1").build()));

        assertThat(next(deliveries, config -> config.version() == v1).resources()).hasSize(1);
        assertThat(await(store.findByRequestId("r-1"))).isPresent();
        assertThat(await(store.history(0, 10))).hasSize(1);
      } finally {
        subscription.close();
      }
    }
  }

  @Test
  void aStoreWithoutCredentialsIsDeniedRatherThanTimedOut() {
    try (ConfigStore store =
        EtcdConfigStore.connect(EtcdStoreOptions.builder(List.of(etcd.clientEndpoint())).build())) {
      ApiException error = failure(store.read());

      assertThat(error.code()).isEqualTo(Status.Code.INTERNAL);
      assertThat(error.reason()).isEqualTo("STORE_ACCESS_DENIED");
    }
  }

  @Test
  void aStoreWithAWrongPasswordIsDenied() {
    try (ConfigStore store =
        EtcdConfigStore.connect(
            EtcdStoreOptions.builder(List.of(etcd.clientEndpoint()))
                .credentials("control-plane", "wrong")
                .build())) {
      ApiException error = failure(store.read());

      assertThat(error.reason()).isEqualTo("STORE_ACCESS_DENIED");
    }
  }

  private static ByteSequence bytes(String text) {
    return ByteSequence.from(text, UTF_8);
  }
}
