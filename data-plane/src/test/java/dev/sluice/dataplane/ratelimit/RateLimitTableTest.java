package dev.sluice.dataplane.ratelimit;

import static dev.sluice.config.v1.RateLimitDimension.RATE_LIMIT_DIMENSION_API_KEY;
import static dev.sluice.config.v1.RateLimitDimension.RATE_LIMIT_DIMENSION_CONSUMER;
import static dev.sluice.config.v1.RateLimitDimension.RATE_LIMIT_DIMENSION_MODEL;
import static dev.sluice.config.v1.RateLimitDimension.RATE_LIMIT_DIMENSION_TENANT;
import static dev.sluice.dataplane.ratelimit.Policies.policy;
import static dev.sluice.dataplane.ratelimit.Policies.requests;
import static dev.sluice.dataplane.ratelimit.Policies.shadow;
import static dev.sluice.dataplane.ratelimit.Policies.totalTokens;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.util.Durations;
import dev.sluice.config.v1.RateLimit;
import dev.sluice.config.v1.RateLimitDimension;
import dev.sluice.config.v1.RateLimitMetric;
import dev.sluice.config.v1.RateLimitPolicy;
import dev.sluice.discovery.v1.QuotaBucket;
import java.time.Duration;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class RateLimitTableTest {
  private static final Duration MINUTE = Duration.ofMinutes(1);

  private final RequestQuotaContext acme =
      RequestQuotaContext.builder()
          .apiKey("key-1")
          .consumer("acme")
          .tenant("")
          .model("gpt-4o")
          .addPolicies("gold", "per-model")
          .estimatedInputTokens(100)
          .maxOutputTokens(50)
          .build();

  @Test
  void listsOneBucketPerLimitOfEveryPolicyInTheRequestsOrder() {
    RateLimitTable table =
        RateLimitTable.compile(
            List.of(
                policy(
                    "per-model",
                    List.of(RATE_LIMIT_DIMENSION_MODEL),
                    requests(10, Duration.ofSeconds(1))),
                policy(
                    "gold",
                    List.of(RATE_LIMIT_DIMENSION_CONSUMER),
                    requests(600, MINUTE),
                    totalTokens(60_000, MINUTE))));

    assertThat(table.bucketsFor(acme))
        .extracting(LimitBucket::subject)
        .containsExactly(
            "consumer:acme/policy:gold/limit:0",
            "consumer:acme/policy:gold/limit:1",
            "model:gpt-4o/policy:per-model/limit:0");
  }

  @Test
  void keysFollowTheDimensionOrderAndKeepEmptyValues() {
    RateLimitTable table =
        RateLimitTable.compile(
            List.of(
                policy(
                    "gold",
                    List.of(
                        RATE_LIMIT_DIMENSION_TENANT,
                        RATE_LIMIT_DIMENSION_API_KEY,
                        RATE_LIMIT_DIMENSION_MODEL),
                    requests(1, MINUTE))));

    LimitBucket bucket = table.bucketsFor(acme).get(0);

    assertThat(bucket.key()).isEqualTo("tenant=,api_key=key-1,model=gpt-4o");
    assertThat(bucket.subject()).isEqualTo("tenant:/api_key:key-1/model:gpt-4o/policy:gold/limit:0");
    assertThat(bucket.toProto())
        .isEqualTo(
            QuotaBucket.newBuilder()
                .setPolicy("gold")
                .setLimitIndex(0)
                .setKey("tenant=,api_key=key-1,model=gpt-4o")
                .build());
  }

  @Test
  void aPolicyWithoutDimensionsIsOneBucketForEveryone() {
    RateLimitTable table =
        RateLimitTable.compile(List.of(policy("gold", List.of(), requests(5, MINUTE))));

    LimitBucket bucket = table.bucketsFor(acme).get(0);

    assertThat(bucket.key()).isEmpty();
    assertThat(bucket.subject()).isEqualTo("policy:gold/limit:0");
  }

  @Test
  void aPolicyNamedByBothRouteAndConsumerCountsOnceAndUnknownNamesAreSkipped() {
    RateLimitTable table =
        RateLimitTable.compile(List.of(policy("gold", List.of(), requests(5, MINUTE))));
    RequestQuotaContext ctx =
        RequestQuotaContext.builder().addPolicies("gold", "missing", "gold").build();

    assertThat(table.bucketsFor(ctx)).hasSize(1);
  }

  @Test
  void describesEachBucketsLimit() {
    RateLimitTable table =
        RateLimitTable.compile(
            List.of(shadow(policy("gold", List.of(), totalTokens(60_000, MINUTE)))));

    LimitBucket bucket = table.bucketsFor(RequestQuotaContext.builder().addPolicies("gold").build()).get(0);

    assertThat(bucket.metric()).isEqualTo(RateLimitMetric.RATE_LIMIT_METRIC_TOTAL_TOKENS);
    assertThat(bucket.amount()).isEqualTo(60_000);
    assertThat(bucket.window()).isEqualTo(MINUTE);
    assertThat(bucket.shadow()).isTrue();
  }

  @Test
  void theEmptyTableAppliesNoLimit() {
    assertThat(RateLimitTable.empty().bucketsFor(acme)).isEmpty();
    assertThat(RateLimitTable.compile(List.of()).isEmpty()).isTrue();
  }

  @Test
  void exposesPolicyNamesForReferenceChecks() {
    RateLimitTable table =
        RateLimitTable.compile(
            List.of(
                policy("gold", List.of(), requests(5, MINUTE)),
                policy("silver", List.of(), requests(5, MINUTE))));

    assertThat(table.policyNames()).containsExactlyInAnyOrder("gold", "silver");
  }

  @Test
  void saysWhetherAnyOfSomePoliciesCountsTokens() {
    RateLimitTable table =
        RateLimitTable.compile(
            List.of(
                policy("rpm", List.of(), requests(5, MINUTE)),
                policy("tpm", List.of(), requests(5, MINUTE), totalTokens(1000, MINUTE))));

    assertThat(table.countsTokens(List.of("rpm"))).isFalse();
    assertThat(table.countsTokens(List.of("rpm", "tpm"))).isTrue();
    assertThat(table.countsTokens(List.of("unknown"))).isFalse();
    assertThat(RateLimitTable.empty().countsTokens(List.of("tpm"))).isFalse();
  }

  static Stream<Arguments> invalidPolicies() {
    RateLimit ok = requests(5, MINUTE);
    return Stream.of(
        Arguments.of(policy("", List.of(), ok), "rate_limit_policies[].name: empty"),
        Arguments.of(
            policy("p", List.of(RateLimitDimension.RATE_LIMIT_DIMENSION_UNSPECIFIED), ok),
            "rate_limit_policies[p].dimensions[0]"),
        Arguments.of(
            policy("p", List.of(RATE_LIMIT_DIMENSION_MODEL, RATE_LIMIT_DIMENSION_MODEL), ok),
            "rate_limit_policies[p].dimensions[1]: RATE_LIMIT_DIMENSION_MODEL repeated"),
        Arguments.of(policy("p", List.of()), "rate_limit_policies[p].limits: 0 limits"),
        Arguments.of(
            policy("p", List.of(), requests(0, MINUTE)),
            "rate_limit_policies[p].limits[0].amount: 0 (expected: > 0)"),
        Arguments.of(
            policy("p", List.of(), ok.toBuilder().setBurst(6).build()),
            "rate_limit_policies[p].limits[0].burst: 6 (expected: 0 to amount, 5)"),
        Arguments.of(
            policy("p", List.of(), ok.toBuilder().setBurst(-1).build()),
            "rate_limit_policies[p].limits[0].burst: -1"),
        Arguments.of(
            policy("p", List.of(), requests(5, Duration.ofSeconds(5))),
            "rate_limit_policies[p].limits[0].window: PT5S (expected: 1s, 1m, 1h or 1d)"),
        Arguments.of(
            policy("p", List.of(), ok.toBuilder().clearWindow().build()),
            "rate_limit_policies[p].limits[0].window: unset"),
        Arguments.of(
            policy(
                "p",
                List.of(),
                ok.toBuilder().setMetric(RateLimitMetric.RATE_LIMIT_METRIC_UNSPECIFIED).build()),
            "rate_limit_policies[p].limits[0].metric"));
  }

  @ParameterizedTest
  @MethodSource("invalidPolicies")
  void rejectsAnInvalidPolicyNamingTheField(RateLimitPolicy policy, String message) {
    assertThatThrownBy(() -> RateLimitTable.compile(List.of(policy)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining(message);
  }

  @Test
  void rejectsDuplicateNamesAndMoreThanSixteenLimits() {
    RateLimitPolicy.Builder many = RateLimitPolicy.newBuilder().setName("many");
    for (int i = 0; i < 17; i++) {
      many.addLimits(requests(5, MINUTE));
    }
    RateLimitPolicy one = policy("one", List.of(), requests(5, MINUTE));

    assertThatThrownBy(() -> RateLimitTable.compile(List.of(one, one, many.build())))
        .hasMessageContaining("rate_limit_policies[one]: duplicate name")
        .hasMessageContaining("rate_limit_policies[many].limits: 17 limits (expected: 1 to 16)");
  }

  @Test
  void acceptsEveryAllowedWindow() {
    for (Duration window :
        List.of(Duration.ofSeconds(1), MINUTE, Duration.ofHours(1), Duration.ofDays(1))) {
      RateLimitTable table =
          RateLimitTable.compile(
              List.of(
                  policy(
                      "p",
                      List.of(),
                      RateLimit.newBuilder()
                          .setMetric(RateLimitMetric.RATE_LIMIT_METRIC_REQUESTS)
                          .setAmount(1)
                          .setWindow(Durations.fromNanos(window.toNanos()))
                          .build())));
      assertThat(table.policyNames()).containsExactly("p");
    }
  }
}
