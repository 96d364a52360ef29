package dev.sluice.controlplane.store.etcd;

import static dev.sluice.controlplane.Fixtures.await;
import static dev.sluice.controlplane.store.StoreTesting.WAIT;
import static dev.sluice.controlplane.store.StoreTesting.backend;
import static dev.sluice.controlplane.store.StoreTesting.change;
import static dev.sluice.controlplane.store.StoreTesting.eventually;
import static dev.sluice.controlplane.store.StoreTesting.next;
import static dev.sluice.controlplane.store.StoreTesting.version;
import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.config.v1.ResourceKind;
import dev.sluice.controlplane.store.Commit;
import dev.sluice.controlplane.store.CommitOutcome;
import dev.sluice.controlplane.store.ConfigStore;
import dev.sluice.controlplane.store.ResourceKey;
import dev.sluice.controlplane.store.StoredConfig;
import dev.sluice.grpc.ApiException;
import dev.sluice.testing.etcd.EtcdExtension;
import dev.sluice.testing.net.TcpProxy;
import io.grpc.Status;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The etcd store under real faults: etcd killed and restarted, etcd hung, the network to etcd cut
 * while history is compacted away, and watch events lost. Each test uses its own key bench.prefix(); each
 * leaves etcd running.
 */
@Timeout(120)
class EtcdConfigStoreFaultTest {
  @RegisterExtension static final EtcdExtension etcd = EtcdExtension.create();
  @RegisterExtension final EtcdTestBench bench = new EtcdTestBench(etcd);

  private static final ResourceKey A = new ResourceKey(ResourceKind.RESOURCE_KIND_BACKEND, "a");
  private static final ResourceKey B = new ResourceKey(ResourceKind.RESOURCE_KIND_BACKEND, "b");
  private static final Duration CALL_TIMEOUT = Duration.ofSeconds(1);

  /** A failing call must end within its deadline; this adds room for a loaded machine. */
  private static final Duration FAIL_WITHIN = CALL_TIMEOUT.plusSeconds(2);

  @Test
  void whileEtcdIsDeadCallsFailFastAndTheStoreRecoversByItselfWhenItIsBack() throws Exception {
    ConfigStore store = open(etcd.clientEndpoint());
    // With a request id, so the request-id lease is granted before etcd dies.
    long v1 =
        version(store.commit(change(0).upsert(backend("a", "one")).requestId("before").build()));
    BlockingQueue<StoredConfig> deliveries = watch(store);
    next(deliveries, config -> config.version() == v1);
    eventually("the store is writable", store::isWritable);

    etcd.kill();
    ApiException readError;
    ApiException commitError;
    try {
      readError = failsWithin(store.read(), FAIL_WITHIN);
      commitError =
          failsWithin(
              store.commit(change(v1).upsert(backend("b", "one")).requestId("in-outage").build()),
              FAIL_WITHIN);
      eventually("the store reports itself not writable", () -> !store.isWritable());
    } finally {
      etcd.start();
    }

    assertThat(readError.code()).isEqualTo(Status.Code.UNAVAILABLE);
    assertThat(readError.reason()).isEqualTo(StoreErrors.STORE_UNAVAILABLE);
    assertThat(commitError.code()).isEqualTo(Status.Code.UNAVAILABLE);
    assertThat(commitError.reason())
        .as("a commit refused before it was sent is known not to be written")
        .isEqualTo(StoreErrors.STORE_UNAVAILABLE);
    eventually("the store is writable again", store::isWritable);
    long v2 = commitWhenPossible(store, change(v1).upsert(backend("b", "after")).build());
    StoredConfig after = next(deliveries, config -> config.version() == v2);
    assertThat(after.resources()).containsOnlyKeys(A, B);
    assertThat(after).isEqualTo(await(store.read()));
    assertThat(await(store.findByRequestId("in-outage"))).isEmpty();
  }

