package dev.sluice.controlplane.quota;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import com.google.protobuf.util.Durations;
import dev.sluice.config.v1.ConfigSnapshot;
import dev.sluice.config.v1.RateLimit;
import dev.sluice.config.v1.RateLimitMetric;
import dev.sluice.config.v1.RateLimitPolicy;
import dev.sluice.config.v1.Resource;
import dev.sluice.discovery.v1.LeaseQuotaRequest;
import dev.sluice.discovery.v1.LeaseQuotaResponse;
import dev.sluice.discovery.v1.Node;
import dev.sluice.discovery.v1.QuotaBucket;
import dev.sluice.discovery.v1.QuotaDemand;
import dev.sluice.discovery.v1.QuotaLease;
import dev.sluice.grpc.ApiException;
import io.grpc.Status;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.LongSupplier;
import java.util.stream.Stream;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

class QuotaAllocatorTest {
  private static final Duration LEASE = Duration.ofSeconds(10);
  private static final QuotaBucket GOLD =
      QuotaBucket.newBuilder().setPolicy("gold").setLimitIndex(0).setKey("consumer=acme").build();

  private final Clock clock = new Clock();
  private final WaterFillingQuotaAllocator allocator = allocator(Duration.ZERO);

  private WaterFillingQuotaAllocator allocator(Duration learning) {
    WaterFillingQuotaAllocator allocator =
        (WaterFillingQuotaAllocator)
            QuotaAllocator.create(
                "cp-1",
                clock,
                QuotaAllocator.Options.builder().leaseDuration(LEASE).learningPeriod(learning).build());
    allocator.apply(List.of(policy("gold", 600)));
    return allocator;
  }

  static RateLimitPolicy policy(String name, long amount) {
    return RateLimitPolicy.newBuilder()
        .setName(name)
        .addLimits(
            RateLimit.newBuilder()
                .setMetric(RateLimitMetric.RATE_LIMIT_METRIC_REQUESTS)
                .setAmount(amount)
                .setWindow(Durations.fromSeconds(60)))
        .build();
  }

  static LeaseQuotaRequest report(String node, double wants, double has) {
    return report(node, GOLD, wants, has);
  }

  static LeaseQuotaRequest report(String node, QuotaBucket bucket, double wants, double has) {
    return LeaseQuotaRequest.newBuilder()
        .setNode(Node.newBuilder().setId(node))
        .setVersionInfo("0.1")
        .addDemands(QuotaDemand.newBuilder().setBucket(bucket).setWants(wants).setHas(has))
        .build();
  }

  static LeaseQuotaRequest report(String node, double wants, double has, double used) {
    return LeaseQuotaRequest.newBuilder()
        .setNode(Node.newBuilder().setId(node))
        .setVersionInfo("0.1")
        .addDemands(
            QuotaDemand.newBuilder().setBucket(GOLD).setWants(wants).setHas(has).setUsed(used))
        .build();
  }

  /** A node as the data plane runs it: it holds what it was granted and reports it. */
  private final Map<String, Double> held = new HashMap<>();

  /** A node that does not report its usage (one that predates {@code used}). */
  private double grant(String node, double wants) {
    LeaseQuotaResponse response =
        allocator.lease(report(node, wants, held.getOrDefault(node, 0.0)));
    double granted = response.getLeases(0).getGranted();
    held.put(node, granted);
    return granted;
  }

  /** A node that reports what it used in the window, as data planes do. */
  private double grant(String node, double wants, double used) {
    double has = Math.max(held.getOrDefault(node, 0.0), used);
    double granted = allocator.lease(report(node, wants, has, used)).getLeases(0).getGranted();
    held.put(node, granted);
    return granted;
  }

  /** A report without demands: the node is alive but has no traffic with limits yet. */
  private void heartbeat(String node) {
    allocator.lease(LeaseQuotaRequest.newBuilder().setNode(Node.newBuilder().setId(node)).build());
  }

  @Test
  void answersWithTheLeaseDurationRefreshIntervalAndItsId() {
    LeaseQuotaResponse response = allocator.lease(report("dp-1", 100, 0));

    assertThat(response.getControlPlaneId()).isEqualTo("cp-1");
    assertThat(response.getRefreshInterval()).isEqualTo(Durations.fromSeconds(1));
    QuotaLease lease = response.getLeases(0);
    assertThat(lease.getBucket()).isEqualTo(GOLD);
    assertThat(lease.getLeaseDuration()).isEqualTo(Durations.fromSeconds(10));
  }

