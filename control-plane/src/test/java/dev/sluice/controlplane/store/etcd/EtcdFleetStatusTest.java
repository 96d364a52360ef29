package dev.sluice.controlplane.store.etcd;

import static dev.sluice.controlplane.Fixtures.await;
import static dev.sluice.controlplane.store.StoreTesting.backend;
import static dev.sluice.controlplane.store.StoreTesting.change;
import static dev.sluice.controlplane.store.StoreTesting.eventually;
import static dev.sluice.controlplane.store.StoreTesting.next;
import static dev.sluice.controlplane.store.StoreTesting.version;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.util.Timestamps;
import dev.sluice.admin.v1.FleetStatusRecord;
import dev.sluice.admin.v1.NodeStatus;
import dev.sluice.admin.v1.NodeSyncState;
import dev.sluice.controlplane.store.ConfigStore;
import dev.sluice.controlplane.store.StoreTesting;
import dev.sluice.controlplane.store.StoredConfig;
import dev.sluice.discovery.v1.Node;
import dev.sluice.testing.etcd.EtcdExtension;
import dev.sluice.testing.net.TcpProxy;
import io.etcd.jetcd.KeyValue;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Fleet-status records in etcd, between stores as between control-plane replicas: leased so a
 * replica that is gone is gone from the records, written again by a replica that comes back, and
 * never mistaken for config. Each test has its own key bench.prefix() and leaves etcd running.
 */
@Timeout(120)
class EtcdFleetStatusTest {
  @RegisterExtension static final EtcdExtension etcd = EtcdExtension.create();
  @RegisterExtension final EtcdTestBench bench = new EtcdTestBench(etcd);

  @Test
  void anotherStoreSeesALeasedRecordThatClosingItsPublisherRemovesWithoutWaitingForTheTtl()
      throws Exception {
    // A TTL far beyond the test's wait: the record can only go by the publisher revoking it.
    EtcdStore publisher = bench.open(etcd.clientEndpoint(), o -> o.statusTtl(Duration.ofMinutes(5)));
    EtcdStore observer = bench.open(etcd.clientEndpoint(), o -> {});
    BlockingQueue<Map<String, FleetStatusRecord>> seen = watchFleetStatus(observer);
    FleetStatusRecord record = record("dp-1", 7);

    await(publisher.publishFleetStatus("cp-a", record));
    Map<String, FleetStatusRecord> published = nextStatus(seen, r -> r.containsKey("cp-a"));
    KeyValue stored = etcdValue("status/cp/cp-a");
    publisher.close();

    assertThat(published).containsExactlyEntriesOf(Map.of("cp-a", record));
    assertThat(stored.getLease()).as("the record's lease").isNotZero();
    assertThat(nextStatus(seen, r -> !r.containsKey("cp-a"))).isEmpty();
  }

  @Test
  void aPublisherCutOffFromEtcdDisappearsWhenItsLeaseExpiresAndReappearsByItselfOnceBack()
      throws Exception {
    TcpProxy link = bench.track(TcpProxy.to(etcd.clientEndpoint()));
    EtcdStore publisher = bench.open(link.endpoint(), o -> o.statusTtl(Duration.ofSeconds(2)));
    EtcdStore observer = bench.open(etcd.clientEndpoint(), o -> {});
    BlockingQueue<Map<String, FleetStatusRecord>> seen = watchFleetStatus(observer);
    FleetStatusRecord record = record("dp-1", 7);
    await(publisher.publishFleetStatus("cp-a", record));
    nextStatus(seen, r -> r.containsKey("cp-a"));

    link.cut();
    Map<String, FleetStatusRecord> whileCut = nextStatus(seen, r -> !r.containsKey("cp-a"));
    link.heal();
    Map<String, FleetStatusRecord> back = nextStatus(seen, r -> r.containsKey("cp-a"));

    assertThat(whileCut).isEmpty();
    assertThat(back).containsExactlyEntriesOf(Map.of("cp-a", record));
  }