  @Test
  void whileEtcdHangsCallsTimeOutAndACommitsOutcomeIsLeftToItsRequestId() throws Exception {
    ConfigStore store = open(etcd.clientEndpoint());
    // With a request id, so the request-id lease is granted before etcd hangs.
    long v1 =
        version(store.commit(change(0).upsert(backend("a", "one")).requestId("before").build()));
    eventually("the store is writable", store::isWritable);

    EtcdSignals.freeze(etcd);
    ApiException readError;
    ApiException commitError;
    try {
      readError = failsWithin(store.read(), FAIL_WITHIN);
      commitError =
          failsWithin(
              store.commit(change(v1).upsert(backend("b", "one")).requestId("unknown-1").build()),
              FAIL_WITHIN);
    } finally {
      EtcdSignals.thaw(etcd);
    }

    assertThat(readError.reason()).isEqualTo(StoreErrors.STORE_UNAVAILABLE);
    assertThat(commitError.code()).isEqualTo(Status.Code.UNAVAILABLE);
    assertThat(commitError.reason())
        .as("etcd received the commit and may apply it")
        .isEqualTo(StoreErrors.STORE_OUTCOME_UNKNOWN);
    assertThat(commitError.metadata()).containsEntry("request_id", "unknown-1");
    eventually("the store is writable again", store::isWritable);
    Optional<?> record = await(store.findByRequestId("unknown-1"));
    StoredConfig now = await(store.read());
    assertThat(record.isPresent())
        .as("the request id tells whether the commit landed")
        .isEqualTo(now.resources().containsKey(B));
  }

  @Test
  void aWatcherCutOffWhileItsHistoryIsCompactedRelistsAndDeliversTheNewestConfigOnce()
      throws Exception {
    TcpProxy proxy = TcpProxy.to(etcd.clientEndpoint());
    bench.track(proxy);
    EtcdStore watcher = open(proxy.endpoint());
    ConfigStore writer = open(etcd.clientEndpoint());
    long head = version(writer.commit(change(0).upsert(backend("a", "one")).build()));
    long first = head;
    BlockingQueue<StoredConfig> deliveries = watch(watcher);
    next(deliveries, config -> config.version() == first);

    proxy.cut();
    eventually("the watcher notices the cut", () -> !watcher.isWritable());
    for (int i = 0; i < 20; i++) {
      head = version(writer.commit(change(head).upsert(backend("b" + i, "x")).build()));
    }
    long compactedTo =
        bench.admin()
            .getKVClient()
            .get(etcdKey("meta/head"))
            .get(10, TimeUnit.SECONDS)
            .getHeader()
            .getRevision();
    bench.admin().getKVClient().compact(compactedTo).get(10, TimeUnit.SECONDS);
    proxy.heal();

    long newest = head;
    List<StoredConfig> skipped = new ArrayList<>();
    StoredConfig delivered = next(deliveries, config -> config.version() == newest, skipped);

    assertThat(skipped).as("nothing partial or intermediate is delivered").isEmpty();
    assertThat(delivered).isEqualTo(await(writer.read()));
    assertThat(delivered.resources()).hasSize(21);
    assertThat(watcher.mirror().resyncs("compacted")).isEqualTo(1);
  }

  @Test
  void antiEntropyRepairsAMirrorThatLostEventsNoLaterEventReveals() throws Exception {
    EtcdStore store =
        bench.track(
            EtcdConfigStore.connectLosingEvents(
                options(etcd.clientEndpoint()).antiEntropyInterval(Duration.ofMillis(300)).build(),
                event -> KeyLayout.string(event.getKeyValue().getKey()).endsWith("/backend/b")));
    eventually("the new store reaches etcd", store::isWritable);
    long v1 = version(store.commit(change(0).upsert(backend("a", "one")).build()));
    BlockingQueue<StoredConfig> deliveries = watch(store);
    next(deliveries, config -> config.version() == v1);

    long v2 = version(store.commit(change(v1).upsert(backend("b", "one")).build()));

    StoredConfig repaired = next(deliveries, config -> config.version() == v2);
    assertThat(repaired.resources()).containsOnlyKeys(A, B);
    assertThat(repaired).isEqualTo(await(store.read()));
    assertThat(store.mirror().resyncs("divergence")).isPositive();
  }

