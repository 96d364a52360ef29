package dev.sluice.controlplane;

import dev.sluice.admin.v1.NodeSyncState;
import dev.sluice.controlplane.discovery.FleetRegistry;
import dev.sluice.controlplane.snapshot.Snapshot;
import dev.sluice.controlplane.snapshot.SnapshotCache;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import java.util.ArrayList;
import java.util.List;

/**
 * The control plane's meters. Names are constant and tags bounded: every meter carries {@code
 * control_plane_id}, fleet gauges add {@code state}.
 *
 * <ul>
 *   <li>{@value #CONFIG_VERSION} (gauge): the config version this replica distributes.
 *   <li>{@value #INVALID_BUILDS} (counter): snapshot builds the validator rejected (the previous
 *       snapshot stayed in service); alert when it moves.
 *   <li>{@value #STREAMS} (gauge): open discovery streams.
 *   <li>{@value #RESPONSES} (counter): discovery responses sent.
 *   <li>{@value #NACKS} (counter): NACKs received from data planes.
 *   <li>{@value #NODES} (gauge, {@code state}): known nodes by sync state ({@code synced},
 *       {@code stale}, {@code error}, {@code not_sent}, {@code disconnected}).
 * </ul>
 */
final class ControlPlaneMetrics implements AutoCloseable {
  static final String CONFIG_VERSION = "sluice.controlplane.config.version";
  static final String INVALID_BUILDS = "sluice.controlplane.snapshot.invalid.builds";
  static final String STREAMS = "sluice.controlplane.discovery.streams";
  static final String RESPONSES = "sluice.controlplane.discovery.responses";
  static final String NACKS = "sluice.controlplane.discovery.nacks";
  static final String NODES = "sluice.controlplane.fleet.nodes";

  private final MeterRegistry registry;
  private final List<Meter> meters = new ArrayList<>();

  private ControlPlaneMetrics(MeterRegistry registry) {
    this.registry = registry;
  }

  static ControlPlaneMetrics bind(
      MeterRegistry registry, String controlPlaneId, SnapshotCache snapshots, FleetRegistry fleet) {
    ControlPlaneMetrics metrics = new ControlPlaneMetrics(registry);
    Tags tags = Tags.of("control_plane_id", controlPlaneId);
    metrics.meters.add(
        Gauge.builder(
                CONFIG_VERSION,
                snapshots,
                s -> {
                  Snapshot current = s.current();
                  return current == null ? Double.NaN : current.version();
                })
            .tags(tags)
            .description("The config version this replica distributes")
            .register(registry));
    metrics.meters.add(
        FunctionCounter.builder(INVALID_BUILDS, snapshots, SnapshotCache::failedBuilds)
            .tags(tags)
            .description("Snapshot builds rejected by validation")
            .register(registry));
    metrics.meters.add(
        Gauge.builder(STREAMS, fleet, FleetRegistry::streamCount)
            .tags(tags)
            .description("Open discovery streams")
            .register(registry));
    metrics.meters.add(
        FunctionCounter.builder(RESPONSES, fleet, FleetRegistry::responsesSent)
            .tags(tags)
            .description("Discovery responses sent")
            .register(registry));
    metrics.meters.add(
        FunctionCounter.builder(NACKS, fleet, FleetRegistry::nacksReceived)
            .tags(tags)
            .description("NACKs received from data planes")
            .register(registry));
    for (NodeSyncState state : NodeSyncState.values()) {
      if (state == NodeSyncState.NODE_SYNC_STATE_UNSPECIFIED
          || state == NodeSyncState.UNRECOGNIZED) {
        continue;
      }
      String name =
          state.name().substring("NODE_SYNC_STATE_".length()).toLowerCase(java.util.Locale.ROOT);
      metrics.meters.add(
          Gauge.builder(
                  NODES,
                  fleet,
                  f -> f.nodes().stream().filter(n -> n.status().getState() == state).count())
              .tags(tags.and("state", name))
              .description("Known data-plane nodes by sync state")
              .register(registry));
    }
    return metrics;
  }

  /** Removes the meters, so a stopped replica reports nothing. */
  @Override
  public void close() {
    meters.forEach(registry::remove);
  }
}
