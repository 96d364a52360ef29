package dev.sluice.controlplane.store.etcd;

import static dev.sluice.controlplane.Fixtures.await;
import static dev.sluice.controlplane.store.StoreTesting.backend;
import static dev.sluice.controlplane.store.StoreTesting.change;
import static dev.sluice.controlplane.store.StoreTesting.eventually;
import static dev.sluice.controlplane.store.StoreTesting.next;
import static dev.sluice.controlplane.store.StoreTesting.version;
import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.controlplane.store.Candidate;
import dev.sluice.controlplane.store.ElectionTesting.Heard;
import dev.sluice.controlplane.store.Leadership;
import dev.sluice.controlplane.store.StoredConfig;
import dev.sluice.testing.etcd.EtcdExtension;
import dev.sluice.testing.net.TcpProxy;
import io.etcd.jetcd.Client;
import io.etcd.jetcd.KeyValue;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The quota allocator election on a real etcd, where it can fail: a leader cut off from etcd, an
 * etcd that hangs, a lease etcd drops. (What every store does when all goes well is in the store
 * contract.) Each test has its own key prefix.
 */
@Timeout(120)
class EtcdElectionTest {
  @RegisterExtension static final EtcdExtension etcd = EtcdExtension.create();

  private static final Candidate A = new Candidate("cp-a", "10.0.0.1:50052");
  private static final Candidate B = new Candidate("cp-b", "10.0.0.2:50052");

  private final String prefix = "/sluice-test/" + UUID.randomUUID() + "/";
  private final List<AutoCloseable> toClose = new ArrayList<>();
  private Client admin;

  @BeforeEach
  void connectAdmin() {
    admin = Client.builder().endpoints(etcd.clientEndpoint()).build();
  }

  @AfterEach
  void closeEverything() throws Exception {
    for (int i = toClose.size() - 1; i >= 0; i--) {
      toClose.get(i).close();
    }
    admin.close();
  }

  @Test
  void aLeaderCutOffFromEtcdStepsDownBeforeTheOtherReplicaIsElected() throws Exception {
    TcpProxy link = track(TcpProxy.to(etcd.clientEndpoint()));
    EtcdStore leaderStore = open(link.endpoint(), o -> o.electionTtl(Duration.ofSeconds(2)));
    EtcdStore otherStore = open(etcd.clientEndpoint(), o -> o.electionTtl(Duration.ofSeconds(2)));
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
    EtcdStore store = open(etcd.clientEndpoint(), o -> o.electionTtl(Duration.ofSeconds(2)));
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
    EtcdStore store = open(etcd.clientEndpoint(), o -> o.electionTtl(Duration.ofSeconds(60)));
    Heard a = campaign(store, A);
    Leadership.Leading first = a.nextLeading();
    KeyValue key = electionKey();

    admin.getLeaseClient().revoke(key.getLease()).get(10, TimeUnit.SECONDS);
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
    EtcdStore leaderStore = open(etcd.clientEndpoint(), o -> o.electionTtl(Duration.ofSeconds(60)));
    EtcdStore otherStore = open(etcd.clientEndpoint(), o -> o.electionTtl(Duration.ofSeconds(60)));
    Heard a = campaign(leaderStore, A);
    a.nextLeading();
    Heard b = campaign(otherStore, B);
    b.nextFollowing();

    leaderStore.close();

    assertThat(b.nextLeading().self()).isEqualTo(B);
  }

  @Test
  void theElectionKeyIsNeitherConfigNorFleetStatus() throws Exception {
    EtcdStore store = open(etcd.clientEndpoint(), o -> o.electionTtl(Duration.ofSeconds(2)));
    long v1 = version(store.commit(change(0).upsert(backend("a", "one")).build()));
    BlockingQueue<StoredConfig> configs = new LinkedBlockingQueue<>();
    track(store.watch(configs::add));
    next(configs, config -> config.version() == v1);
    List<Object> statusDeliveries = new ArrayList<>();
    track(store.watchFleetStatus(statusDeliveries::add));

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
    toClose.add(store.campaignForQuotaAllocator(self, heard::accept));
    return heard;
  }

  private KeyValue electionKey() throws Exception {
    List<KeyValue> kvs =
        admin
            .getKVClient()
            .get(KeyLayout.bytes(prefix + "meta/quota-allocator"))
            .get(10, TimeUnit.SECONDS)
            .getKvs();
    assertThat(kvs).as("the election key").hasSize(1);
    return kvs.get(0);
  }

  private EtcdStoreOptions.Builder options(URI endpoint) {
    return EtcdStoreOptions.builder(List.of(endpoint))
        .keyPrefix(prefix)
        .callTimeout(Duration.ofSeconds(1))
        .healthCheckInterval(Duration.ofMillis(100))
        .watchRetryBackoff(Duration.ofMillis(100), Duration.ofSeconds(1));
  }

  /** A store that has reached etcd once. */
  private EtcdStore open(URI endpoint, Consumer<EtcdStoreOptions.Builder> customize)
      throws InterruptedException {
    EtcdStoreOptions.Builder options = options(endpoint);
    customize.accept(options);
    EtcdStore store = track(EtcdConfigStore.open(options.build()));
    eventually("the new store reaches etcd", store::isWritable);
    return store;
  }

  private <T extends AutoCloseable> T track(T closeable) {
    toClose.add(closeable);
    return closeable;
  }
}
