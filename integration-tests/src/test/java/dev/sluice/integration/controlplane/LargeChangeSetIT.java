package dev.sluice.integration.controlplane;

import static dev.sluice.integration.controlplane.Configs.mockBackend;
import static dev.sluice.integration.controlplane.Configs.upserts;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import com.google.rpc.ErrorInfo;
import dev.sluice.admin.v1.ChangeRecord;
import dev.sluice.admin.v1.ChangeType;
import dev.sluice.admin.v1.ListHistoryRequest;
import dev.sluice.admin.v1.ResourceDiff;
import dev.sluice.admin.v1.RollbackRequest;
import dev.sluice.admin.v1.RollbackResponse;
import dev.sluice.config.v1.Resource;
import dev.sluice.controlplane.store.StoredConfig;
import dev.sluice.integration.controlplane.Cluster.Replica;
import dev.sluice.testing.etcd.EtcdExtension;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.UUID;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Change sets larger than etcd's per-transaction operation limit ({@code --max-txn-ops}, 128 by
 * default). With etcd's limit raised, and the control plane told the same, a rollback across a
 * thousand resources commits as one version; at etcd's default, the same kind of rollback is
 * refused with FAILED_PRECONDITION / CHANGE_SET_TOO_LARGE before anything is written, whether the
 * control plane counts it first or etcd refuses it.
 */
@Timeout(180)
class LargeChangeSetIT {
  private static final int RAISED_LIMIT = 1100;

  @RegisterExtension
  static final EtcdExtension raisedEtcd =
      EtcdExtension.create().withFlags("--max-txn-ops=" + RAISED_LIMIT);

  @RegisterExtension static final EtcdExtension defaultEtcd = EtcdExtension.create();

  private Cluster cluster;

  @AfterEach
  void stopEverything() throws Exception {
    cluster.close();
  }

  @Test
  void withEtcdsLimitRaisedARollbackAcrossAThousandResourcesCommitsAsOneVersion() throws Exception {
    cluster = Cluster.on(raisedEtcd);
    Replica cp =
        cluster.replica("cp-large", spec -> spec.storeOptions(o -> o.maxTxnOps(RAISED_LIMIT)));
    long baseline = cp.apply(mockBackend("baseline"));
    long allThousand = applyBackends(cp, 1000);

    RollbackResponse back = rollback(cp, baseline);
    StoredConfig afterBack = cp.store.read().get();
    ChangeRecord record = newestRecord(cp);
    RollbackResponse forward = rollback(cp, allThousand);
    StoredConfig afterForward = cp.store.read().get();

    assertThat(back.getConfigVersion()).isGreaterThan(allThousand);
    assertThat(back.getDiffsList())
        .hasSize(1000)
        .extracting(ResourceDiff::getChangeType)
        .containsOnly(ChangeType.CHANGE_TYPE_DELETED);
    assertThat(afterBack.version()).isEqualTo(back.getConfigVersion());
    assertThat(afterBack.resources()).hasSize(1);
    assertThat(record.getConfigVersion()).isEqualTo(back.getConfigVersion());
    assertThat(record.getRollbackToVersion()).isEqualTo(baseline);
    assertThat(record.getChangesCount()).isEqualTo(1000);
    assertThat(forward.getDiffsList())
        .hasSize(1000)
        .extracting(ResourceDiff::getChangeType)
        .containsOnly(ChangeType.CHANGE_TYPE_ADDED);
    assertThat(afterForward.version()).isEqualTo(forward.getConfigVersion());
    assertThat(afterForward.resources()).hasSize(1001);
  }

  @Test
  void atEtcdsDefaultLimitAnOversizedRollbackIsRefusedAndNothingIsWritten() throws Exception {
    cluster = Cluster.on(defaultEtcd);
    Replica cp = cluster.replica("cp-default");
    long baseline = cp.apply(mockBackend("baseline"));
    long current = applyBackends(cp, 200);

    StatusRuntimeException refused =
        catchThrowableOfType(StatusRuntimeException.class, () -> rollback(cp, baseline));

    ErrorInfo info = Cluster.detail(refused, ErrorInfo.class).orElseThrow();
    assertThat(refused.getStatus().getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
    assertThat(info.getReason()).isEqualTo("CHANGE_SET_TOO_LARGE");
    assertThat(info.getMetadataMap())
        .containsEntry("resources", "200")
        // 200 deletes, the head, the history entry and the request id.
        .containsEntry("operations", "203")
        .containsEntry("max_txn_ops", "128");
    assertThat(refused.getStatus().getDescription())
        .contains("--max-txn-ops")
        .contains("--etcd-max-txn-ops");
    assertUnchanged(cp, current, 201);
  }

  @Test
  void whenTheControlPlaneExpectsMoreThanEtcdAllowsEtcdsRefusalIsReportedTheSameWay()
      throws Exception {
    cluster = Cluster.on(defaultEtcd);
    Replica cp =
        cluster.replica("cp-mismatched", spec -> spec.storeOptions(o -> o.maxTxnOps(RAISED_LIMIT)));
    long baseline = cp.apply(mockBackend("baseline"));
    long current = applyBackends(cp, 200);

    StatusRuntimeException refused =
        catchThrowableOfType(StatusRuntimeException.class, () -> rollback(cp, baseline));

    assertThat(refused.getStatus().getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
    assertThat(Cluster.reason(refused)).isEqualTo("CHANGE_SET_TOO_LARGE");
    assertThat(refused.getStatus().getDescription())
        .contains("etcd refused the change")
        .contains("--etcd-max-txn-ops");
    assertUnchanged(cp, current, 201);
  }

  /** Applies {@code count} new backends, 100 per change set (the admin API's limit). */
  private static long applyBackends(Replica cp, int count) {
    long version = 0;
    for (int from = 0; from < count; from += 100) {
      Resource[] batch =
          IntStream.range(from, Math.min(count, from + 100))
              .mapToObj(i -> mockBackend(String.format("backend-%04d", i)))
              .toArray(Resource[]::new);
      version = cp.apply(upserts(batch).setReason("batch from " + from).build()).getConfigVersion();
    }
    return version;
  }

  private static RollbackResponse rollback(Replica cp, long toVersion) {
    return cp.admin()
        .rollback(
            RollbackRequest.newBuilder()
                .setToVersion(toVersion)
                .setReason("roll back across everything")
                .setRequestId(UUID.randomUUID().toString())
                .build());
  }

  private static ChangeRecord newestRecord(Replica cp) {
    return cp.admin()
        .listHistory(ListHistoryRequest.newBuilder().setPageSize(1).build())
        .getChanges(0);
  }

  private static void assertUnchanged(Replica cp, long version, int resources) throws Exception {
    StoredConfig stored = cp.store.read().get();
    assertThat(stored.version()).as("the config version did not move").isEqualTo(version);
    assertThat(stored.resources()).hasSize(resources);
    assertThat(newestRecord(cp).getConfigVersion()).isEqualTo(version);
  }
}
