package dev.sluice.dataplane.routing;

import static dev.sluice.dataplane.testing.TestConfigs.backend;
import static dev.sluice.dataplane.testing.TestConfigs.resource;
import static dev.sluice.dataplane.testing.TestConfigs.version;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import com.google.protobuf.Timestamp;
import dev.sluice.config.v1.HeaderMatch;
import dev.sluice.config.v1.Model;
import dev.sluice.config.v1.Resource;
import dev.sluice.config.v1.Route;
import dev.sluice.config.v1.RouteDestination;
import dev.sluice.config.v1.RouteMatch;
import dev.sluice.config.v1.Stickiness;
import dev.sluice.config.v1.StickinessKey;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.Test;

class RoutePlanTest {
  private static final Model MODEL =
      Model.newBuilder()
          .setName("m1")
          .addAliases("vendor/m1:latest")
          .addVersions(version("v1", "b1"))
          .addVersions(version("v2", "b2"))
          .addVersions(version("v3", "b3"))
          .setDefaultVersion("v1")
          .build();

  private final Random random = new Random(7);

  private static RouteTable table(Route... routes) {
    List<Resource> list = new ArrayList<>();
    list.add(resource(backend("b1")));
    list.add(resource(backend("b2")));
    list.add(resource(backend("b3")));
    list.add(resource(MODEL));
    for (Route r : routes) {
      list.add(resource(r));
    }
    return RouteTable.build(list, null);
  }

  private static RouteDestination to(String version, int weight) {
    return RouteDestination.newBuilder().setModelVersion(version).setWeight(weight).build();
  }

  private static RoutingContext context(
      @Nullable String consumer, @Nullable String tenant, Map<String, String> headers) {
    return new RoutingContext(
        "r", consumer, tenant, headers::get, null, Timestamp.getDefaultInstance(), 0);
  }

  private RoutePlan plan(RouteTable table, RoutingContext context) {
    return RoutePlan.of(table, table.model("m1"), context, "", random);
  }

  private static String firstVersion(RoutePlan plan) {
    return plan.destinations().get(0).version().name();
  }

  @Test
  void splitsTrafficByWeightWithinTolerance() {
    RouteTable table =
        table(
            Route.newBuilder()
                .setName("canary")
                .addDestinations(to("v1", 900))
                .addDestinations(to("v2", 100))
                .build());
    Map<String, Integer> counts = new HashMap<>();
    int picks = 20_000;

    for (int i = 0; i < picks; i++) {
      counts.merge(firstVersion(plan(table, context(null, null, Map.of()))), 1, Integer::sum);
    }

    assertThat(counts.get("v1") / (double) picks).isCloseTo(0.9, within(0.01));
    assertThat(counts.get("v2") / (double) picks).isCloseTo(0.1, within(0.01));
  }

  @Test
  void splitsEvenlyWhenEveryWeightIsZeroAndSkipsZeroWeightsOtherwise() {
    RouteTable even =
        table(
            Route.newBuilder()
                .setName("even")
                .addDestinations(to("v1", 0))
                .addDestinations(to("v2", 0))
                .build());
    RouteTable skewed =
        table(
            Route.newBuilder()
                .setName("skewed")
                .addDestinations(to("v1", 0))
                .addDestinations(to("v2", 5))
                .build());
    int v1Even = 0;
    int v1Skewed = 0;

    for (int i = 0; i < 10_000; i++) {
      v1Even += firstVersion(plan(even, context(null, null, Map.of()))).equals("v1") ? 1 : 0;
      v1Skewed += firstVersion(plan(skewed, context(null, null, Map.of()))).equals("v1") ? 1 : 0;
    }

    assertThat(v1Even / 10_000.0).isCloseTo(0.5, within(0.02));
    assertThat(v1Skewed).isZero();
  }

  @Test
  void stickyRequestsKeepTheirDestinationWhileOthersSpread() {
    RouteTable table =
        table(
            Route.newBuilder()
                .setName("ab")
                .addDestinations(to("v1", 1))
                .addDestinations(to("v2", 1))
                .setStickiness(
                    Stickiness.newBuilder()
                        .setKey(StickinessKey.STICKINESS_KEY_HEADER)
                        .setHeader("x-session"))
                .build());
    Map<String, Integer> perKey = new HashMap<>();

    for (int key = 0; key < 200; key++) {
      String first = firstVersion(plan(table, context(null, null, Map.of("x-session", "s" + key))));
      for (int again = 0; again < 5; again++) {
        assertThat(firstVersion(plan(table, context(null, null, Map.of("x-session", "s" + key)))))
            .isEqualTo(first);
      }
      perKey.merge(first, 1, Integer::sum);
    }

    assertThat(perKey.get("v1")).isBetween(70, 130);
    assertThat(perKey.get("v2")).isBetween(70, 130);
  }