  @Test
  void aLoneNodeGetsItsDemandAndHalfOfTheRestTheOtherHalfStaysInThePool() {
    assertThat(grant("dp-1", 100)).isEqualTo(350);
    assertThat(grant("dp-1", 900)).isEqualTo(600);
  }

  @Test
  void sharesConvergeToTheMaxMinFairDivisionOfDemand() {
    for (int round = 0; round < 4; round++) {
      grant("dp-a", 960);
      grant("dp-b", 120);
      grant("dp-c", 120);
    }

    assertThat(held).containsEntry("dp-a", 360.0).containsEntry("dp-b", 120.0).containsEntry("dp-c", 120.0);
    assertThat(allocator.outstanding(GOLD)).isEqualTo(600);
  }

  @Test
  void capacityNobodyWantsIsSplitAsHeadroomLessAPoolForNodesThatTurnUp() {
    for (int round = 0; round < 3; round++) {
      grant("dp-a", 100);
      grant("dp-b", 100);
    }

    assertThat(held.get("dp-a")).isCloseTo(100 + 400 / 3.0, within(1e-9));
    assertThat(held.get("dp-b")).isCloseTo(100 + 400 / 3.0, within(1e-9));
    assertThat(grant("dp-c", 100))
        .as("a node that turns up finds the pool free at once")
        .isCloseTo(600 - 2 * (100 + 400 / 3.0), within(1e-9));
  }

  @Test
  void aShrinkingNodeKeepsItsOldLeaseUntilItReportsSoOthersGrowOnlyIntoFreeCapacity() {
    assertThat(grant("dp-a", 900)).isEqualTo(600);

    assertThat(grant("dp-b", 300)).as("nothing is free yet").isZero();
    assertThat(grant("dp-a", 900)).as("a's fair share").isEqualTo(300);
    assertThat(grant("dp-b", 300))
        .as("a may still hold 600 until it says it applied 300")
        .isZero();
    assertThat(grant("dp-a", 900)).isEqualTo(300);
    assertThat(grant("dp-b", 300)).isEqualTo(300);
  }

  @Test
  void aLostResponseIsCountedUntilTheNodeReportsWhatItReallyHolds() {
    grant("dp-a", 900);
    // dp-a's next answer (300) never arrives: it keeps holding 600.
    allocator.lease(report("dp-b", 300, 0));
    allocator.lease(report("dp-a", 900, 600));

    assertThat(allocator.lease(report("dp-b", 300, 0)).getLeases(0).getGranted()).isZero();
    assertThat(allocator.lease(report("dp-a", 900, 600)).getLeases(0).getGranted()).isEqualTo(300);
  }

  @Test
  void aNodeThatStopsReportingLosesItsShareWhenItsLeaseLapses() {
    for (int round = 0; round < 3; round++) {
      grant("dp-a", 900);
      grant("dp-b", 900);
    }
    assertThat(held.get("dp-a")).isEqualTo(300);

    clock.advance(LEASE.minusMillis(1));
    assertThat(grant("dp-a", 900)).as("dp-b's lease still holds").isEqualTo(300);
    clock.advance(Duration.ofMillis(1));
    assertThat(grant("dp-a", 900)).isEqualTo(600);
  }

  @Test
  void aNodeWithoutDemandReleasesItsShareOnceItReportsHoldingNothing() {
    for (int round = 0; round < 3; round++) {
      grant("dp-a", 900);
      grant("dp-b", 900);
    }

    assertThat(grant("dp-b", 0)).isZero();
    grant("dp-a", 900);
    assertThat(held.get("dp-a")).as("dp-b has not yet said it let go").isEqualTo(300);
    grant("dp-b", 0);
    assertThat(grant("dp-a", 900)).isEqualTo(600);
  }

  @Nested
  class NodesThatReportTheirUsage {
    /** One report from each node a second, usage as given, until {@code seconds} have passed. */
    private void rounds(int seconds, double usedA, double usedB, double usedC) {
      for (int second = 0; second < seconds; second++) {
        grant("dp-a", 960, usedA);
        grant("dp-b", 120, usedB);
        grant("dp-c", 120, usedC);
        clock.advance(Duration.ofSeconds(1));
      }
    }

