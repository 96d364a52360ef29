package dev.sluice.integration.controlplane;

import static dev.sluice.integration.controlplane.Cluster.WAIT;
import static dev.sluice.integration.controlplane.Cluster.eventually;
import static dev.sluice.integration.controlplane.Configs.MOCK;
import static dev.sluice.integration.controlplane.Configs.chatModel;
import static dev.sluice.integration.controlplane.Configs.mockBackend;
import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.admin.v1.NodeStatus;
import dev.sluice.admin.v1.NodeSyncState;
import dev.sluice.discovery.v1.ConfigSource;
import dev.sluice.integration.controlplane.Cluster.Node;
import dev.sluice.integration.controlplane.Cluster.Replica;
import dev.sluice.testing.etcd.EtcdExtension;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Data planes outliving their control planes: the replica a data plane streams from goes away
 * (active-active failover to the other one), and a data plane restarts while no control plane is
 * up at all (it boots from its cache file).
 */
@Timeout(60)
class ControlPlaneFailoverIT {
  @RegisterExtension static final EtcdExtension etcd = EtcdExtension.create();

  private Cluster cluster;

  @BeforeEach
  void createCluster() throws Exception {
    cluster = Cluster.on(etcd);
  }

  @AfterEach
  void stopEverything() throws Exception {
    cluster.close();
  }

  @Test
  void whenItsReplicaGoesAwayADataPlaneKeepsServingMovesToTheOtherAndAppliesLaterChanges()
      throws Exception {
    Replica a = cluster.replica("cp-a");
    Replica b = cluster.replica("cp-b");
    long before = a.apply(mockBackend(MOCK), chatModel("chat", MOCK));
    Node node = cluster.start(cluster.dataPlane("dp-1", a, b));
    node.awaitVersion(before);
    a.awaitConnected("dp-1");
    Traffic traffic = cluster.closeLater(Traffic.to(node, "chat"));
    eventually("inference calls flow", () -> traffic.succeeded() > 0);
    int beforeFailover = traffic.succeeded();

    a.stop();
    NodeStatus moved =
        eventually(
            "dp-1 streams from cp-b",
            () -> b.fleetNode("dp-1").orElseThrow(),
            n -> n.getState() == NodeSyncState.NODE_SYNC_STATE_SYNCED);
    long after = b.apply(chatModel("after-failover", MOCK));
    b.assertFleetConverged(after, 1);
    List<StatusRuntimeException> failures = traffic.stop();

    assertThat(moved.getControlPlaneId()).isEqualTo("cp-b");
    assertThat(moved.getAppliedVersion()).isEqualTo(before);
    assertThat(failures).as("inference calls that failed during the failover").isEmpty();
    assertThat(traffic.succeeded())
        .as("inference calls made during the failover")
        .isGreaterThan(beforeFailover);
    assertThat(node.configVersion()).isEqualTo(after);
    assertThat(node.chat("after-failover").getModel()).isEqualTo("after-failover");
    NodeStatus synced = b.fleetNode("dp-1").orElseThrow();
    assertThat(synced.getState()).isEqualTo(NodeSyncState.NODE_SYNC_STATE_SYNCED);
    assertThat(synced.getAppliedVersion()).isEqualTo(after);
    assertThat(synced.getControlPlaneId()).isEqualTo("cp-b");
  }

  @Test
  void aDataPlaneRestartedWhileNoControlPlaneIsUpServesTheConfigOfItsCacheFile() throws Exception {
    Path cacheFile = cluster.scratch().resolve("dp-1-config.bin");
    Replica cp = cluster.replica("cp-a");
    long version = cp.apply(mockBackend(MOCK), chatModel("chat", MOCK));
    Node first = cluster.start(cluster.dataPlane("dp-1", cp).snapshotCacheFile(cacheFile));
    first.awaitVersion(version);
    String served = first.versionInfo();
    eventually("the cache file is written", () -> Files.isRegularFile(cacheFile));
    int cpPort = cp.port();

    first.stop();
    cp.stop();
    Node restarted = cluster.start(cluster.dataPlane("dp-1", cp).snapshotCacheFile(cacheFile));

    assertThat(restarted.dataPlane.awaitConfig(WAIT)).isTrue();
    assertThat(restarted.versionInfo()).isEqualTo(served);
    assertThat(restarted.health()).isEqualTo(ServingStatus.SERVING);
    assertThat(restarted.chat("chat").getModel()).isEqualTo("chat");

    // A control plane comes back at the address the node knows: the node resumes its stream and
    // is SYNCED on the version it booted with, now confirmed by the control plane.
    Replica back = cluster.replica("cp-a", spec -> spec.port(cpPort));
    NodeStatus resumed =
        eventually(
            "dp-1 is SYNCED on the returned control plane",
            () -> back.fleetNode("dp-1").orElseThrow(),
            n ->
                n.getState() == NodeSyncState.NODE_SYNC_STATE_SYNCED
                    && n.getConfigSource() == ConfigSource.CONFIG_SOURCE_CONTROL_PLANE);
    assertThat(resumed.getAppliedVersion()).isEqualTo(version);
    assertThat(restarted.versionInfo()).isEqualTo(served);
  }

  /**
   * Inference calls in a loop on their own thread, about one every 10 ms, from start until {@link
   * #stop()}.
   */
  private static final class Traffic implements AutoCloseable {
    private final AtomicBoolean running = new AtomicBoolean(true);
    private final AtomicInteger succeeded = new AtomicInteger();
    private final List<StatusRuntimeException> failures = new CopyOnWriteArrayList<>();
    private final Thread thread;

    private Traffic(Node node, String model) {
      thread =
          new Thread(
              () -> {
                while (running.get()) {
                  try {
                    node.chat(model);
                    succeeded.incrementAndGet();
                  } catch (StatusRuntimeException e) {
                    failures.add(e);
                  }
                  try {
                    Thread.sleep(10);
                  } catch (InterruptedException e) {
                    return;
                  }
                }
              },
              "cp-it-traffic");
      thread.setDaemon(true);
    }

    static Traffic to(Node node, String model) {
      Traffic traffic = new Traffic(node, model);
      traffic.thread.start();
      return traffic;
    }

    /** Stops the loop; returns the calls that failed. */
    List<StatusRuntimeException> stop() throws InterruptedException {
      running.set(false);
      thread.join(15_000);
      return List.copyOf(failures);
    }

    int succeeded() {
      return succeeded.get();
    }

    @Override
    public void close() {
      try {
        stop();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }
}
