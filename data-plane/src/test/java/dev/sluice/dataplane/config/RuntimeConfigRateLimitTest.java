package dev.sluice.dataplane.config;

import static dev.sluice.dataplane.testing.TestConfigs.backend;
import static dev.sluice.dataplane.testing.TestConfigs.consumer;
import static dev.sluice.dataplane.testing.TestConfigs.model;
import static dev.sluice.dataplane.testing.TestConfigs.runtimeConfig;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.util.Durations;
import dev.sluice.config.v1.RateLimit;
import dev.sluice.config.v1.RateLimitMetric;
import dev.sluice.config.v1.RateLimitPolicy;
import dev.sluice.config.v1.Route;
import org.junit.jupiter.api.Test;

/** How a snapshot's rate-limit policies, and the references to them, become runtime config. */
class RuntimeConfigRateLimitTest {
  private static final RateLimitPolicy GOLD =
      RateLimitPolicy.newBuilder()
          .setName("gold")
          .addLimits(
              RateLimit.newBuilder()
                  .setMetric(RateLimitMetric.RATE_LIMIT_METRIC_REQUESTS)
                  .setAmount(60)
                  .setWindow(Durations.fromSeconds(60)))
          .build();

  @Test
  void compilesThePoliciesThatRoutesAndConsumersName() {
    RuntimeConfig config =
        runtimeConfig(
            1,
            backend("b1"),
            model("m1", "b1"),
            GOLD,
            Route.newBuilder().setName("r1").addRateLimitPolicies("gold").build(),
            consumer("acme", "m1").toBuilder().addRateLimitPolicies("gold").build());

    assertThat(config.rateLimits().policyNames()).containsExactly("gold");
    assertThat(config.withSource(dev.sluice.discovery.v1.ConfigSource.CONFIG_SOURCE_FILE_CACHE)
            .rateLimits())
        .isSameAs(config.rateLimits());
  }

  @Test
  void aConfigWithoutPoliciesHasAnEmptyTable() {
    RuntimeConfig config = runtimeConfig(1, backend("b1"), model("m1", "b1"));

    assertThat(config.rateLimits().isEmpty()).isTrue();
  }

  @Test
  void aRouteNamingAnUnknownPolicyIsRejectedNamingTheRouteAndField() {
    assertThatThrownBy(
            () ->
                runtimeConfig(
                    1,
                    backend("b1"),
                    model("m1", "b1"),
                    GOLD,
                    Route.newBuilder()
                        .setName("r1")
                        .addRateLimitPolicies("gold")
                        .addRateLimitPolicies("ghost")
                        .build()))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("route r1: rate_limit_policies[1]: ghost is not a RateLimitPolicy");
  }

  @Test
  void aConsumerNamingAnUnknownPolicyIsRejectedNamingTheConsumerAndField() {
    assertThatThrownBy(
            () ->
                runtimeConfig(
                    1,
                    backend("b1"),
                    model("m1", "b1"),
                    consumer("acme", "m1").toBuilder().addRateLimitPolicies("ghost").build()))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("consumer acme: rate_limit_policies[0]: ghost is not a RateLimitPolicy");
  }

  @Test
  void everyDanglingReferenceIsReportedAtOnce() {
    assertThatThrownBy(
            () ->
                runtimeConfig(
                    1,
                    backend("b1"),
                    model("m1", "b1"),
                    Route.newBuilder().setName("r1").addRateLimitPolicies("ghost").build(),
                    consumer("acme", "m1").toBuilder().addRateLimitPolicies("phantom").build()))
        .hasMessageContaining("route r1: rate_limit_policies[0]: ghost")
        .hasMessageContaining("consumer acme: rate_limit_policies[0]: phantom");
  }

  @Test
  void anInvalidPolicyIsRejectedNamingItsField() {
    RateLimitPolicy broken =
        GOLD.toBuilder().setLimits(0, GOLD.getLimits(0).toBuilder().setAmount(0)).build();

    assertThatThrownBy(() -> runtimeConfig(1, backend("b1"), model("m1", "b1"), broken))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("rate_limit_policies[gold].limits[0].amount: 0");
  }
}