  @Test
  void stickinessByConsumerUsesTheCaller() {
    RouteTable table =
        table(
            Route.newBuilder()
                .setName("ab")
                .addDestinations(to("v1", 1))
                .addDestinations(to("v2", 1))
                .setStickiness(
                    Stickiness.newBuilder().setKey(StickinessKey.STICKINESS_KEY_CONSUMER))
                .build());

    String first = firstVersion(plan(table, context("acme", null, Map.of())));

    for (int i = 0; i < 20; i++) {
      assertThat(firstVersion(plan(table, context("acme", null, Map.of())))).isEqualTo(first);
    }
  }

  @Test
  void usesTheFirstMatchingRouteInPriorityOrder() {
    RouteTable table =
        table(
            Route.newBuilder().setName("a-low").setPriority(1).addDestinations(to("v2", 1)).build(),
            Route.newBuilder()
                .setName("b-high")
                .setPriority(5)
                .addDestinations(to("v3", 1))
                .build(),
            Route.newBuilder()
                .setName("a-high")
                .setPriority(5)
                .addDestinations(to("v1", 1))
                .build());

    RoutePlan plan = plan(table, context(null, null, Map.of()));

    assertThat(plan.route().name()).isEqualTo("a-high");
  }

  @Test
  void matchesOnModelsHeadersConsumersAndTenants() {
    Route strict =
        Route.newBuilder()
            .setName("strict")
            .setPriority(10)
            .setMatch(
                RouteMatch.newBuilder()
                    .addModels("m1")
                    .addConsumers("acme")
                    .addTenants("eu")
                    .addHeaders(HeaderMatch.newBuilder().setName("x-tier").setPrefix("gold"))
                    .addHeaders(
                        HeaderMatch.newBuilder().setName("x-region").setRegex("eu-[a-z]+-\\d"))
                    .addHeaders(HeaderMatch.newBuilder().setName("x-beta")))
            .addDestinations(to("v3", 1))
            .build();
    RouteTable table = table(strict);
    Map<String, String> headers =
        Map.of("x-tier", "gold-plus", "x-region", "eu-west-1", "x-beta", "");

    assertThat(plan(table, context("acme", "eu", headers)).route()).isNotNull();
    assertThat(plan(table, context("other", "eu", headers)).route()).isNull();
    assertThat(plan(table, context("acme", "us", headers)).route()).isNull();
    assertThat(plan(table, context("acme", null, headers)).route()).isNull();
    assertThat(
            plan(table, context("acme", "eu", Map.of("x-tier", "gold", "x-region", "eu-west-1")))
                .route())
        .isNull();
    assertThat(
            plan(
                    table,
                    context(
                        "acme",
                        "eu",
                        Map.of("x-tier", "silver", "x-region", "eu-west-1", "x-beta", "1")))
                .route())
        .isNull();
    assertThat(
            plan(
                    table,
                    context(
                        "acme",
                        "eu",
                        Map.of("x-tier", "gold", "x-region", "eu-west", "x-beta", "1")))
                .route())
        .isNull();
  }

  @Test
  void aRequestForAnAliasMatchesRoutesOfItsModel() {
    RouteTable table =
        table(
            Route.newBuilder()
                .setName("r")
                .setMatch(RouteMatch.newBuilder().addModels("m1"))
                .addDestinations(to("v2", 1))
                .build());

    RoutePlan plan =
        RoutePlan.of(
            table, table.model("vendor/m1:latest"), context(null, null, Map.of()), "", random);

    assertThat(firstVersion(plan)).isEqualTo("v2");
  }

  @Test
  void withoutAMatchingRouteTheDefaultVersionServesWithoutRetries() {
    RouteTable table = table();

    RoutePlan plan = plan(table, context(null, null, Map.of()));

    assertThat(plan.route()).isNull();
    assertThat(firstVersion(plan)).isEqualTo("v1");
    assertThat(plan.destinations()).hasSize(1);
    assertThat(plan.retry().maxAttempts()).isEqualTo(1);
  }

  @Test
  void listsTheFallbacksAfterTheChosenDestination() {
    RouteTable table =
        table(
            Route.newBuilder()
                .setName("r")
                .addDestinations(to("v1", 1))
                .addFallbacks(to("v2", 0))
                .addFallbacks(to("v3", 0))
                .build());

    RoutePlan plan = plan(table, context(null, null, Map.of()));

    assertThat(plan.destinations())
        .extracting(d -> d.version().name())
        .containsExactly("v1", "v2", "v3");
  }
}