    @Test
    void areLeasedTheirUsagePlusThreeSecondsOfDemandAndTheRestGoesToTheNodeThatWantsMore() {
      rounds(65, 360, 110, 100);

      // Desires: 110 + 120 * 3/60 = 116 and 106 for the quiet nodes, under the level; the busy
      // node gets the remaining 378, not the 360 that dividing by demand alone would leave it.
      assertThat(grant("dp-b", 120, 110)).isCloseTo(116, within(1e-9));
      assertThat(grant("dp-c", 120, 100)).isCloseTo(106, within(1e-9));
      assertThat(grant("dp-a", 960, 360)).isCloseTo(378, within(1e-9));
      assertThat(allocator.outstanding(GOLD)).isCloseTo(600, within(1e-9));
    }

    @Test
    void duringTheBucketsFirstWindowKeepWhatTheirDemandWillUseUntilTheWindowEnds() {
      for (String node : List.of("dp-a", "dp-b", "dp-c")) {
        heartbeat(node);
      }
      rounds(31, 200, 60, 60);

      // Nothing ages out before the first window ends, so a quiet node holds its usage plus its
      // demand for the rest of the window (60 + 120 * 29/60), not plus three seconds of it.
      assertThat(grant("dp-b", 120, 60)).isCloseTo(60 + 120 * 29 / 60.0, within(1e-9));
    }

    @Test
    void aNewBucketsFirstGrantsAreAtMostAnEqualShareUntilEveryNodeHasReportedForIt() {
      for (String node : List.of("dp-a", "dp-b", "dp-c")) {
        heartbeat(node);
      }

      assertThat(grant("dp-a", 960, 10)).as("the first to report").isEqualTo(200);
      assertThat(grant("dp-b", 120, 2)).isEqualTo(122);
      assertThat(grant("dp-c", 120, 2)).as("every node has reported").isEqualTo(122);
      assertThat(grant("dp-a", 960, 10)).isEqualTo(356);
    }

    @Test
    void aNewBucketsEqualShareCapEndsAfterTwoRefreshIntervalsEvenIfOthersNeverReportForIt() {
      heartbeat("dp-b");
      heartbeat("dp-c");
      assertThat(grant("dp-a", 960, 10)).isEqualTo(200);

      clock.advance(Duration.ofSeconds(2));
      heartbeat("dp-b");
      heartbeat("dp-c");

      assertThat(grant("dp-a", 960, 10)).isEqualTo(600);
    }

    @Test
    void whatANodeSaysItUsedIsHeldEvenAboveWhatItSaysItHas() {
      rounds(65, 360, 110, 100);

      allocator.lease(report("dp-b", 0, 0, 300));

      assertThat(grant("dp-a", 960, 360)).as("600 - 300 used by dp-b - 106 held by dp-c").isEqualTo(194);
    }
  }

  @Test
  void bucketsOfUnknownPoliciesOrLimitsGetNoLease() {
    QuotaBucket unknownPolicy = GOLD.toBuilder().setPolicy("silver").build();
    QuotaBucket unknownLimit = GOLD.toBuilder().setLimitIndex(1).build();

    assertThat(allocator.lease(report("dp-1", unknownPolicy, 10, 0)).getLeasesList()).isEmpty();
    assertThat(allocator.lease(report("dp-1", unknownLimit, 10, 0)).getLeasesList()).isEmpty();
  }

  @Test
  void aLoweredLimitAppliesToTheNextGrants() {
    grant("dp-a", 900);

    allocator.apply(List.of(policy("gold", 100)));

    assertThat(grant("dp-a", 900)).isEqualTo(100);
  }

  @Test
  void readsThePoliciesOfAConfigSnapshot() {
    allocator.apply(
        ConfigSnapshot.newBuilder()
            .addResources(Resource.newBuilder().setRateLimitPolicy(policy("gold", 50)))
            .build());

    assertThat(grant("dp-a", 900)).isEqualTo(50);
  }

