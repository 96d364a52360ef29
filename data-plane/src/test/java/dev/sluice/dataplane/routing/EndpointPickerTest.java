package dev.sluice.dataplane.routing;

import static dev.sluice.dataplane.testing.TestConfigs.backend;
import static dev.sluice.dataplane.testing.TestConfigs.resource;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.sluice.config.v1.Backend;
import dev.sluice.config.v1.BackendTarget;
import dev.sluice.config.v1.LoadBalancingPolicy;
import dev.sluice.config.v1.Model;
import dev.sluice.config.v1.ModelVersion;
import dev.sluice.config.v1.OutlierDetection;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

class EndpointPickerTest {
  private final Random random = new Random(11);

  private static RouteTable table(
      LoadBalancingPolicy policy, List<Backend> backends, int... weights) {
    ModelVersion.Builder version =
        ModelVersion.newBuilder().setName("v1").setUpstreamModel("up").setLoadBalancing(policy);
    for (int i = 0; i < backends.size(); i++) {
      version.addBackends(
          BackendTarget.newBuilder().setBackend(backends.get(i).getName()).setWeight(weights[i]));
    }
    List<Object> resources = new ArrayList<>(backends);
    resources.add(Model.newBuilder().setName("m").addVersions(version).build());
    return RouteTable.build(resources.stream().map(r -> resource(r)).toList(), null);
  }

  private static VersionEntry version(RouteTable table) {
    return table.model("m").defaultVersion();
  }

  private Endpoint pickAndRelease(VersionEntry version) {
    Endpoint e = EndpointPicker.pick(version, Set.of(), true, random, System.nanoTime()).endpoint();
    e.backend().load().release();
    return e;
  }

  @Test
  void powerOfTwoChoicesSamplesInProportionToWeightWhenIdle() {
    RouteTable table =
        table(
            LoadBalancingPolicy.LOAD_BALANCING_POLICY_UNSPECIFIED,
            List.of(backend("a"), backend("b")),
            3,
            1);
    Map<String, Integer> counts = new HashMap<>();

    for (int i = 0; i < 20_000; i++) {
      counts.merge(pickAndRelease(version(table)).backendName(), 1, Integer::sum);
    }

    // Idle backends tie on cost, so the first sample wins: exactly the weights' proportion.
    assertThat(counts.get("a") / 20_000.0).isCloseTo(0.75, within(0.015));
  }

  @Test
  void powerOfTwoChoicesPrefersTheBackendWithFewerRequestsInFlight() {
    RouteTable table =
        table(
            LoadBalancingPolicy.LOAD_BALANCING_POLICY_LEAST_REQUEST,
            List.of(backend("a"), backend("b")),
            1,
            1);
    for (int i = 0; i < 10; i++) {
      table.backend("a").load().tryAcquire(0);
    }
    int toA = 0;

    for (int i = 0; i < 1000; i++) {
      toA += pickAndRelease(version(table)).backendName().equals("a") ? 1 : 0;
    }

    // "a" only wins when both samples are "a": about a quarter of the time.
    assertThat(toA / 1000.0).isCloseTo(0.25, within(0.05));
  }

  @Test
  void powerOfTwoChoicesPrefersTheFasterBackendAtEqualLoad() {
    RouteTable table =
        table(
            LoadBalancingPolicy.LOAD_BALANCING_POLICY_LEAST_REQUEST,
            List.of(backend("a"), backend("b")),
            1,
            1);
    table.backend("a").load().recordLatency(50_000_000);
    table.backend("b").load().recordLatency(5_000_000);
    int toB = 0;

    for (int i = 0; i < 1000; i++) {
      toB += pickAndRelease(version(table)).backendName().equals("b") ? 1 : 0;
    }

    assertThat(toB / 1000.0).isCloseTo(0.75, within(0.05));
  }

  @Test
  void weightedRoundRobinFollowsTheWeightsInASmoothOrder() {
    RouteTable table =
        table(
            LoadBalancingPolicy.LOAD_BALANCING_POLICY_WEIGHTED_ROUND_ROBIN,
            List.of(backend("a"), backend("b"), backend("c")),
            5,
            1,
            1);
    List<String> order = new ArrayList<>();

    for (int i = 0; i < 14; i++) {
      order.add(pickAndRelease(version(table)).backendName());
    }

    // nginx's smooth weighted round robin for 5:1:1.
    assertThat(order)
        .containsExactly("a", "a", "b", "a", "c", "a", "a", "a", "a", "b", "a", "c", "a", "a");
  }

  @Test
  void skipsBackendsAlreadyTriedWhileOthersRemain() {
    RouteTable table =
        table(
            LoadBalancingPolicy.LOAD_BALANCING_POLICY_LEAST_REQUEST,
            List.of(backend("a"), backend("b")),
            1,
            1);

    for (int i = 0; i < 100; i++) {
      Endpoint e =
          EndpointPicker.pick(version(table), Set.of("a"), true, random, System.nanoTime())
              .endpoint();
      e.backend().load().release();
      assertThat(e.backendName()).isEqualTo("b");
    }
    Endpoint again =
        EndpointPicker.pick(version(table), Set.of("a", "b"), true, random, System.nanoTime())
            .endpoint();
    assertThat(again).isNotNull();
  }

  @Test
  void takesARequestSlotUpToTheBackendsLimit() {
    Backend limited = backend("a").toBuilder().setMaxConcurrentRequests(2).build();
    RouteTable table =
        table(LoadBalancingPolicy.LOAD_BALANCING_POLICY_UNSPECIFIED, List.of(limited), 1);

    EndpointPicker.Pick first = EndpointPicker.pick(version(table), Set.of(), true, random, 0);
    EndpointPicker.Pick second = EndpointPicker.pick(version(table), Set.of(), true, random, 0);
    EndpointPicker.Pick third = EndpointPicker.pick(version(table), Set.of(), true, random, 0);

    assertThat(first.endpoint()).isNotNull();
    assertThat(second.endpoint()).isNotNull();
    assertThat(third.endpoint()).isNull();
    assertThat(third.shortage()).isEqualTo(EndpointPicker.Shortage.AT_CAPACITY);
  }

  @Test
  void reportsEveryBackendEjectedUnlessEjectedOnesMayServe() {
    Backend a =
        backend("a").toBuilder()
            .setOutlierDetection(OutlierDetection.newBuilder().setConsecutiveFailures(1))
            .build();
    RouteTable table = table(LoadBalancingPolicy.LOAD_BALANCING_POLICY_UNSPECIFIED, List.of(a), 1);
    long now = System.nanoTime();
    table.backend("a").load().recordFailure(a.getOutlierDetection(), now);

    EndpointPicker.Pick strict = EndpointPicker.pick(version(table), Set.of(), false, random, now);
    EndpointPicker.Pick lastResort =
        EndpointPicker.pick(version(table), Set.of(), true, random, now);

    assertThat(strict.shortage()).isEqualTo(EndpointPicker.Shortage.ALL_EJECTED);
    assertThat(lastResort.endpoint()).isNotNull();
  }
}
