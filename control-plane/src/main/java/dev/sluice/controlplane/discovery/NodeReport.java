package dev.sluice.controlplane.discovery;

import static java.util.Objects.requireNonNull;

import dev.sluice.admin.v1.NodeStatus;
import dev.sluice.admin.v1.NodeSyncState;
import dev.sluice.controlplane.snapshot.VersionInfo;
import org.jspecify.annotations.Nullable;

/**
 * What this replica knows about one data-plane node: its {@link NodeStatus} as the admin API
 * shows it, plus the epoch-qualified versions needed to compare it with a target version.
 *
 * @param status the status, its state computed against the newest snapshot
 * @param served the version the node serves, or null if none (or unparseable)
 * @param rejected the newest version the node rejected on its current stream, or null
 */
public record NodeReport(
    NodeStatus status, @Nullable VersionInfo served, @Nullable VersionInfo rejected) {
  public NodeReport {
    requireNonNull(status, "status");
  }

  /** The node id. */
  public String nodeId() {
    return status.getNode().getId();
  }

  /** Whether the node's stream is open. */
  public boolean connected() {
    return status.getState() != NodeSyncState.NODE_SYNC_STATE_DISCONNECTED;
  }
}