  @Test
  void aLaterEventOnAKeyWhoseEarlierEventWasLostRevealsTheGap() throws Exception {
    // Lose only the creation of b (version 1 of the key); its update then arrives as version 2.
    EtcdStore store =
        bench.track(
            EtcdConfigStore.connectLosingEvents(
                options(etcd.clientEndpoint()).build(),
                event ->
                    KeyLayout.string(event.getKeyValue().getKey()).endsWith("/backend/b")
                        && event.getKeyValue().getVersion() == 1));
    eventually("the new store reaches etcd", store::isWritable);
    long v1 = version(store.commit(change(0).upsert(backend("a", "one")).build()));
    BlockingQueue<StoredConfig> deliveries = watch(store);
    next(deliveries, config -> config.version() == v1);
    long v2 = version(store.commit(change(v1).upsert(backend("b", "one")).build()));

    long v3 = version(store.commit(change(v2).upsert(backend("b", "two")).build()));

    StoredConfig repaired = next(deliveries, config -> config.version() == v3);
    assertThat(repaired).isEqualTo(await(store.read()));
    assertThat(repaired.resources().get(B).getBackend().getDescription()).isEqualTo("two");
    assertThat(store.mirror().resyncs("gap")).isEqualTo(1);
  }

  // ---------------------------------------------------------------- helpers

  private EtcdStoreOptions.Builder options(URI endpoint) {
    return EtcdStoreOptions.builder(List.of(endpoint))
        .keyPrefix(bench.prefix())
        .callTimeout(CALL_TIMEOUT)
        .healthCheckInterval(Duration.ofMillis(100))
        .watchRetryBackoff(Duration.ofMillis(100), Duration.ofSeconds(1));
  }

  /**
   * A store that has reached etcd once (a cold client's first call can outlast a short deadline).
   */
  private EtcdStore open(URI endpoint) throws InterruptedException {
    EtcdStore store = bench.track(EtcdConfigStore.open(options(endpoint).build()));
    eventually("the new store reaches etcd", store::isWritable);
    return store;
  }

  private BlockingQueue<StoredConfig> watch(ConfigStore store) {
    BlockingQueue<StoredConfig> deliveries = new LinkedBlockingQueue<>();
    bench.track(store.watch(deliveries::add));
    return deliveries;
  }

  private io.etcd.jetcd.ByteSequence etcdKey(String suffix) {
    return KeyLayout.bytes(bench.prefix() + suffix);
  }

  /** The {@link ApiException} {@code future} fails with, which it must do within {@code bound}. */
  private static ApiException failsWithin(CompletableFuture<?> future, Duration bound)
      throws InterruptedException {
    try {
      Object value = future.get(bound.toMillis(), TimeUnit.MILLISECONDS);
      throw new AssertionError("expected a failure, got " + value);
    } catch (TimeoutException e) {
      throw new AssertionError("the call hung: no outcome within " + bound, e);
    } catch (ExecutionException e) {
      assertThat(e.getCause()).isInstanceOf(ApiException.class);
      return (ApiException) e.getCause();
    }
  }

  /** Commits, retrying while the store is still reconnecting; the new version. */
  private static long commitWhenPossible(ConfigStore store, Commit commit)
      throws InterruptedException {
    long deadline = System.nanoTime() + WAIT.toNanos();
    while (true) {
      try {
        CommitOutcome outcome = await(store.commit(commit));
        assertThat(outcome).isInstanceOf(CommitOutcome.Committed.class);
        return ((CommitOutcome.Committed) outcome).record().getConfigVersion();
      } catch (ApiException e) {
        if (!e.reason().equals(StoreErrors.STORE_UNAVAILABLE) || System.nanoTime() > deadline) {
          throw e;
        }
        Thread.sleep(100);
      }
    }
  }
}