  @Test
  void statusWritesMoveEtcdsRevisionButNeitherTheConfigVersionNorAnySubscriberOfConfig()
      throws Exception {
    EtcdStore writer = bench.open(etcd.clientEndpoint(), o -> {});
    EtcdStore observer = bench.open(etcd.clientEndpoint(), o -> {});
    long v1 = version(writer.commit(change(0).upsert(backend("a", "one")).build()));
    BlockingQueue<StoredConfig> configs = new LinkedBlockingQueue<>();
    bench.track(observer.watch(configs::add));
    next(configs, config -> config.version() == v1);
    BlockingQueue<Map<String, FleetStatusRecord>> seen = watchFleetStatus(observer);

    for (int version = 1; version <= 5; version++) {
      await(writer.publishFleetStatus("cp-a", record("dp-1", version)));
    }
    nextStatus(seen, r -> record("dp-1", 5).equals(r.get("cp-a")));
    long etcdRevision = etcdValue("status/cp/cp-a").getModRevision();
    StoredConfig read = await(observer.read());
    long v2 = version(writer.commit(change(v1).upsert(backend("b", "one")).build()));
    List<StoredConfig> between = new ArrayList<>();
    next(configs, config -> config.version() == v2, between);

    assertThat(etcdRevision).isGreaterThan(v1);
    assertThat(read.version()).isEqualTo(v1);
    assertThat(between).as("config deliveries caused by status writes").isEmpty();
    assertThat(observer.mirror().resyncs("gap")).isZero();
  }

  @Test
  void aLostStatusEventIsRepairedByTheMirrorsConsistencyCheckLikeALostConfigEvent()
      throws Exception {
    EtcdStore observer =
        bench.track(
            EtcdConfigStore.connectLosingEvents(
                bench.options(etcd.clientEndpoint()).antiEntropyInterval(Duration.ofMillis(300)).build(),
                event -> KeyLayout.string(event.getKeyValue().getKey()).contains("/status/cp/")));
    eventually("the observer reaches etcd", observer::isWritable);
    EtcdStore publisher = bench.open(etcd.clientEndpoint(), o -> {});
    BlockingQueue<Map<String, FleetStatusRecord>> seen = watchFleetStatus(observer);
    nextStatus(seen, Map::isEmpty);

    await(publisher.publishFleetStatus("cp-a", record("dp-1", 7)));

    assertThat(nextStatus(seen, r -> r.containsKey("cp-a")))
        .containsExactlyEntriesOf(Map.of("cp-a", record("dp-1", 7)));
    assertThat(observer.mirror().resyncs("divergence")).isPositive();
  }

  // ---------------------------------------------------------------- helpers

  private static FleetStatusRecord record(String nodeId, long version) {
    return FleetStatusRecord.newBuilder()
        .setUpdateTime(Timestamps.fromMillis(1_700_000_000_000L + version))
        .addEntries(
            FleetStatusRecord.Entry.newBuilder()
                .setStatus(
                    NodeStatus.newBuilder()
                        .setNode(Node.newBuilder().setId(nodeId))
                        .setState(NodeSyncState.NODE_SYNC_STATE_SYNCED)
                        .setAppliedVersion(version))
                .setAppliedVersionInfo("1a." + version))
        .build();
  }

  private BlockingQueue<Map<String, FleetStatusRecord>> watchFleetStatus(ConfigStore store) {
    BlockingQueue<Map<String, FleetStatusRecord>> deliveries = new LinkedBlockingQueue<>();
    bench.track(store.watchFleetStatus(deliveries::add));
    return deliveries;
  }

  /** The first delivery matching {@code wanted}, waiting a bounded time. */
  private static Map<String, FleetStatusRecord> nextStatus(
      BlockingQueue<Map<String, FleetStatusRecord>> deliveries,
      Predicate<Map<String, FleetStatusRecord>> wanted)
      throws InterruptedException {
    long deadline = System.nanoTime() + StoreTesting.WAIT.toNanos();
    Map<String, FleetStatusRecord> last = null;
    while (true) {
      long left = deadline - System.nanoTime();
      Map<String, FleetStatusRecord> records =
          deliveries.poll(Math.max(left, 0), TimeUnit.NANOSECONDS);
      if (records == null) {
        throw new AssertionError(
            "no matching fleet status within " + StoreTesting.WAIT + "; last: " + last);
      }
      if (wanted.test(records)) {
        return records;
      }
      last = records;
    }
  }

  private KeyValue etcdValue(String suffix) throws Exception {
    List<KeyValue> kvs =
        bench.admin()
            .getKVClient()
            .get(KeyLayout.bytes(bench.prefix() + suffix))
            .get(10, TimeUnit.SECONDS)
            .getKvs();
    assertThat(kvs).as("etcd key %s", bench.prefix() + suffix).hasSize(1);
    return kvs.get(0);
  }
}