  @Test
  void eachBucketIsDividedOnItsOwn() {
    QuotaBucket other = GOLD.toBuilder().setKey("consumer=globex").build();
    LeaseQuotaRequest both =
        LeaseQuotaRequest.newBuilder()
            .setNode(Node.newBuilder().setId("dp-1"))
            .addDemands(QuotaDemand.newBuilder().setBucket(GOLD).setWants(100))
            .addDemands(QuotaDemand.newBuilder().setBucket(other).setWants(100))
            .build();

    LeaseQuotaResponse response = allocator.lease(both);

    assertThat(response.getLeasesList()).extracting(QuotaLease::getGranted).containsExactly(350.0, 350.0);
    assertThat(allocator.activeNodes()).isEqualTo(1);
  }

  @Test
  void everyAnswerCountsTheNodesThatReportedWithinALeaseDuration() {
    LeaseQuotaResponse first = allocator.lease(report("dp-a", 100, 0));
    LeaseQuotaResponse second = allocator.lease(report("dp-b", 100, 0));
    clock.advance(LEASE.minusSeconds(1));
    LeaseQuotaResponse bothStillCount = allocator.lease(report("dp-a", 100, 100));
    clock.advance(Duration.ofSeconds(2));
    LeaseQuotaResponse silentOneGone = allocator.lease(report("dp-a", 100, 100));

    assertThat(first.getFleetSize()).isEqualTo(1);
    assertThat(second.getFleetSize()).isEqualTo(2);
    assertThat(bothStillCount.getFleetSize()).isEqualTo(2);
    assertThat(silentOneGone.getFleetSize())
        .as("dp-b last reported 11 s ago, beyond a lease")
        .isEqualTo(1);
    assertThat(allocator.activeNodes()).isEqualTo(1);
  }

  @Test
  void aLearningAllocatorCountsTheFleetToo() {
    WaterFillingQuotaAllocator fresh = allocator(LEASE);
    fresh.lease(report("dp-a", 100, 0));

    LeaseQuotaResponse response = fresh.lease(report("dp-b", 100, 0));

    assertThat(response.getLeasesList()).isEmpty();
    assertThat(response.getFleetSize()).isEqualTo(2);
  }

  @Nested
  class Learning {
    private final WaterFillingQuotaAllocator fresh = allocator(LEASE);

    @Test
    void aNewAllocatorGrantsNothingForOneLeaseButCountsWhatNodesHold() {
      for (int second = 0; second < 10; second++) {
        assertThat(fresh.lease(report("dp-a", 900, 420)).getLeasesList()).isEmpty();
        assertThat(fresh.lease(report("dp-b", 900, 0)).getLeasesList()).isEmpty();
        clock.advance(Duration.ofSeconds(1));
      }

      assertThat(fresh.lease(report("dp-a", 900, 420)).getLeases(0).getGranted())
          .as("learning is over: the fair share")
          .isEqualTo(300);
      assertThat(fresh.lease(report("dp-b", 900, 0)).getLeases(0).getGranted())
          .as("what dp-a still holds leaves 180 free")
          .isEqualTo(180);
    }
  }

  static Stream<Arguments> malformedRequests() {
    QuotaDemand ok = QuotaDemand.newBuilder().setBucket(GOLD).setWants(1).build();
    LeaseQuotaRequest.Builder base =
        LeaseQuotaRequest.newBuilder().setNode(Node.newBuilder().setId("dp-1"));
    LeaseQuotaRequest.Builder tooMany = base.clone();
    for (int i = 0; i <= 10_000; i++) {
      tooMany.addDemands(ok);
    }
    return Stream.of(
        Arguments.of(LeaseQuotaRequest.newBuilder().addDemands(ok).build(), "node.id"),
        Arguments.of(
            LeaseQuotaRequest.newBuilder().setNode(Node.newBuilder().setId("dp 1")).build(),
            "node.id"),
        Arguments.of(tooMany.build(), "demands: 10001 demands (expected: at most 10000)"),
        Arguments.of(base.clone().addDemands(QuotaDemand.newBuilder().setWants(1)).build(), "demands[0].bucket"),
        Arguments.of(
            base.clone().addDemands(ok.toBuilder().setWants(-1)).build(), "demands[0].wants"),
        Arguments.of(
            base.clone().addDemands(ok.toBuilder().setHas(Double.NaN)).build(), "demands[0].has"),
        Arguments.of(
            base.clone().addDemands(ok.toBuilder().setUsed(-1)).build(), "demands[0].used"),
        Arguments.of(
            base.clone().addDemands(ok.toBuilder().setWants(Double.POSITIVE_INFINITY)).build(),
            "demands[0].wants"));
  }

