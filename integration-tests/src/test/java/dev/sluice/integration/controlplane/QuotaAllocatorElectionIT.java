package dev.sluice.integration.controlplane;

import static dev.sluice.integration.controlplane.Cluster.eventually;
import static dev.sluice.integration.controlplane.Configs.MOCK;
import static dev.sluice.integration.controlplane.Configs.chatModel;
import static dev.sluice.integration.controlplane.Configs.mockBackend;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.util.Durations;
import dev.sluice.config.v1.RateLimit;
import dev.sluice.config.v1.RateLimitDimension;
import dev.sluice.config.v1.RateLimitMetric;
import dev.sluice.config.v1.RateLimitPolicy;
import dev.sluice.config.v1.Resource;
import dev.sluice.config.v1.Route;
import dev.sluice.config.v1.RouteMatch;
import dev.sluice.controlplane.quota.QuotaAllocator;
import dev.sluice.discovery.v1.DiscoveryServiceGrpc;
import dev.sluice.discovery.v1.LeaseQuotaRequest;
import dev.sluice.discovery.v1.LeaseQuotaResponse;
import dev.sluice.discovery.v1.Node;
import dev.sluice.discovery.v1.QuotaBucket;
import dev.sluice.discovery.v1.QuotaDemand;
import dev.sluice.integration.controlplane.Cluster.Replica;
import dev.sluice.testing.etcd.EtcdExtension;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Global rate limits with two control-plane replicas on one etcd, and a data plane on each: one
 * replica is elected to allocate and the other forwards to it, so the fleet admits no more than
 * the limit even though its data planes ask different replicas; when the allocator goes, the
 * other replica takes over, learns for a lease duration, and grants again.
 *
 * <p>Each limit is 40 requests a minute per model, and each data plane is offered far more, paced
 * over several refresh rounds: were each replica to allocate on its own, each would lease its lone
 * node the whole limit and the fleet would admit up to 80.
 */
@Timeout(120)
class QuotaAllocatorElectionIT {
  @RegisterExtension static final EtcdExtension etcd = EtcdExtension.create();

  private static final long LIMIT = 40;
  private static final Duration LEASE = Duration.ofSeconds(2);
  private static final Duration REFRESH = Duration.ofMillis(250);
  /** Long enough for several refresh rounds, so that leases, not static shares, decide. */
  private static final Duration TRAFFIC = Duration.ofSeconds(2);

  private Cluster cluster;
  private ExecutorService clients;
  private final Map<String, ManagedChannel> probeChannels = new HashMap<>();

  @BeforeEach
  void createCluster() throws Exception {
    cluster = Cluster.on(etcd);
    clients = Executors.newFixedThreadPool(2);
  }

