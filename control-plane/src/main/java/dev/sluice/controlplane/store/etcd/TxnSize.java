package dev.sluice.controlplane.store.etcd;

import dev.sluice.controlplane.store.Commit;
import dev.sluice.grpc.ApiException;
import io.grpc.Status;

/**
 * How many operations the transaction of one commit takes, counted the way etcd counts them
 * against its {@code --max-txn-ops} limit (128 unless the etcd operator raised it).
 *
 * <p>etcd takes the largest of the transaction's compares, success ops and failure ops, and
 * checks a transaction nested in an op against what is left of the limit, so a nested one-op
 * transaction costs one more. A commit (see {@link EtcdStore}) compares the head and each expected
 * resource version, reads the same keys back on failure, and on success writes each resource, the
 * head, the history entry, the request id (if any) and, on the store's first commit only, the
 * epoch inside a nested transaction. An apply or rollback therefore costs one operation per
 * resource plus 3 (2 without a request id), plus 2 more on the first commit.
 *
 * <p>Why the store counts at all: etcd refuses an oversized transaction as a whole, with an
 * error that names neither the size nor the remedy. Counting first refuses it before anything is
 * sent, with a status an operator can act on; {@link #tooLarge} is that status.
 *
 * @param resources the resources the commit creates, replaces or deletes
 * @param operations the transaction's size as etcd counts it
 */
record TxnSize(int resources, int operations) {
  /** The ErrorInfo reason of a change set that does not fit into one etcd transaction. */
  static final String CHANGE_SET_TOO_LARGE = "CHANGE_SET_TOO_LARGE";

  /** The size of {@code commit}'s transaction; {@code firstCommit} when the store has no head. */
  static TxnSize of(Commit commit, boolean firstCommit) {
    int resources = commit.upserts().size() + commit.deletes().size();
    int compares = 1 + commit.expectedVersions().size();
    int writes =
        resources
            + 2
            + (commit.record().getRequestId().isEmpty() ? 0 : 1)
            + (firstCommit ? 1 : 0);
    return new TxnSize(resources, Math.max(compares, writes) + (firstCommit ? 1 : 0));
  }

  /**
   * The refusal of a change set of this size: FAILED_PRECONDITION, because the change is valid
   * and what it fails is the deployment's configured transaction limit (for a rollback, also the
   * current config it differs from), which the operator may raise; INVALID_ARGUMENT would say the
   * request is wrong whatever the system's state. Nothing was written either way.
   *
   * @param maxTxnOps the limit the store is configured with ({@code --etcd-max-txn-ops})
   * @param refusedByEtcd whether etcd itself refused the transaction, which means its own {@code
   *     --max-txn-ops} is lower than {@code maxTxnOps}
   */
  ApiException tooLarge(int maxTxnOps, boolean refusedByEtcd) {
    String remedy =
        "; split the change into smaller applies, or raise etcd's --max-txn-ops and every control"
            + " plane's --etcd-max-txn-ops together to the same value";
    String message =
        refusedByEtcd
            ? "etcd refused the change: its "
                + operations
                + " operations ("
                + resources
                + " resources) exceed etcd's --max-txn-ops, which is lower than the "
                + maxTxnOps
                + " this control plane's --etcd-max-txn-ops says; nothing was written"
                + remedy
            : "the change touches "
                + resources
                + " resources, which takes "
                + operations
                + " operations in one etcd transaction, more than the limit of "
                + maxTxnOps
                + " (etcd's --max-txn-ops); nothing was written"
                + remedy;
    return ApiException.builder(Status.Code.FAILED_PRECONDITION, CHANGE_SET_TOO_LARGE)
        .message(message)
        .metadata("resources", Integer.toString(resources))
        .metadata("operations", Integer.toString(operations))
        .metadata("max_txn_ops", Integer.toString(maxTxnOps))
        .build();
  }
}
