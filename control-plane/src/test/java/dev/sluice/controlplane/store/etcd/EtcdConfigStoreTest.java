package dev.sluice.controlplane.store.etcd;

import static dev.sluice.controlplane.Fixtures.await;
import static dev.sluice.controlplane.store.StoreTesting.backend;
import static dev.sluice.controlplane.store.StoreTesting.change;
import static dev.sluice.controlplane.store.StoreTesting.committed;
import static dev.sluice.controlplane.store.StoreTesting.eventually;
import static dev.sluice.controlplane.store.StoreTesting.failure;
import static dev.sluice.controlplane.store.StoreTesting.next;
import static dev.sluice.controlplane.store.StoreTesting.version;
import static dev.sluice.controlplane.store.StoreTesting.versions;
import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.admin.v1.ChangeRecord;
import dev.sluice.config.v1.Resource;
import dev.sluice.config.v1.ResourceKind;
import dev.sluice.controlplane.store.CommitOutcome;
import dev.sluice.controlplane.store.ConfigStore;
import dev.sluice.controlplane.store.ResourceKey;
import dev.sluice.controlplane.store.Resources;
import dev.sluice.controlplane.store.StoredConfig;
import dev.sluice.grpc.ApiException;
import dev.sluice.testing.etcd.EtcdExtension;
import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.KeyValue;
import io.etcd.jetcd.options.GetOption;
import io.etcd.jetcd.options.LeaseOption;
import io.grpc.Status;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/** What the etcd store does beyond the contract: its key layout, leases, epochs and limits. */
@Timeout(60)
class EtcdConfigStoreTest {
  @RegisterExtension static final EtcdExtension etcd = EtcdExtension.create();
  @RegisterExtension final EtcdTestBench bench = new EtcdTestBench(etcd);

  private static final ResourceKey A = new ResourceKey(ResourceKind.RESOURCE_KIND_BACKEND, "a");
  private static final ResourceKey Z = new ResourceKey(ResourceKind.RESOURCE_KIND_BACKEND, "z");

  @Test
  void aCommitWritesTheDocumentedKeysInOneRevision() throws Exception {
    ConfigStore store = open(options());

    ChangeRecord record =
        committed(store.commit(change(0).upsert(backend("a", "one")).requestId("r-1").build()));

    Map<String, KeyValue> keys = rawKeys();
    long version = record.getConfigVersion();
    String history = String.format("history/%019d", Long.MAX_VALUE);
    assertThat(keys)
        .containsOnlyKeys("config/backend/a", "meta/head", "meta/epoch", history, "requests/r-1");
    assertThat(keys.values()).allSatisfy(kv -> assertThat(kv.getModRevision()).isEqualTo(version));
    assertThat(Resource.parseFrom(keys.get("config/backend/a").getValue().getBytes()))
        .as("the version is not stored: it is the key's revision")
        .isEqualTo(Resources.withVersion(backend("a", "one"), 0));
    ChangeRecord stored = ChangeRecord.parseFrom(keys.get("meta/head").getValue().getBytes());
    assertThat(stored).isEqualTo(record.toBuilder().clearConfigVersion().build());
    assertThat(ChangeRecord.parseFrom(keys.get(history).getValue().getBytes())).isEqualTo(stored);
    assertThat(Long.parseUnsignedLong(keys.get("meta/epoch").getValue().toString(UTF_8)))
        .isNotZero();
  }

  @Test
  void requestIdsLiveOnALeaseThatOutlivesTheRetention() throws Exception {
    Duration retention = Duration.ofHours(2);
    ConfigStore store = open(options().requestIdRetention(retention));

    committed(store.commit(change(0).upsert(backend("a", "one")).requestId("r-1").build()));

    long lease = rawKeys().get("requests/r-1").getLease();
    long ttl =
        bench.admin()
            .getLeaseClient()
            .timeToLive(lease, LeaseOption.DEFAULT)
            .get(10, TimeUnit.SECONDS)
            .getTTL();
    assertThat(lease).isNotZero();
    assertThat(Duration.ofSeconds(ttl)).isGreaterThanOrEqualTo(retention);
  }