  @ParameterizedTest
  @MethodSource("malformedRequests")
  void rejectsAMalformedRequestAsInvalidArgument(LeaseQuotaRequest request, String field) {
    assertThatThrownBy(() -> allocator.lease(request))
        .isInstanceOfSatisfying(
            ApiException.class, e -> assertThat(e.code()).isEqualTo(Status.Code.INVALID_ARGUMENT))
        .hasMessageContaining(field);
  }

  /**
   * The Doorman invariant, seen from the nodes: whatever the order of reports, lost responses
   * and vanishing nodes, the leases nodes actually hold never add up to more than the limit,
   * whether the allocator divides by demand alone or by usage and demand.
   */
  @ParameterizedTest(name = "nodes report their usage: {0}")
  @ValueSource(booleans = {false, true})
  void whatNodesHoldNeverExceedsTheLimit(boolean reportUsage) {
    Random random = new Random(11);
    WaterFillingQuotaAllocator fresh = allocator(LEASE);
    List<SimNode> nodes = new ArrayList<>();
    for (int i = 0; i < 6; i++) {
      nodes.add(new SimNode("dp-" + i));
    }
    for (int step = 0; step < 20_000; step++) {
      clock.advance(Duration.ofMillis(random.nextInt(200)));
      SimNode node = nodes.get(random.nextInt(nodes.size()));
      if (random.nextInt(50) == 0) {
        node.silentUntil = clock.now + Duration.ofSeconds(random.nextInt(30)).toNanos();
      }
      node.used = random.nextDouble() * node.held(clock.now);
      if (clock.now - node.silentUntil >= 0) {
        double wants = random.nextInt(5) == 0 ? 0 : random.nextDouble() * 800;
        long sentAt = clock.now;
        double has = node.held(clock.now);
        LeaseQuotaResponse response =
            fresh.lease(
                reportUsage
                    ? report(node.id, wants, has, node.used)
                    : report(node.id, wants, has));
        boolean lost = random.nextInt(10) == 0;
        if (!lost && response.getLeasesCount() > 0) {
          QuotaLease lease = response.getLeases(0);
          node.granted = lease.getGranted();
          node.expiresAt = sentAt + Durations.toNanos(lease.getLeaseDuration());
        }
      }
      double total = nodes.stream().mapToDouble(n -> n.held(clock.now)).sum();
      assertThat(total).as("held at step %s", step).isLessThanOrEqualTo(600 + 1e-6);
      assertThat(fresh.outstanding(GOLD)).isGreaterThanOrEqualTo(total - 1e-6);
    }
  }

  @Test
  void unitsANodeHasAlreadyUsedStayItsUntilItReportsThemAgedOut() {
    for (int round = 0; round < 3; round++) {
      grant("dp-a", 900);
      grant("dp-b", 900);
    }
    // dp-b's demand is gone, but it used its 300 in this window.
    allocator.lease(report("dp-b", 0, 300));

    assertThat(grant("dp-a", 900)).isEqualTo(300);
    allocator.lease(report("dp-b", 0, 120));
    assertThat(grant("dp-a", 900)).isEqualTo(480);
  }

  @Test
  void waterFillingUsesEveryNodesLatestDemand() {
    grant("dp-a", 960);
    grant("dp-b", 120);

    assertThat(allocator.wants(GOLD, "dp-a")).isEqualTo(960);
    assertThat(allocator.wants(GOLD, "dp-b")).isCloseTo(120, within(1e-9));
  }

  private static final class SimNode {
    final String id;
    double granted;
    double used;
    long expiresAt = Long.MIN_VALUE / 2;
    long silentUntil = Long.MIN_VALUE / 2;

    SimNode(String id) {
      this.id = id;
    }

    double held(long now) {
      return now - expiresAt < 0 ? granted : 0;
    }
  }

  private static final class Clock implements LongSupplier {
    long now = 123_456_789_000L;

    @Override
    public long getAsLong() {
      return now;
    }

    void advance(Duration d) {
      now += d.toNanos();
    }
  }
}
