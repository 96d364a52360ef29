package dev.sluice.controlplane.discovery;

import static java.util.Objects.requireNonNull;

import com.google.common.collect.ImmutableList;
import com.google.common.collect.ImmutableMap;
import com.google.protobuf.util.Timestamps;
import dev.sluice.admin.v1.FleetStatusRecord;
import dev.sluice.admin.v1.NodeStatus;
import dev.sluice.admin.v1.NodeSyncState;
import dev.sluice.controlplane.snapshot.Snapshot;
import dev.sluice.controlplane.snapshot.SnapshotSource;
import dev.sluice.controlplane.snapshot.VersionInfo;
import dev.sluice.controlplane.store.ConfigStore;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.jspecify.annotations.Nullable;

/**
 * The whole fleet as this replica reports it: its own nodes, first-hand from its {@link
 * FleetRegistry}, merged with the {@link FleetStatusRecord}s the other replicas publish through the
 * config store (see {@link FleetStatusPublisher}). This is what makes GetFleetStatus and
 * WaitForFleetVersion answer for every replica's nodes, as admin_service.proto promises.
 *
 * <p><b>Merging.</b>
 *
 * <ul>
 *   <li>This replica's own record in the store is ignored: the registry holds the same nodes,
 *       fresher.
 *   <li>A node reported by several replicas (it moved, or a replica has not noticed its old stream
 *       die yet) is listed once. A node connected to this replica is reported as this replica sees
 *       it: it holds the stream, so its view is authoritative and current. Otherwise the report
 *       with the latest {@code last_seen_time} wins, a connected one winning a tie.
 *   <li>Other replicas judged their nodes' states against their own newest snapshot. A node one of
 *       them calls SYNCED on a version older than the one this replica distributes is reported
 *       STALE, so that states agree with the {@code config_version} this replica answers with.
 *       Other states stand as the holding replica judged them: only it knows what it sent.
 * </ul>
 *
 * <p>Other replicas' nodes lag by up to {@link FleetStatusPublisher#MIN_INTERVAL} plus the store's
 * propagation; a replica that died without withdrawing its record is reported until the store drops
 * the record (etcd: within the record's lease TTL), after which its nodes show again once they
 * reconnected elsewhere.
 *
 * <p>Thread-safe; {@link #nodes()} never blocks. Listeners are called on this replica's stream
 * threads (local changes) and on the store's watch thread (other replicas' records).
 */
public final class MergedFleetView implements FleetView, AutoCloseable {
  private static final Logger logger = Logger.getLogger(MergedFleetView.class.getName());

  private final FleetView local;
  private final String controlPlaneId;
  private final SnapshotSource snapshots;
  private final CopyOnWriteArrayList<Runnable> listeners = new CopyOnWriteArrayList<>();
  private final FleetView.Registration localRegistration;
  private final ConfigStore.Subscription remoteSubscription;

  /** The other replicas' nodes, decoded once per store delivery. */
  private volatile ImmutableList<RemoteNode> remote = ImmutableList.of();

  /** One node as another replica reported it. */
  private record RemoteNode(
      NodeStatus status, @Nullable VersionInfo served, @Nullable VersionInfo rejected) {}

  private MergedFleetView(
      FleetView local, ConfigStore store, String controlPlaneId, SnapshotSource snapshots) {
    this.local = local;
    this.controlPlaneId = controlPlaneId;
    this.snapshots = snapshots;
    this.localRegistration = local.onChange(this::changed);
    this.remoteSubscription = store.watchFleetStatus(this::onRecords);
  }

  /**
   * Starts merging {@code local}, the nodes of replica {@code controlPlaneId}, with the other
   * replicas' records in {@code store}.
   */
  public static MergedFleetView start(
      FleetView local, ConfigStore store, String controlPlaneId, SnapshotSource snapshots) {
    return new MergedFleetView(
        requireNonNull(local, "local"),
        requireNonNull(store, "store"),
        requireNonNull(controlPlaneId, "controlPlaneId"),
        requireNonNull(snapshots, "snapshots"));
  }

  @Override
  public ImmutableList<NodeReport> nodes() {
    Snapshot latest = snapshots.current();
    Map<String, NodeReport> byId = new TreeMap<>();
    for (NodeReport report : local.nodes()) {
      byId.put(report.nodeId(), report);
    }
    for (RemoteNode node : remote) {
      NodeReport report = judged(node, latest);
      byId.merge(report.nodeId(), report, this::preferred);
    }
    return ImmutableList.copyOf(byId.values());
  }

  @Override
  public Registration onChange(Runnable listener) {
    requireNonNull(listener, "listener");
    listeners.add(listener);
    return () -> listeners.remove(listener);
  }

  /** Stops following the other replicas' records; idempotent. */
  @Override
  public void close() {
    localRegistration.close();
    remoteSubscription.close();
  }

  private void onRecords(ImmutableMap<String, FleetStatusRecord> records) {
    List<RemoteNode> nodes = new ArrayList<>();
    records.forEach(
        (replica, record) -> {
          if (replica.equals(controlPlaneId)) {
            return; // This replica's own record: the registry knows better.
          }
          for (FleetStatusRecord.Entry entry : record.getEntriesList()) {
            if (!entry.getStatus().hasNode() || entry.getStatus().getNode().getId().isEmpty()) {
              continue;
            }
            nodes.add(
                new RemoteNode(
                    entry.getStatus(),
                    VersionInfo.parse(entry.getAppliedVersionInfo()).orElse(null),
                    VersionInfo.parse(entry.getRejectedVersionInfo()).orElse(null)));
          }
        });
    remote = ImmutableList.copyOf(nodes);
    changed();
  }

  private void changed() {
    for (Runnable listener : listeners) {
      try {
        listener.run();
      } catch (RuntimeException e) {
        logger.log(Level.WARNING, "A fleet listener failed", e);
      }
    }
  }

  /** {@code node}'s report, its SYNCED state checked against this replica's newest snapshot. */
  private static NodeReport judged(RemoteNode node, @Nullable Snapshot latest) {
    NodeStatus status = node.status();
    if (status.getState() == NodeSyncState.NODE_SYNC_STATE_SYNCED
        && latest != null
        && (node.served() == null || !node.served().atLeast(latest.epoch(), latest.version()))) {
      status = status.toBuilder().setState(NodeSyncState.NODE_SYNC_STATE_STALE).build();
    }
    return new NodeReport(status, node.served(), node.rejected());
  }

  /** Which of two reports of one node to list; see the class documentation. */
  private NodeReport preferred(NodeReport current, NodeReport candidate) {
    if (current.connected() && current.status().getControlPlaneId().equals(controlPlaneId)) {
      return current;
    }
    int byLastSeen =
        Timestamps.compare(
            candidate.status().getLastSeenTime(), current.status().getLastSeenTime());
    if (byLastSeen != 0) {
      return byLastSeen > 0 ? candidate : current;
    }
    return candidate.connected() && !current.connected() ? candidate : current;
  }
}