  @Test
  void theFirstCommitStartsAnEpochThatLaterCommitsKeep() throws Exception {
    ConfigStore store = open(options());
    BlockingQueue<StoredConfig> deliveries = watch(store);
    StoredConfig empty = next(deliveries, config -> true);

    long v1 = version(store.commit(change(0).upsert(backend("a", "one")).build()));
    StoredConfig first = next(deliveries, config -> config.version() == v1);
    long v2 = version(store.commit(change(v1).upsert(backend("a", "two")).build()));
    StoredConfig second = next(deliveries, config -> config.version() == v2);

    assertThat(empty.epoch()).isZero();
    assertThat(first.epoch()).isNotZero();
    assertThat(second.epoch()).isEqualTo(first.epoch());
    assertThat(await(store.read()).epoch()).isEqualTo(first.epoch());
  }

  @Test
  void historySurvivesCompactionWhileOlderConfigsBecomeUnreadable() throws Exception {
    ConfigStore store = open(options());
    long v1 = version(store.commit(change(0).upsert(backend("a", "1")).build()));
    long v2 = version(store.commit(change(v1).upsert(backend("a", "2")).build()));
    long v3 = version(store.commit(change(v2).upsert(backend("a", "3")).build()));

    bench.admin().getKVClient().compact(v3).get(10, TimeUnit.SECONDS);

    assertThat(versions(await(store.history(0, 10)))).containsExactly(v3, v2, v1);
    ApiException compacted = failure(store.readAt(v1));
    assertThat(compacted.code()).isEqualTo(Status.Code.FAILED_PRECONDITION);
    assertThat(compacted.reason()).isEqualTo(StoreErrors.VERSION_COMPACTED);
    assertThat(await(store.readAt(v3))).isEqualTo(await(store.read()));
  }

  @Test
  void historyIsTrimmedToItsLimitKeepingTheNewestRecords() throws Exception {
    ConfigStore store = open(options().historyLimit(3).antiEntropyInterval(Duration.ofMillis(100)));
    List<Long> committed = new ArrayList<>();
    long head = 0;
    for (int i = 0; i < 6; i++) {
      head = version(store.commit(change(head).upsert(backend("a", "v" + i)).build()));
      committed.add(0, head);
    }

    eventually("history is trimmed to 3 records", () -> await(store.history(0, 100)).size() == 3);

    assertThat(versions(await(store.history(0, 100)))).isEqualTo(committed.subList(0, 3));
  }

  @Test
  void aRevisionThatChangedNoConfigIsNotAConfigVersion() throws Exception {
    ConfigStore store = open(options());
    long v1 = version(store.commit(change(0).upsert(backend("a", "1")).build()));
    long unrelated =
        bench.admin()
            .getKVClient()
            .put(bytes("/elsewhere/" + UUID.randomUUID()), bytes("x"))
            .get(10, TimeUnit.SECONDS)
            .getHeader()
            .getRevision();

    ApiException error = failure(store.readAt(unrelated));

    assertThat(unrelated).isGreaterThan(v1);
    assertThat(error.code()).isEqualTo(Status.Code.NOT_FOUND);
    assertThat(error.reason()).isEqualTo(StoreErrors.VERSION_NOT_FOUND);
  }

  @Test
  void configWrittenBehindTheStoresBackIsSeenAndDoesNotBlockCommits() throws Exception {
    ConfigStore store = open(options());
    long v1 = version(store.commit(change(0).upsert(backend("a", "1")).build()));
    BlockingQueue<StoredConfig> deliveries = watch(store);
    next(deliveries, config -> config.version() == v1);

    long outOfBand =
        bench.admin()
            .getKVClient()
            .put(
                bytes(bench.prefix() + "config/backend/z"),
                ByteSequence.from(backend("z", "etcdctl").toByteString()))
            .get(10, TimeUnit.SECONDS)
            .getHeader()
            .getRevision();
    StoredConfig seen = next(deliveries, config -> config.version() == outOfBand);
    StoredConfig read = await(store.read());
    CommitOutcome commit =
        await(store.commit(change(seen.version()).upsert(backend("a", "2")).build()));

    assertThat(seen.resources().get(Z))
        .isEqualTo(Resources.withVersion(backend("z", "etcdctl"), outOfBand));
    assertThat(read).isEqualTo(seen);
    assertThat(commit).isInstanceOf(CommitOutcome.Committed.class);
    assertThat(await(store.read()).resources()).containsOnlyKeys(A, Z);
  }

