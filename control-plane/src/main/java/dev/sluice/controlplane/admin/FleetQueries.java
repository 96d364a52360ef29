package dev.sluice.controlplane.admin;

import dev.sluice.admin.v1.GetFleetStatusRequest;
import dev.sluice.admin.v1.GetFleetStatusResponse;
import dev.sluice.admin.v1.NodeSelector;
import dev.sluice.admin.v1.NodeStateCount;
import dev.sluice.admin.v1.NodeSyncState;
import dev.sluice.admin.v1.WaitForFleetVersionRequest;
import dev.sluice.admin.v1.WaitForFleetVersionResponse;
import dev.sluice.controlplane.discovery.FleetView;
import dev.sluice.controlplane.discovery.NodeReport;
import dev.sluice.controlplane.snapshot.Snapshot;
import dev.sluice.controlplane.snapshot.SnapshotSource;
import dev.sluice.controlplane.store.ConfigStore;
import dev.sluice.discovery.v1.Node;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;

/**
 * GetFleetStatus and WaitForFleetVersion over a {@link FleetView}: in a replica, the whole fleet,
 * this replica's nodes merged with those the other replicas publish (see {@link
 * dev.sluice.controlplane.discovery.MergedFleetView}), so a wait also ends when a node of another
 * replica applies the version or rejects it. States are judged against the newest snapshot this
 * replica distributes, and versions compare only within its epoch.
 */
final class FleetQueries {
  static final Duration DEFAULT_WAIT = Duration.ofSeconds(30);
  static final Duration MAX_WAIT = Duration.ofMinutes(10);
  /** A wait ends this long before the caller's deadline, so the caller still gets an answer. */
  static final Duration DEADLINE_MARGIN = Duration.ofMillis(500);

  private static final int MAX_LAGGING_NODES = 100;

  private final ConfigStore store;
  private final SnapshotSource snapshots;
  private final FleetView fleet;
  private final ScheduledExecutorService scheduler;
  private final Executor executor;

  FleetQueries(
      ConfigStore store,
      SnapshotSource snapshots,
      FleetView fleet,
      ScheduledExecutorService scheduler,
      Executor executor) {
    this.store = store;
    this.snapshots = snapshots;
    this.fleet = fleet;
    this.scheduler = scheduler;
    this.executor = executor;
  }

  CompletableFuture<GetFleetStatusResponse> status(GetFleetStatusRequest request, int pageSize) {
    NodeSelector selector = request.getSelector();
    String filters = selectorKey(selector);
    String after =
        request.getPageToken().isEmpty()
            ? null
            : PageTokens.decode(request.getPageToken(), "f1", filters, 1).get(0);
    Snapshot latest = snapshots.current();
    List<NodeReport> selected =
        fleet.nodes().stream().filter(n -> matches(selector, n.status().getNode())).toList();
    Map<NodeSyncState, Integer> counts = new EnumMap<>(NodeSyncState.class);
    selected.forEach(n -> counts.merge(n.status().getState(), 1, Integer::sum));
    List<NodeReport> page =
        selected.stream()
            .filter(n -> after == null || n.nodeId().compareTo(after) > 0)
            .limit(pageSize + 1L)
            .toList();
    GetFleetStatusResponse.Builder response =
        GetFleetStatusResponse.newBuilder().setConfigVersion(latest == null ? 0 : latest.version());
    page.stream().limit(pageSize).forEach(n -> response.addNodes(n.status()));
    counts.forEach(
        (state, count) ->
            response.addStateCounts(
                NodeStateCount.newBuilder().setState(state).setNodeCount(count)));
    if (page.size() > pageSize) {
      response.setNextPageToken(
          PageTokens.encode("f1", filters, page.get(pageSize - 1).nodeId()));
    }
    return CompletableFuture.completedFuture(response.build());
  }