  @AfterEach
  void stopEverything() throws Exception {
    clients.shutdownNow();
    for (ManagedChannel channel : probeChannels.values()) {
      channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
    cluster.close();
  }

  @Test
  void oneReplicaAllocatesForTheWholeFleetAndTheOtherTakesOverWhenItGoes() throws Exception {
    Replica a = cluster.replica("cp-a", spec -> spec.controlPlane(b -> b.quotaAllocatorOptions(quota())));
    Replica b = cluster.replica("cp-b", spec -> spec.controlPlane(c -> c.quotaAllocatorOptions(quota())));
    long version =
        a.apply(
            mockBackend(MOCK),
            chatModel("chat-1", MOCK),
            chatModel("chat-2", MOCK),
            fleetLimit(),
            limitedRoute());
    Cluster.Node dp1 = cluster.start(cluster.dataPlane("dp-1", a, b).fleetSizeHint(2));
    Cluster.Node dp2 = cluster.start(cluster.dataPlane("dp-2", b, a).fleetSizeHint(2));
    dp1.awaitVersion(version);
    dp2.awaitVersion(version);
    a.awaitConnected("dp-1");
    b.awaitConnected("dp-2");
    // The first allocator knows no predecessor but learns anyway; traffic starts once it grants.
    LeaseQuotaResponse granting = probeUntilGranting(a, "chat-1");
    Replica leader = granting.getControlPlaneId().equals("cp-a") ? a : b;
    Replica follower = leader == a ? b : a;
    // One request per model and node first, so that both nodes report both buckets from now on and
    // hold leases in them before the traffic: a node's first second on its static share, next to
    // a node leased the whole limit, is a separate, documented term of the error bound.
    for (String model : List.of("chat-1", "chat-2")) {
      dp1.chat(model);
      dp2.chat(model);
    }
    awaitReportingNodes(leader, 3);

    int admittedBefore = offer("chat-1", dp1, dp2);
    LeaseQuotaResponse viaLeader = probe(leader, "chat-1");
    LeaseQuotaResponse viaFollower = probe(follower, "chat-1");

    leader.stop();
    long learningAnswers = 0;
    LeaseQuotaResponse afterTakeover;
    long deadline = System.nanoTime() + Cluster.WAIT.toNanos();
    while (true) {
      LeaseQuotaResponse answer = probeQuietly(follower, "chat-2");
      if (answer != null && answer.getControlPlaneId().equals(follower.id)) {
        if (answer.getLeasesCount() > 0) {
          afterTakeover = answer;
          break;
        }
        learningAnswers++;
      }
      assertThat(System.nanoTime()).as("%s grants within %s", follower.id, Cluster.WAIT).isLessThan(deadline);
      Thread.sleep(20);
    }
    follower.awaitConnected(leader == a ? "dp-1" : "dp-2");
    awaitReportingNodes(follower, 3);
    int admittedAfter = offer("chat-2", dp1, dp2);

    assertThat(viaLeader.getControlPlaneId())
        .as("who computed the leases of a node calling the leader")
        .isEqualTo(leader.id);
    assertThat(viaFollower.getControlPlaneId())
        .as("who computed the leases of a node calling the other replica")
        .isEqualTo(leader.id);
    assertThat(viaFollower.getFleetSize())
        .as("nodes one allocator heard from: both data planes and this probe")
        .isEqualTo(3);
    assertThat(admittedBefore).as("requests the fleet admitted under one limit").isBetween(1, (int) LIMIT);
    assertThat(learningAnswers).as("answers of the new allocator while it learned").isPositive();
    assertThat(afterTakeover.getLeases(0).getLeaseDuration()).isEqualTo(Durations.fromNanos(LEASE.toNanos()));
    assertThat(admittedAfter)
        .as("requests the fleet admitted under the new allocator")
        .isBetween(1, (int) LIMIT);
  }

  // ---------------------------------------------------------------- traffic

  /**
   * Offers {@code model} far more requests than the limit from both data planes at once (each at
   * least 1.5 times the limit, paced over at least {@link #TRAFFIC}), and returns how many the
   * fleet admitted. Every refusal must be the rate limit's.
   */
  private int offer(String model, Cluster.Node... nodes) throws Exception {
    List<Future<int[]>> runs = new ArrayList<>();
    for (Cluster.Node node : nodes) {
      runs.add(
          clients.submit(
              () -> {
                int admitted = 0;
                int refused = 0;
                long end = System.nanoTime() + TRAFFIC.toNanos();
                while (System.nanoTime() < end || admitted + refused < LIMIT * 3 / 2) {
                  try {
                    node.chat(model);
                    admitted++;
                  } catch (StatusRuntimeException e) {
                    assertThat(e.getStatus().getCode())
                        .as("%s", e.getStatus())
                        .isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
                    refused++;
                  }
                  Thread.sleep(20);
                }
                return new int[] {admitted, refused};
              }));
    }
    int admitted = 0;
    int offered = 0;
    for (Future<int[]> run : runs) {
      int[] counts = run.get(Cluster.WAIT.toSeconds(), TimeUnit.SECONDS);
      admitted += counts[0];
      offered += counts[0] + counts[1];
    }
    assertThat(offered).as("requests offered to the fleet").isGreaterThan((int) (2 * LIMIT));
    return admitted;
  }

  // ---------------------------------------------------------------- a probe node

  /**
   * One LeaseQuota call as a node would make it, reporting no demand, so that it changes nobody's
   * share: the answer says which replica allocated and how many nodes it has heard from.
   */
  private LeaseQuotaResponse probe(Replica replica, String model) {
    ManagedChannel channel =
        probeChannels.computeIfAbsent(
            replica.id,
            id -> Grpc.newChannelBuilder(replica.target(), InsecureChannelCredentials.create()).build());
    return DiscoveryServiceGrpc.newBlockingStub(channel)
        .withDeadlineAfter(2, TimeUnit.SECONDS)
        .leaseQuota(
            LeaseQuotaRequest.newBuilder()
                .setNode(Node.newBuilder().setId("it-probe"))
                .addDemands(
                    QuotaDemand.newBuilder()
                        .setBucket(
                            QuotaBucket.newBuilder()
                                .setPolicy("fleet")
                                .setLimitIndex(0)
                                .setKey("model=" + model))
                        .setWants(0)
                        .setHas(0))
                .build());
  }

  /** As {@link #probe}, null when the call fails (while no allocator is known). */
  private LeaseQuotaResponse probeQuietly(Replica replica, String model) {
    try {
      return probe(replica, model);
    } catch (StatusRuntimeException e) {
      return null;
    }
  }

  private LeaseQuotaResponse probeUntilGranting(Replica replica, String model) {
    return eventually(
        "an allocator grants leases", () -> probe(replica, model), r -> r.getLeasesCount() > 0);
  }

  private void awaitReportingNodes(Replica replica, int nodes) {
    eventually(
        replica.id + " hears from " + nodes + " nodes",
        () -> probe(replica, "chat-2"),
        r -> r.getControlPlaneId().equals(replica.id) && r.getFleetSize() == nodes);
  }

  // ---------------------------------------------------------------- config

  private static QuotaAllocator.Options quota() {
    return QuotaAllocator.Options.builder().leaseDuration(LEASE).refreshInterval(REFRESH).build();
  }

  /** 40 requests a minute per model, fleet-wide. */
  private static Resource fleetLimit() {
    return Resource.newBuilder()
        .setRateLimitPolicy(
            RateLimitPolicy.newBuilder()
                .setName("fleet")
                .addDimensions(RateLimitDimension.RATE_LIMIT_DIMENSION_MODEL)
                .addLimits(
                    RateLimit.newBuilder()
                        .setMetric(RateLimitMetric.RATE_LIMIT_METRIC_REQUESTS)
                        .setAmount(LIMIT)
                        .setWindow(Durations.fromSeconds(60))))
        .build();
  }

  private static Resource limitedRoute() {
    return Resource.newBuilder()
        .setRoute(
            Route.newBuilder()
                .setName("limited")
                .setMatch(RouteMatch.newBuilder().addModels("chat-1").addModels("chat-2"))
                .addRateLimitPolicies("fleet"))
        .build();
  }
}
