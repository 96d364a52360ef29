package dev.sluice.controlplane.store.etcd;

import static dev.sluice.controlplane.Fixtures.await;
import static dev.sluice.controlplane.store.StoreTesting.backend;
import static dev.sluice.controlplane.store.StoreTesting.change;
import static dev.sluice.controlplane.store.StoreTesting.next;
import static dev.sluice.controlplane.store.StoreTesting.version;
import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.controlplane.store.Candidate;
import dev.sluice.controlplane.store.ElectionTesting.Heard;
import dev.sluice.controlplane.store.Leadership;
import dev.sluice.controlplane.store.StoredConfig;
import dev.sluice.testing.etcd.EtcdExtension;
import dev.sluice.testing.net.TcpProxy;
import io.etcd.jetcd.KeyValue;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The quota allocator election on a real etcd, where it can fail: a leader cut off from etcd, an
 * etcd that hangs, a lease etcd drops. (What every store does when all goes well is in the store
 * contract.) Each test has its own key bench.prefix().
 */
@Timeout(120)
class EtcdElectionTest {
  @RegisterExtension static final EtcdExtension etcd = EtcdExtension.create();
  @RegisterExtension final EtcdTestBench bench = new EtcdTestBench(etcd);

  private static final Candidate A = new Candidate("cp-a", "10.0.0.1:50052");
  private static final Candidate B = new Candidate("cp-b", "10.0.0.2:50052");

  @Test
  void aLeaderCutOffFromEtcdStepsDownBeforeTheOtherReplicaIsElected() throws Exception {
    TcpProxy link = bench.track(TcpProxy.to(etcd.clientEndpoint()));
    EtcdStore leaderStore = bench.open(link.endpoint(), o -> o.electionTtl(Duration.ofSeconds(2)));
    EtcdStore otherStore = bench.open(etcd.clientEndpoint(), o -> o.electionTtl(Duration.ofSeconds(2)));
    Heard a = campaign(leaderStore, A);
    long term = a.nextLeading().term();
    Heard b = campaign(otherStore, B);
    b.nextFollowing();

    link.cut();
    a.nextVacant();
    Leadership.Leading taken = b.nextLeading();
    link.heal();
    Leadership.Following rejoined = a.nextFollowing();

    long steppedDownAt = a.firstTime(Leadership.Vacant.class::isInstance);
    long electedAt = b.firstTime(Leadership.Leading.class::isInstance);
    assertThat(steppedDownAt).as("cp-a stepped down before cp-b was elected").isLessThan(electedAt);
    assertThat(taken.term()).isGreaterThan(term);
    assertThat(rejoined).isEqualTo(new Leadership.Following(B, taken.term()));
  }

  @Test
  void aLeaderStepsDownWhileEtcdHangsAndTheElectionResumesOnceEtcdAnswers() throws Exception {
    EtcdStore store = bench.open(etcd.clientEndpoint(), o -> o.electionTtl(Duration.ofSeconds(2)));
    Heard a = campaign(store, A);
    a.nextLeading();

    EtcdSignals.freeze(etcd);
    Leadership whileHung;
    try {
      whileHung = a.next("stepping down while etcd hangs", v -> !v.leadsNow());
    } finally {
      EtcdSignals.thaw(etcd);
    }
    Leadership.Leading again = a.nextLeading();

    assertThat(whileHung).isEqualTo(Leadership.vacant());
    assertThat(again.holds()).isTrue();
  }

  @Test
  void aLeaderWhoseLeaseEtcdDroppedStepsDownAtOnceAndWinsAgainOnlyWithANewTerm()
      throws Exception {
    // A TTL far beyond the test's wait: a new term can only come from noticing the loss.
    EtcdStore store = bench.open(etcd.clientEndpoint(), o -> o.electionTtl(Duration.ofSeconds(60)));
    Heard a = campaign(store, A);
    Leadership.Leading first = a.nextLeading();
    KeyValue key = electionKey();

    bench.admin().getLeaseClient().revoke(key.getLease()).get(10, TimeUnit.SECONDS);
    Leadership.Leading second =
        (Leadership.Leading)
            a.next(
                "leading in a new term",
                v -> v instanceof Leadership.Leading l && l.term() != first.term());

    assertThat(second.term()).isGreaterThan(first.term());
    assertThat(electionKey().getLease()).isNotEqualTo(key.getLease());
  }

  @Test
  void closingTheLeadersStoreHandsOverLongBeforeTheLeaseCouldLapse() throws Exception {
    EtcdStore leaderStore = bench.open(etcd.clientEndpoint(), o -> o.electionTtl(Duration.ofSeconds(60)));
    EtcdStore otherStore = bench.open(etcd.clientEndpoint(), o -> o.electionTtl(Duration.ofSeconds(60)));
    Heard a = campaign(leaderStore, A);
    a.nextLeading();
    Heard b = campaign(otherStore, B);
    b.nextFollowing();

    leaderStore.close();

    assertThat(b.nextLeading().self()).isEqualTo(B);
  }

  @Test
  void theElectionKeyIsNeitherConfigNorFleetStatus() throws Exception {
    EtcdStore store = bench.open(etcd.clientEndpoint(), o -> o.electionTtl(Duration.ofSeconds(2)));
    long v1 = version(store.commit(change(0).upsert(backend("a", "one")).build()));
    BlockingQueue<StoredConfig> configs = new LinkedBlockingQueue<>();
    bench.track(store.watch(configs::add));
    next(configs, config -> config.version() == v1);
    List<Object> statusDeliveries = new ArrayList<>();
    bench.track(store.watchFleetStatus(statusDeliveries::add));

    Heard a = campaign(store, A);
    a.nextLeading();
    campaign(store, B).nextFollowing();
    StoredConfig read = await(store.read());
    long v2 = version(store.commit(change(v1).upsert(backend("b", "one")).build()));
    List<StoredConfig> between = new ArrayList<>();
    next(configs, config -> config.version() == v2, between);

    assertThat(read.version()).isEqualTo(v1);
    assertThat(read.resources()).hasSize(1);
    assertThat(between).as("config deliveries caused by the election").isEmpty();
    assertThat(statusDeliveries).as("fleet-status deliveries: the first, empty one only").hasSize(1);
    assertThat(store.mirror().resyncs("gap")).isZero();
  }

  // ---------------------------------------------------------------- helpers

  private Heard campaign(EtcdStore store, Candidate self) {
    Heard heard = new Heard();
    bench.track(store.campaignForQuotaAllocator(self, heard::accept));
    return heard;
  }

  private KeyValue electionKey() throws Exception {
    List<KeyValue> kvs =
        bench.admin()
            .getKVClient()
            .get(KeyLayout.bytes(bench.prefix() + "meta/quota-allocator"))
            .get(10, TimeUnit.SECONDS)
            .getKvs();
    assertThat(kvs).as("the election key").hasSize(1);
    return kvs.get(0);
  }

}