  CompletableFuture<WaitForFleetVersionResponse> await(
      WaitForFleetVersionRequest request, Duration timeout, @Nullable Duration callTimeLeft) {
    long target = request.getConfigVersion();
    Duration wait = timeout;
    if (callTimeLeft != null) {
      Duration bounded = callTimeLeft.minus(DEADLINE_MARGIN);
      if (bounded.compareTo(wait) < 0) {
        wait = bounded.isNegative() ? Duration.ZERO : bounded;
      }
    }
    Duration finalWait = wait;
    return store
        .read()
        .thenComposeAsync(
            config -> {
              if (target > config.version()) {
                throw AdminErrors.outOfRange(
                    "config_version "
                        + target
                        + " is above the current config version "
                        + config.version());
              }
              return new Wait(request.getSelector(), target, request.getMinNodeCount())
                  .start(finalWait);
            },
            executor);
  }

  /** One pending WaitForFleetVersion: re-evaluated on every fleet change until done. */
  private final class Wait {
    private final NodeSelector selector;
    private final long target;
    private final int minNodes;
    private final CompletableFuture<WaitForFleetVersionResponse> result = new CompletableFuture<>();

    Wait(NodeSelector selector, long target, int minNodes) {
      this.selector = selector;
      this.target = target;
      this.minNodes = minNodes;
    }

    CompletableFuture<WaitForFleetVersionResponse> start(Duration wait) {
      FleetView.Registration registration = fleet.onChange(this::evaluate);
      ScheduledFuture<?> timer =
          scheduler.schedule(
              () -> result.complete(evaluation().response()), wait.toNanos(), TimeUnit.NANOSECONDS);
      result.whenComplete(
          (r, t) -> {
            registration.close();
            timer.cancel(false);
          });
      evaluate();
      return result;
    }

    private void evaluate() {
      if (result.isDone()) {
        return;
      }
      Evaluation e = evaluation();
      if (e.finished()) {
        result.complete(e.response());
      }
    }

    private Evaluation evaluation() {
      Snapshot latest = snapshots.current();
      List<NodeReport> selected =
          fleet.nodes().stream()
              .filter(NodeReport::connected)
              .filter(n -> matches(selector, n.status().getNode()))
              .toList();
      List<NodeReport> lagging = new ArrayList<>();
      boolean rejected = false;
      for (NodeReport n : selected) {
        boolean converged =
            latest != null && n.served() != null && n.served().atLeast(latest.epoch(), target);
        if (!converged) {
          lagging.add(n);
          if (latest != null
              && n.rejected() != null
              && n.rejected().atLeast(latest.epoch(), target)) {
            rejected = true;
          }
        }
      }
      lagging.sort(
          Comparator.comparing(
                  (NodeReport n) -> n.status().getState() != NodeSyncState.NODE_SYNC_STATE_ERROR)
              .thenComparing(NodeReport::nodeId));
      int convergedNodes = selected.size() - lagging.size();
      boolean converged = lagging.isEmpty() && convergedNodes >= minNodes;
      WaitForFleetVersionResponse.Builder response =
          WaitForFleetVersionResponse.newBuilder()
              .setConverged(converged)
              .setSelectedNodeCount(selected.size())
              .setConvergedNodeCount(convergedNodes);
      lagging.stream().limit(MAX_LAGGING_NODES).forEach(n -> response.addLaggingNodes(n.status()));
      return new Evaluation(converged || rejected, response.build());
    }
  }

  private record Evaluation(boolean finished, WaitForFleetVersionResponse response) {}

  static boolean matches(NodeSelector selector, Node node) {
    if (!selector.getCluster().isEmpty() && !selector.getCluster().equals(node.getCluster())) {
      return false;
    }
    if (!selector.getZone().isEmpty() && !selector.getZone().equals(node.getZone())) {
      return false;
    }
    return selector.getLabelsMap().entrySet().stream()
        .allMatch(e -> e.getValue().equals(node.getLabelsMap().get(e.getKey())));
  }

  private static String selectorKey(NodeSelector selector) {
    return selector.getCluster()
        + "|"
        + selector.getZone()
        + "|"
        + new TreeMap<>(selector.getLabelsMap());
  }
}