  @Test
  void commitsEtcdWouldRejectAreRefusedBeforeBeingSent() throws Exception {
    ConfigStore store = open(options().maxTxnOps(6));

    ApiException tooMany =
        failure(
            store.commit(
                change(0)
                    .upsert(backend("a", "1"))
                    .upsert(backend("b", "1"))
                    .upsert(backend("c", "1"))
                    .build()));
    ApiException twice =
        failure(store.commit(change(0).upsert(backend("a", "1")).delete(A).build()));
    ApiException empty = failure(store.commit(change(0).build()));

    assertThat(tooMany.code()).isEqualTo(Status.Code.FAILED_PRECONDITION);
    assertThat(tooMany.reason()).isEqualTo("CHANGE_SET_TOO_LARGE");
    assertThat(twice.reason()).isEqualTo("DUPLICATE_RESOURCE");
    assertThat(empty.reason()).isEqualTo("EMPTY_CHANGE");
    assertThat(List.of(twice, empty))
        .extracting(ApiException::code)
        .containsOnly(Status.Code.INVALID_ARGUMENT);
    assertThat(rawKeys()).isEmpty();
  }

  @Test
  void aChangeLargerThanEtcdAcceptsIsInvalidAndLeavesTheStoreWritable() throws Exception {
    ConfigStore store = open(options());
    Resource huge = backend("a", "x".repeat(1_700_000));

    ApiException error = failure(store.commit(change(0).upsert(huge).build()));

    assertThat(error.code()).isEqualTo(Status.Code.INVALID_ARGUMENT);
    assertThat(error.reason()).isEqualTo("CHANGE_TOO_LARGE");
    assertThat(store.isWritable()).isTrue();
    assertThat(rawKeys()).isEmpty();
  }

  @Test
  void twoStoresOnOneEtcdConvergeOnTheSameConfig() throws Exception {
    ConfigStore one = open(options());
    ConfigStore two = open(options());
    BlockingQueue<StoredConfig> seenByOne = watch(one);
    BlockingQueue<StoredConfig> seenByTwo = watch(two);

    long head = 0;
    for (int i = 0; i < 10; i++) {
      ConfigStore writer = i % 2 == 0 ? one : two;
      head = version(writer.commit(change(head).upsert(backend("r" + i, "from " + i)).build()));
    }

    long last = head;
    StoredConfig atOne = next(seenByOne, config -> config.version() == last);
    StoredConfig atTwo = next(seenByTwo, config -> config.version() == last);
    assertThat(atOne).isEqualTo(atTwo);
    assertThat(atOne.resources()).hasSize(10);
  }

  // ---------------------------------------------------------------- helpers

  private EtcdStoreOptions.Builder options() {
    return EtcdStoreOptions.builder(List.of(etcd.clientEndpoint())).keyPrefix(bench.prefix());
  }

  private ConfigStore open(EtcdStoreOptions.Builder options) throws InterruptedException {
    ConfigStore store = EtcdConfigStore.connect(options.build());
    bench.track(store);
    eventually("the new store reaches etcd", store::isWritable);
    return store;
  }

  private BlockingQueue<StoredConfig> watch(ConfigStore store) {
    BlockingQueue<StoredConfig> deliveries = new LinkedBlockingQueue<>();
    bench.track(store.watch(deliveries::add));
    return deliveries;
  }

  /** Every key under the test's bench.prefix(), by its path below the bench.prefix(). */
  private Map<String, KeyValue> rawKeys() throws Exception {
    return bench.admin()
        .getKVClient()
        .get(bytes(bench.prefix()), GetOption.builder().isPrefix(true).build())
        .get(10, TimeUnit.SECONDS)
        .getKvs()
        .stream()
        .collect(
            Collectors.toMap(
                kv -> kv.getKey().toString(UTF_8).substring(bench.prefix().length()), Function.identity()));
  }

  private static ByteSequence bytes(String text) {
    return ByteSequence.from(text, UTF_8);
  }
}
