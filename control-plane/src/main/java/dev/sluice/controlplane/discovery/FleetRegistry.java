package dev.sluice.controlplane.discovery;

import static java.util.Objects.requireNonNull;

import com.google.common.collect.ImmutableList;
import dev.sluice.controlplane.snapshot.Snapshot;
import dev.sluice.controlplane.snapshot.SnapshotSource;
import io.grpc.Status;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The open discovery streams of this replica and the nodes behind them, plus recently
 * disconnected nodes; the source of {@link FleetView}.
 *
 * <p>A node id belongs to the newest stream that announced it: when a node reconnects before its
 * old stream is noticed dead, the old stream no longer speaks for the node and its end does not
 * mark the node disconnected. A disconnected node is reported for {@link #DISCONNECTED_RETENTION}.
 *
 * <p>Thread-safe: streams report from their own serial executors concurrently.
 */
public final class FleetRegistry implements FleetView {
  private static final Logger logger = Logger.getLogger(FleetRegistry.class.getName());

  /** How long a disconnected node stays in fleet status (fleet.proto: 10 minutes). */
  public static final Duration DISCONNECTED_RETENTION = Duration.ofMinutes(10);

  private record Disconnected(DiscoveryStream.Progress progress, Instant at) {}

  private final SnapshotSource snapshots;
  private final String controlPlaneId;
  private final Clock clock;
  private final Map<DiscoveryStream, Boolean> streams = new ConcurrentHashMap<>();
  private final Map<String, DiscoveryStream> byNodeId = new ConcurrentHashMap<>();
  private final Map<String, Disconnected> disconnected = new ConcurrentHashMap<>();
  private final CopyOnWriteArrayList<Runnable> listeners = new CopyOnWriteArrayList<>();
  private final AtomicLong responsesSent = new AtomicLong();
  private final AtomicLong nacksReceived = new AtomicLong();

  public FleetRegistry(SnapshotSource snapshots, String controlPlaneId, Clock clock) {
    this.snapshots = requireNonNull(snapshots, "snapshots");
    this.controlPlaneId = requireNonNull(controlPlaneId, "controlPlaneId");
    this.clock = requireNonNull(clock, "clock");
  }

  @Override
  public ImmutableList<NodeReport> nodes() {
    Snapshot latest = snapshots.current();
    Instant cutoff = clock.instant().minus(DISCONNECTED_RETENTION);
    List<NodeReport> reports = new ArrayList<>();
    byNodeId.forEach(
        (id, stream) -> {
          DiscoveryStream.Progress p = stream.progress();
          if (p != null) {
            reports.add(DiscoveryStream.report(p, latest, controlPlaneId, true));
          }
        });
    disconnected.forEach(
        (id, d) -> {
          if (d.at().isBefore(cutoff)) {
            disconnected.remove(id, d);
          } else if (!byNodeId.containsKey(id)) {
            reports.add(DiscoveryStream.report(d.progress(), latest, controlPlaneId, false));
          }
        });
    reports.sort(Comparator.comparing(NodeReport::nodeId));
    return ImmutableList.copyOf(reports);
  }

  @Override
  public Registration onChange(Runnable listener) {
    requireNonNull(listener, "listener");
    listeners.add(listener);
    return () -> listeners.remove(listener);
  }

  /** The number of open streams. */
  public int streamCount() {
    return streams.size();
  }

  /** Responses sent on all streams since start. */
  public long responsesSent() {
    return responsesSent.get();
  }

  /** NACKs received on all streams since start. */
  public long nacksReceived() {
    return nacksReceived.get();
  }

  void responseSent() {
    responsesSent.incrementAndGet();
  }

  void nackReceived() {
    nacksReceived.incrementAndGet();
  }

  /** Tells every stream that a newer snapshot exists. */
  void snapshotPublished() {
    streams.keySet().forEach(DiscoveryStream::onSnapshot);
    changed();
  }

  /** Ends every stream, e.g. on shutdown, so nodes reconnect to another replica. */
  void closeAll(Status status) {
    streams.keySet().forEach(s -> s.close(status));
  }

  void streamOpened(DiscoveryStream stream) {
    streams.put(stream, Boolean.TRUE);
  }

  void nodeIdentified(DiscoveryStream stream) {
    DiscoveryStream.Progress p = requireNonNull(stream.progress(), "progress");
    String id = p.node().getId();
    DiscoveryStream previous = byNodeId.put(id, stream);
    disconnected.remove(id);
    if (previous != null && previous != stream) {
      logger.info("Node " + id + " opened a new stream; its previous stream no longer speaks for it");
    }
    changed();
  }

  void streamClosed(DiscoveryStream stream) {
    streams.remove(stream);
    DiscoveryStream.Progress p = stream.progress();
    if (p != null && byNodeId.remove(p.node().getId(), stream)) {
      disconnected.put(p.node().getId(), new Disconnected(p, clock.instant()));
    }
    changed();
  }

  void changed() {
    for (Runnable listener : listeners) {
      try {
        listener.run();
      } catch (RuntimeException e) {
        logger.log(Level.WARNING, "A fleet listener failed", e);
      }
    }
  }
}
