package dev.sluice.controlplane.store.etcd;

import static dev.sluice.controlplane.Fixtures.await;
import static dev.sluice.controlplane.store.StoreTesting.backend;
import static dev.sluice.controlplane.store.StoreTesting.change;
import static dev.sluice.controlplane.store.StoreTesting.eventually;
import static dev.sluice.controlplane.store.StoreTesting.failure;
import static dev.sluice.controlplane.store.StoreTesting.version;
import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.controlplane.store.ConfigStore;
import dev.sluice.controlplane.store.StoreTesting.CommitBuilder;
import dev.sluice.grpc.ApiException;
import dev.sluice.testing.etcd.EtcdExtension;
import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.options.GetOption;
import io.grpc.Status;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The store against etcd's per-transaction operation limit, on an etcd started with {@code
 * --max-txn-ops=16}: the store counts a commit's operations exactly as etcd does, refuses what
 * would not fit before sending it, and reports etcd's own refusal (when configured with a higher
 * limit than etcd's) with the same status. Nothing is written in either case.
 */
@Timeout(60)
class EtcdTransactionLimitTest {
  private static final int ETCD_LIMIT = 16;

  @RegisterExtension
  static final EtcdExtension etcd = EtcdExtension.create().withFlags("--max-txn-ops=" + ETCD_LIMIT);
  @RegisterExtension final EtcdTestBench bench = new EtcdTestBench(etcd);

  @Test
  void changesThatFillTheLimitExactlyCommit() throws Exception {
    String prefix = bench.prefix();
    ConfigStore store = open(prefix, ETCD_LIMIT);

    // The first commit writes the epoch in a nested transaction: 11 + 3 + 2 = 16 operations.
    long first = version(store.commit(resources(0, 11, "first").requestId("r-1").build()));
    // Later ones: 13 + 3 = 16.
    long second = version(store.commit(resources(first, 13, "second").requestId("r-2").build()));

    assertThat(second).isGreaterThan(first);
    assertThat(await(store.read()).resources()).hasSize(11 + 13);
  }

  @Test
  void oneResourceMoreIsRefusedBeforeAnythingIsSent() throws Exception {
    String prefix = bench.prefix();
    ConfigStore store = open(prefix, ETCD_LIMIT);

    ApiException refused = failure(store.commit(resources(0, 12, "x").requestId("r-1").build()));

    assertThat(refused.code()).isEqualTo(Status.Code.FAILED_PRECONDITION);
    assertThat(refused.reason()).isEqualTo("CHANGE_SET_TOO_LARGE");
    assertThat(refused.metadata())
        .containsEntry("resources", "12")
        .containsEntry("operations", "17")
        .containsEntry("max_txn_ops", "16");
    assertThat(refused.getMessage())
        .contains("split the change")
        .contains("--max-txn-ops")
        .contains("--etcd-max-txn-ops");
    assertThat(rawKeyCount(prefix)).as("nothing was written").isZero();
    assertThat(version(store.commit(resources(0, 11, "x").requestId("r-1").build())))
        .as("a change that fits still commits")
        .isPositive();
  }

  @Test
  void whenEtcdAllowsFewerOperationsThanConfiguredItsRefusalGetsTheSameStatus() throws Exception {
    String prefix = bench.prefix();
    ConfigStore store = open(prefix, 64);

    ApiException firstTooLarge =
        failure(store.commit(resources(0, 12, "x").requestId("r-1").build()));
    long keysAfterRefusal = rawKeyCount(prefix);
    long first = version(store.commit(resources(0, 11, "x").requestId("r-1").build()));
    ApiException laterTooLarge =
        failure(store.commit(resources(first, 14, "y").requestId("r-2").build()));
    long later = version(store.commit(resources(first, 13, "y").requestId("r-2").build()));

    for (ApiException refused : List.of(firstTooLarge, laterTooLarge)) {
      assertThat(refused.code()).isEqualTo(Status.Code.FAILED_PRECONDITION);
      assertThat(refused.reason()).isEqualTo("CHANGE_SET_TOO_LARGE");
      assertThat(refused.metadata()).containsEntry("max_txn_ops", "64");
      assertThat(refused.getMessage())
          .contains("etcd refused the change")
          .contains("nothing was written");
    }
    assertThat(keysAfterRefusal).as("nothing was written").isZero();
    assertThat(firstTooLarge.metadata()).containsEntry("operations", "17");
    assertThat(laterTooLarge.metadata()).containsEntry("operations", "17");
    assertThat(later).as("the counts match etcd's own boundary").isGreaterThan(first);
    assertThat(store.isWritable()).isTrue();
  }

  // ---------------------------------------------------------------- helpers

  /** A commit upserting {@code count} backends named {@code <tag>-0...}. */
  private static CommitBuilder resources(long expectedHead, int count, String tag) {
    CommitBuilder commit = change(expectedHead);
    for (int i = 0; i < count; i++) {
      commit.upsert(backend(tag + "-" + i, "limit test"));
    }
    return commit;
  }

  private ConfigStore open(String prefix, int maxTxnOps) throws InterruptedException {
    ConfigStore store =
        EtcdConfigStore.connect(
            EtcdStoreOptions.builder(List.of(etcd.clientEndpoint()))
                .keyPrefix(prefix)
                .maxTxnOps(maxTxnOps)
                .build());
    bench.track(store);
    eventually("the new store reaches etcd", store::isWritable);
    return store;
  }

  private long rawKeyCount(String prefix) throws Exception {
    return bench.admin()
        .getKVClient()
        .get(
            ByteSequence.from(prefix, UTF_8),
            GetOption.builder().isPrefix(true).withCountOnly(true).build())
        .get(10, TimeUnit.SECONDS)
        .getCount();
  }
}
