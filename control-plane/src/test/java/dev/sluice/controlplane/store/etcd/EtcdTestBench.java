package dev.sluice.controlplane.store.etcd;

import static dev.sluice.controlplane.store.StoreTesting.eventually;

import dev.sluice.testing.etcd.EtcdExtension;
import io.etcd.jetcd.Client;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.function.Consumer;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.jspecify.annotations.Nullable;

/**
 * What each etcd store test needs around the shared etcd process: a key prefix of its own, a raw
 * jetcd client to look at the keys, stores that have reached etcd with timeouts short enough for
 * fault tests, and everything it opened closed after it, newest first. Register per instance:
 * {@code @RegisterExtension final EtcdTestBench bench = new EtcdTestBench(etcd);}
 */
final class EtcdTestBench implements AfterEachCallback {
  private final EtcdExtension etcd;
  private final String prefix = "/sluice-test/" + UUID.randomUUID() + "/";
  private final List<AutoCloseable> toClose = new ArrayList<>();
  private @Nullable Client admin;

  EtcdTestBench(EtcdExtension etcd) {
    this.etcd = etcd;
  }

  /** This test's key prefix, unique per test. */
  String prefix() {
    return prefix;
  }

  /** A raw client on the etcd process, closed after the test. */
  Client admin() {
    if (admin == null) {
      admin = Client.builder().endpoints(etcd.clientEndpoint()).build();
    }
    return admin;
  }

  /** Store options on {@code endpoint} under this test's prefix, with short timeouts. */
  EtcdStoreOptions.Builder options(URI endpoint) {
    return EtcdStoreOptions.builder(List.of(endpoint))
        .keyPrefix(prefix)
        .callTimeout(Duration.ofSeconds(1))
        .healthCheckInterval(Duration.ofMillis(100))
        .watchRetryBackoff(Duration.ofMillis(100), Duration.ofSeconds(1));
  }

  /** A store on {@code endpoint} that has reached etcd once, closed after the test. */
  EtcdStore open(URI endpoint, Consumer<EtcdStoreOptions.Builder> customize)
      throws InterruptedException {
    EtcdStoreOptions.Builder options = options(endpoint);
    customize.accept(options);
    return open(options);
  }

  /** A store with {@code options} that has reached etcd once, closed after the test. */
  EtcdStore open(EtcdStoreOptions.Builder options) throws InterruptedException {
    EtcdStore store = track(EtcdConfigStore.open(options.build()));
    eventually("the new store reaches etcd", store::isWritable);
    return store;
  }

  /** Closes {@code closeable} after the test, before what was tracked earlier. */
  <T extends AutoCloseable> T track(T closeable) {
    toClose.add(closeable);
    return closeable;
  }

  @Override
  public void afterEach(ExtensionContext context) throws Exception {
    for (int i = toClose.size() - 1; i >= 0; i--) {
      toClose.get(i).close();
    }
    toClose.clear();
    if (admin != null) {
      admin.close();
      admin = null;
    }
  }
}
