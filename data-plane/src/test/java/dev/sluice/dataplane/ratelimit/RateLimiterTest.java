package dev.sluice.dataplane.ratelimit;

import static dev.sluice.config.v1.RateLimitDimension.RATE_LIMIT_DIMENSION_API_KEY;
import static dev.sluice.config.v1.RateLimitDimension.RATE_LIMIT_DIMENSION_CONSUMER;
import static dev.sluice.config.v1.RateLimitDimension.RATE_LIMIT_DIMENSION_MODEL;
import static dev.sluice.config.v1.RateLimitDimension.RATE_LIMIT_DIMENSION_TENANT;
import static dev.sluice.dataplane.ratelimit.Policies.inputTokens;
import static dev.sluice.dataplane.ratelimit.Policies.outputTokens;
import static dev.sluice.dataplane.ratelimit.Policies.policy;
import static dev.sluice.dataplane.ratelimit.Policies.requests;
import static dev.sluice.dataplane.ratelimit.Policies.shadow;
import static dev.sluice.dataplane.ratelimit.Policies.totalTokens;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.util.Durations;
import com.google.rpc.ErrorInfo;
import com.google.rpc.QuotaFailure;
import com.google.rpc.RetryInfo;
import dev.sluice.config.v1.RateLimitPolicy;
import dev.sluice.grpc.ApiException;
import dev.sluice.grpc.ErrorMapper;
import dev.sluice.inference.v1.Usage;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.StatusProto;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

class RateLimiterTest {
  private static final Duration SECOND = Duration.ofSeconds(1);
  private static final Duration MINUTE = Duration.ofMinutes(1);
  private static final Duration HOUR = Duration.ofHours(1);

  /** Starts at a slot boundary of every window, so that expected waits are whole numbers. */
  private final FakeTicker ticker = new FakeTicker(Duration.ofDays(1000).toNanos());
  private final SimpleMeterRegistry meters = new SimpleMeterRegistry();
  private final AtomicReference<RateLimitTable> table =
      new AtomicReference<>(RateLimitTable.empty());
  private final RateLimiter limiter =
      RateLimiter.create(
          table::get,
          RateLimiter.Options.builder().nanoTicker(ticker).meterRegistry(meters).build());

  private void policies(RateLimitPolicy... policies) {
    table.set(RateLimitTable.compile(List.of(policies)));
  }

  private static RequestQuotaContext.Builder request() {
    return RequestQuotaContext.builder()
        .apiKey("key-1")
        .consumer("acme")
        .tenant("team-a")
        .model("gpt-4o")
        .addPolicies("route-policy", "gold");
  }

  private SlidingWindowRateLimiter impl() {
    return (SlidingWindowRateLimiter) limiter;
  }

  private double usage(LimitBucket bucket) {
    BucketState state = impl().state(bucket.id());
    return state == null ? 0 : state.usage(ticker.getAsLong());
  }

  private List<LimitBucket> buckets(RequestQuotaContext ctx) {
    return table.get().bucketsFor(ctx);
  }

  @Test
  void admitsEveryRequestWhenNoPolicyApplies() {
    Admission admission = limiter.admit(request().build());

    assertThat(admission.isAdmitted()).isTrue();
    assertThat(admission.reservation().settle(Usage.getDefaultInstance())).isTrue();
  }

  @Nested
  class Refusals {
    @Test
    void refusesTheRequestOverTheLimitWithQuotaFailureAndRetryInfo() throws Exception {
      policies(policy("gold", List.of(RATE_LIMIT_DIMENSION_CONSUMER), requests(2, MINUTE)));
      limiter.admit(request().build()).orThrow();
      ticker.advance(Duration.ofSeconds(10));
      limiter.admit(request().build()).orThrow();

      Admission refused = limiter.admit(request().build());

      assertThat(refused.isAdmitted()).isFalse();
      ApiException error = refused.refusal();
      assertThat(error.code()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
      assertThat(error.reason()).isEqualTo("RATE_LIMITED");
      assertThat(error.getMessage())
          .isEqualTo(
              "rate limit exceeded: at most 2 requests per minute"
                  + " (consumer:acme/policy:gold/limit:0)");
      QuotaFailure.Violation violation =
          ((QuotaFailure) error.details().get(0)).getViolations(0);
      assertThat(violation.getSubject()).isEqualTo("consumer:acme/policy:gold/limit:0");
      assertThat(violation.getDescription()).isEqualTo("at most 2 requests per minute");
      assertThat(violation.getQuotaId()).isEqualTo("gold/limit:0");
      assertThat(violation.getQuotaMetric()).isEqualTo("sluice.dev/requests");
      assertThat(violation.getQuotaValue()).isEqualTo(2);
      assertThat(violation.getQuotaDimensionsMap()).containsExactly(java.util.Map.entry("consumer", "acme"));
      // The first request leaves the window one minute after it was admitted (and its 3 s slot
      // has been fully passed by): 50 s from now, plus one slot.
      RetryInfo retry = (RetryInfo) error.details().get(1);
      assertThat(Durations.toMillis(retry.getRetryDelay())).isEqualTo(53_000);
    }

    @Test
    void theRefusalReachesTheWireWithRetryPushback() throws InvalidProtocolBufferException {
      policies(policy("gold", List.of(), requests(1, MINUTE)));
      limiter.admit(request().build()).orThrow();

      StatusRuntimeException wire =
          ErrorMapper.toStatusRuntimeException(limiter.admit(request().build()).refusal());

      assertThat(wire.getStatus().getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
      assertThat(wire.getTrailers().get(ErrorMapper.RETRY_PUSHBACK_MS)).isEqualTo("63000");
      com.google.rpc.Status status = StatusProto.fromThrowable(wire);
      assertThat(status.getDetails(0).unpack(ErrorInfo.class).getReason())
          .isEqualTo("RATE_LIMITED");
      assertThat(status.getDetailsList())
          .anyMatch(any -> any.is(QuotaFailure.class))
          .anyMatch(any -> any.is(RetryInfo.class));
    }

    @Test
    void retryingAfterTheAdvisedDelaySucceeds() {
      policies(policy("gold", List.of(), requests(3, MINUTE)));
      for (int i = 0; i < 3; i++) {
        limiter.admit(request().build()).orThrow();
        ticker.advance(Duration.ofSeconds(7));
      }
      RetryInfo retry = (RetryInfo) limiter.admit(request().build()).refusal().details().get(1);

      ticker.advance(Duration.ofMillis(Durations.toMillis(retry.getRetryDelay()) - 1));
      assertThat(limiter.admit(request().build()).isAdmitted()).isFalse();
      ticker.advance(Duration.ofMillis(1));
      assertThat(limiter.admit(request().build()).isAdmitted()).isTrue();
    }

    @Test
    void orThrowThrowsTheRefusal() {
      policies(policy("gold", List.of(), requests(1, MINUTE)));
      limiter.admit(request().build()).orThrow();

      assertThatThrownBy(() -> limiter.admit(request().build()).orThrow())
          .isInstanceOf(ApiException.class)
          .hasMessageContaining("policy:gold/limit:0");
    }

    @Test
    void aRequestLargerThanTheWholeLimitIsRefusedWithoutRetryInfo() {
      policies(policy("gold", List.of(), totalTokens(1_000, MINUTE)));

      ApiException error =
          limiter
              .admit(request().estimatedInputTokens(200).maxOutputTokens(4_096).build())
              .refusal();

      assertThat(error.getMessage())
          .startsWith(
              "request exceeds a rate limit: the request needs 4296 tokens, more than the 1000"
                  + " allowed per minute");
      assertThat(error.details()).noneMatch(d -> d instanceof RetryInfo);
      assertThat(usage(buckets(request().build()).get(0))).isZero();
    }

    @Test
    void countsRefusalsPerPolicy() {
      policies(policy("gold", List.of(), requests(1, MINUTE)));
      limiter.admit(request().build()).orThrow();
      limiter.admit(request().build());
      limiter.admit(request().build());

      assertThat(
              meters
                  .get("sluice.ratelimit.refusals")
                  .tag("policy", "gold")
                  .tag("mode", "enforce")
                  .counter()
                  .count())
          .isEqualTo(2);
    }
  }

  @Nested
  class Combinations {
    @Test
    void everyApplicableLimitMustPass() {
      policies(
          policy("route-policy", List.of(RATE_LIMIT_DIMENSION_MODEL), requests(100, MINUTE)),
          policy(
              "gold",
              List.of(RATE_LIMIT_DIMENSION_API_KEY),
              requests(3, MINUTE)),
          policy("tenant", List.of(RATE_LIMIT_DIMENSION_TENANT), requests(4, MINUTE)),
          policy("consumer", List.of(RATE_LIMIT_DIMENSION_CONSUMER), requests(5, MINUTE)));
      RequestQuotaContext key1 = request().addPolicies("tenant", "consumer").build();
      RequestQuotaContext key2 = request().apiKey("key-2").addPolicies("tenant", "consumer").build();

      for (int i = 0; i < 3; i++) {
        limiter.admit(key1).orThrow();
      }
      assertThat(limiter.admit(key1).refusal().getMessage()).contains("api_key:key-1/policy:gold");
      // Another key of the same consumer and tenant: its own key bucket is fresh, but the tenant
      // allows one more request only.
      limiter.admit(key2).orThrow();
      assertThat(limiter.admit(key2).refusal().getMessage()).contains("tenant:team-a/policy:tenant");
      // Another tenant of the same consumer (a consumer moved teams) still meets the consumer's.
      RequestQuotaContext otherTenant =
          request().apiKey("key-3").tenant("team-b").addPolicies("tenant", "consumer").build();
      limiter.admit(otherTenant).orThrow();
      assertThat(limiter.admit(otherTenant).refusal().getMessage())
          .contains("consumer:acme/policy:consumer");
      // And the model limit saw every admitted request.
      assertThat(usage(buckets(key1).get(0))).isEqualTo(5);
    }

    @Test
    void aRefusalGivesBackWhatTheOtherBucketsHadAlreadyCharged() {
      policies(
          policy("route-policy", List.of(RATE_LIMIT_DIMENSION_MODEL), totalTokens(10_000, MINUTE)),
          policy("gold", List.of(RATE_LIMIT_DIMENSION_CONSUMER), totalTokens(1_000, MINUTE)));
      RequestQuotaContext big = request().estimatedInputTokens(600).maxOutputTokens(300).build();
      limiter.admit(big).orThrow();
      List<LimitBucket> buckets = buckets(big);

      assertThat(limiter.admit(big).isAdmitted()).isFalse();

      assertThat(usage(buckets.get(0))).isEqualTo(900);
      assertThat(usage(buckets.get(1))).isEqualTo(900);
    }

    @Test
    void theRefusalNamesEveryLimitThatRefusesAndWaitsForTheLastOfThem() {
      policies(
          policy("route-policy", List.of(), requests(1, SECOND)),
          policy("gold", List.of(), requests(1, MINUTE)));
      limiter.admit(request().build()).orThrow();

      ApiException error = limiter.admit(request().build()).refusal();

      QuotaFailure failure = (QuotaFailure) error.details().get(0);
      assertThat(failure.getViolationsList())
          .extracting(QuotaFailure.Violation::getSubject)
          .containsExactly("policy:route-policy/limit:0", "policy:gold/limit:0");
      RetryInfo retry = (RetryInfo) error.details().get(1);
      assertThat(Durations.toMillis(retry.getRetryDelay())).isEqualTo(63_000);
    }

    @Test
    void severalWindowsOfOnePolicyHoldAtOnce() {
      policies(
          policy(
              "gold",
              List.of(RATE_LIMIT_DIMENSION_CONSUMER),
              requests(2, SECOND),
              requests(5, MINUTE),
              requests(6, HOUR)));
      int admitted = 0;
      for (int second = 0; second < 120; second++) {
        for (int i = 0; i < 3; i++) {
          if (limiter.admit(request().build()).isAdmitted()) {
            admitted++;
          }
        }
        ticker.advance(Duration.ofMillis(999));
        if (second == 0) {
          assertThat(admitted).as("the per-second limit").isEqualTo(2);
        }
        if (second == 58) {
          assertThat(admitted).as("the per-minute limit").isEqualTo(5);
        }
      }

      assertThat(admitted).as("the per-hour limit").isEqualTo(6);
    }
  }

  @Nested
  class TokenReservations {
    private final RequestQuotaContext call =
        request().estimatedInputTokens(1_000).maxOutputTokens(500).build();

    @Test
    void reservesPromptTokensPlusTheMaximumOutputInEachTokenLimit() {
      policies(
          policy(
              "gold",
              List.of(),
              inputTokens(100_000, MINUTE),
              outputTokens(100_000, MINUTE),
              totalTokens(100_000, MINUTE),
              requests(100, MINUTE)));

      limiter.admit(call).orThrow();

      List<LimitBucket> buckets = buckets(call);
      assertThat(buckets).extracting(RateLimiterTest.this::usage).containsExactly(1_000.0, 500.0, 1_500.0, 1.0);
    }

    @Test
    void settlingGivesBackWhatTheCallDidNotUse() {
      policies(policy("gold", List.of(), totalTokens(100_000, MINUTE), requests(100, MINUTE)));
      Reservation reservation = limiter.admit(call).orThrow();

      ticker.advance(Duration.ofSeconds(20));
      assertThat(reservation.settle(usage(900, 120))).isTrue();

      List<LimitBucket> buckets = buckets(call);
      assertThat(usage(buckets.get(0))).isEqualTo(1_020);
      assertThat(usage(buckets.get(1))).isEqualTo(1);
      // The real usage stays where the reservation was charged and leaves the window with it.
      ticker.advance(Duration.ofSeconds(43));
      assertThat(usage(buckets.get(0))).isZero();
    }

    @Test
    void usageBeyondTheReservationIsChargedAsDebtThatLaterRequestsWaitOut() {
      policies(policy("gold", List.of(), totalTokens(2_000, MINUTE)));
      Reservation reservation = limiter.admit(call).orThrow();

      reservation.settle(usage(1_000, 2_500));

      assertThat(usage(buckets(call).get(0))).isEqualTo(3_500);
      ApiException refusal = limiter.admit(call).refusal();
      RetryInfo retry = (RetryInfo) refusal.details().get(1);
      ticker.advance(Duration.ofMillis(Durations.toMillis(retry.getRetryDelay())));
      assertThat(limiter.admit(call).isAdmitted()).isTrue();
    }

    @Test
    void aRequestThatCannotFitIsRefusedBeforeAnyUpstreamCall() {
      policies(policy("gold", List.of(), totalTokens(2_000, MINUTE)));
      limiter.admit(call).orThrow();

      assertThat(limiter.admit(call).isAdmitted()).isFalse();
      assertThat(limiter.admit(request().estimatedInputTokens(300).maxOutputTokens(200).build()).isAdmitted())
          .isTrue();
    }

    @Test
    void releaseGivesEverythingBackTheRequestIncluded() {
      policies(policy("gold", List.of(), totalTokens(100_000, MINUTE), requests(1, MINUTE)));
      Reservation reservation = limiter.admit(call).orThrow();

      assertThat(reservation.release()).isTrue();

      assertThat(buckets(call)).extracting(RateLimiterTest.this::usage).containsExactly(0.0, 0.0);
      assertThat(limiter.admit(call).isAdmitted()).isTrue();
    }

    @Test
    void commitKeepsTheReservationAsTheCharge() {
      policies(policy("gold", List.of(), totalTokens(100_000, MINUTE)));
      Reservation reservation = limiter.admit(call).orThrow();

      assertThat(reservation.commit()).isTrue();

      assertThat(usage(buckets(call).get(0))).isEqualTo(1_500);
    }

    @Test
    void onlyTheFirstEndingCounts() {
      policies(policy("gold", List.of(), totalTokens(100_000, MINUTE)));
      Reservation reservation = limiter.admit(call).orThrow();

      assertThat(reservation.settle(usage(10, 10))).isTrue();
      assertThat(reservation.release()).isFalse();
      assertThat(reservation.settle(usage(10, 10))).isFalse();
      assertThat(reservation.commit()).isFalse();

      assertThat(reservation.isDone()).isTrue();
      assertThat(usage(buckets(call).get(0))).isEqualTo(20);
    }

    @Test
    void racingEndingsSettleExactlyOnce() throws Exception {
      policies(policy("gold", List.of(), totalTokens(1_000_000, MINUTE)));
      ExecutorService threads = Executors.newFixedThreadPool(8);
      try {
        for (int round = 0; round < 200; round++) {
          Reservation reservation = limiter.admit(call).orThrow();
          CountDownLatch go = new CountDownLatch(1);
          List<Future<Boolean>> endings = new ArrayList<>();
          for (int t = 0; t < 8; t++) {
            boolean release = t % 2 == 0;
            endings.add(
                threads.submit(
                    () -> {
                      go.await();
                      return release ? reservation.release() : reservation.settle(usage(500, 0));
                    }));
          }
          go.countDown();
          int winners = 0;
          for (Future<Boolean> ending : endings) {
            winners += ending.get() ? 1 : 0;
          }
          assertThat(winners).isEqualTo(1);
        }
      } finally {
        threads.shutdownNow();
      }
      double usage = usage(buckets(call).get(0));
      assertThat(usage % 500).isZero();
      assertThat(usage).isBetween(0.0, 200 * 500.0);
    }

    @Test
    void aProviderThatReportsNoTotalIsChargedTheSumOfInputAndOutput() {
      policies(policy("gold", List.of(), totalTokens(100_000, MINUTE)));
      Reservation reservation = limiter.admit(call).orThrow();

      reservation.settle(Usage.newBuilder().setInputTokens(700).setOutputTokens(50).build());

      assertThat(usage(buckets(call).get(0))).isEqualTo(750);
    }
  }

  @Nested
  class Shadow {
    @Test
    void aShadowPolicyCountsButNeverRefuses() {
      policies(shadow(policy("gold", List.of(RATE_LIMIT_DIMENSION_CONSUMER), requests(2, MINUTE))));

      for (int i = 0; i < 5; i++) {
        assertThat(limiter.admit(request().build()).isAdmitted()).isTrue();
      }

      assertThat(
              meters
                  .get("sluice.ratelimit.refusals")
                  .tag("policy", "gold")
                  .tag("mode", "shadow")
                  .counter()
                  .count())
          .isEqualTo(3);
      // Would-be refusals are not charged, so the count is what enforcing would have admitted.
      assertThat(usage(buckets(request().build()).get(0))).isEqualTo(2);
    }

    @Test
    void anEnforcedRefusalRollsBackTheShadowChargesToo() {
      policies(
          shadow(policy("route-policy", List.of(), requests(100, MINUTE))),
          policy("gold", List.of(), requests(1, MINUTE)));
      limiter.admit(request().build()).orThrow();

      assertThat(limiter.admit(request().build()).isAdmitted()).isFalse();

      assertThat(usage(buckets(request().build()).get(0))).isEqualTo(1);
    }

    @Test
    void switchingAPolicyFromShadowToEnforceKeepsItsCount() {
      RateLimitPolicy gold = policy("gold", List.of(), requests(2, MINUTE));
      policies(shadow(gold));
      limiter.admit(request().build()).orThrow();
      limiter.admit(request().build()).orThrow();

      policies(gold);

      assertThat(limiter.admit(request().build()).isAdmitted()).isFalse();
    }
  }

  @Nested
  class Shares {
    @Test
    void withoutALeaseEachNodeEnforcesItsStaticShare() {
      RateLimiter oneOfFour =
          RateLimiter.create(
              table::get,
              RateLimiter.Options.builder().nanoTicker(ticker).fleetSizeHint(4).build());
      policies(policy("gold", List.of(), requests(100, MINUTE)));

      int admitted = 0;
      for (int i = 0; i < 100; i++) {
        admitted += oneOfFour.admit(request().build()).isAdmitted() ? 1 : 0;
      }

      assertThat(admitted).isEqualTo(25);
    }

    @Test
    void aLeasedShareAppliesUntilItLapsesThenTheStaticShareReturns() {
      policies(policy("gold", List.of(), requests(100, MINUTE)));
      LimitBucket bucket = buckets(request().build()).get(0);
      limiter.admit(request().build()).orThrow();
      BucketState state = impl().state(bucket.id());
      state.lease(new BucketState.Lease(10, ticker.getAsLong() + Duration.ofSeconds(10).toNanos()));

      int admitted = 0;
      for (int i = 0; i < 20; i++) {
        admitted += limiter.admit(request().build()).isAdmitted() ? 1 : 0;
      }
      assertThat(admitted).as("up to the leased 10, one already used").isEqualTo(9);

      ticker.advance(Duration.ofSeconds(10));
      assertThat(limiter.admit(request().build()).isAdmitted())
          .as("the static share (the whole limit for a fleet of one)")
          .isTrue();
    }

    @Test
    void aRequestLargerThanTheNodesShareButWithinTheLimitIsToldToRetryAfterTheNextReassignment() {
      policies(policy("gold", List.of(), totalTokens(10_000, MINUTE)));
      RequestQuotaContext ctx = request().estimatedInputTokens(3_000).maxOutputTokens(1_000).build();
      limiter.admit(request().estimatedInputTokens(1).maxOutputTokens(0).build()).orThrow();
      impl()
          .state(buckets(ctx).get(0).id())
          .lease(new BucketState.Lease(2_000, ticker.getAsLong() + Duration.ofSeconds(10).toNanos()));

      ApiException refusal = limiter.admit(ctx).refusal();

      RetryInfo retry = (RetryInfo) refusal.details().get(1);
      assertThat(Durations.toMillis(retry.getRetryDelay())).isGreaterThanOrEqualTo(1_000);
    }

    @Test
    void aLeaseAboveALoweredAmountIsCappedAtTheAmount() {
      policies(policy("gold", List.of(), requests(100, MINUTE)));
      limiter.admit(request().build()).orThrow();
      impl()
          .state(buckets(request().build()).get(0).id())
          .lease(new BucketState.Lease(100, ticker.getAsLong() + Duration.ofSeconds(10).toNanos()));

      policies(policy("gold", List.of(), requests(3, MINUTE)));

      assertThat(limiter.admit(request().build()).isAdmitted()).isTrue();
      assertThat(limiter.admit(request().build()).isAdmitted()).isTrue();
      assertThat(limiter.admit(request().build()).isAdmitted()).isFalse();
    }
  }

  @Nested
  class Pacing {
    private RateLimitPolicy paced(long amount, long burst) {
      return policy(
          "gold",
          List.of(),
          requests(amount, MINUTE).toBuilder().setBurst(burst).build());
    }

    @Test
    void aPacedLimitAdmitsItsBurstAtOnceThenOneRequestPerRefill() {
      policies(paced(600, 12));
      for (int i = 0; i < 12; i++) {
        limiter.admit(request().build()).orThrow();
      }

      Admission refused = limiter.admit(request().build());

      assertThat(refused.isAdmitted()).isFalse();
      // 600 a minute refill one request every 100 ms.
      RetryInfo retry = (RetryInfo) refused.refusal().details().get(1);
      assertThat(Durations.toMillis(retry.getRetryDelay())).isEqualTo(100);
      ticker.advance(Duration.ofMillis(99));
      assertThat(limiter.admit(request().build()).isAdmitted()).isFalse();
      ticker.advance(Duration.ofMillis(1));
      assertThat(limiter.admit(request().build()).isAdmitted()).isTrue();
      assertThat(limiter.admit(request().build()).isAdmitted()).isFalse();
    }

    @Test
    void underSustainedOverloadAPacedLimitAdmitsEvenlyAndTheAmountGiveOrTakeTheBurstPerMinute() {
      policies(paced(600, 12));
      long[] perSecond = new long[180];
      // Forty requests a second, four times the limit, for three minutes.
      for (int tick = 0; tick < 180 * 40; tick++) {
        if (limiter.admit(request().build()).isAdmitted()) {
          perSecond[tick / 40]++;
        }
        ticker.advance(Duration.ofMillis(25));
      }

      for (int second = 1; second < 180; second++) {
        assertThat(perSecond[second]).as("admitted in second %s", second).isBetween(9L, 11L);
      }
      for (int from = 0; from + 60 <= 180; from++) {
        long window = 0;
        for (int second = from; second < from + 60; second++) {
          window += perSecond[second];
        }
        // The first minute also spends the full bucket it started with.
        assertThat(window).as("admitted in the minute from second %s", from).isBetween(588L, 612L);
      }
    }

    @Test
    void aRequestLargerThanTheBurstWaitsForAFullBucketAndLeavesItInDebt() {
      policies(
          policy(
              "gold",
              List.of(),
              totalTokens(6_000, MINUTE).toBuilder().setBurst(100).build()));
      RequestQuotaContext large = request().estimatedInputTokens(150).maxOutputTokens(50).build();

      limiter.admit(large).orThrow();

      // 200 tokens out of a full bucket of 100 leave it 100 in debt: 200 tokens of refill, at
      // 100 a second, before the next large request fits a full bucket again.
      Admission refused = limiter.admit(large);
      RetryInfo retry = (RetryInfo) refused.refusal().details().get(1);
      assertThat(Durations.toMillis(retry.getRetryDelay())).isEqualTo(2_000);
      ticker.advance(Duration.ofMillis(1_999));
      assertThat(limiter.admit(large).isAdmitted()).isFalse();
      ticker.advance(Duration.ofMillis(1));
      assertThat(limiter.admit(large).isAdmitted()).isTrue();
    }

    @Test
    void whatASettledCallDidNotUseGoesBackIntoTheBucket() {
      policies(
          policy(
              "gold",
              List.of(),
              totalTokens(6_000, MINUTE).toBuilder().setBurst(100).build()));
      RequestQuotaContext ctx = request().estimatedInputTokens(20).maxOutputTokens(80).build();
      Admission first = limiter.admit(ctx);
      assertThat(limiter.admit(ctx).isAdmitted()).isFalse();

      first.reservation().settle(usage(20, 10));

      assertThat(limiter.admit(ctx).isAdmitted()).as("70 tokens back, then 100 fit").isFalse();
      ticker.advance(Duration.ofMillis(300));
      assertThat(limiter.admit(ctx).isAdmitted()).isTrue();
    }

    @Test
    void aLimitWithoutABurstDoesNotPace() {
      policies(paced(600, 0));

      for (int i = 0; i < 600; i++) {
        limiter.admit(request().build()).orThrow();
      }
      assertThat(limiter.admit(request().build()).isAdmitted()).isFalse();
    }

    @Test
    void addingABurstToALimitInUsePacesItFromAFullBucket() {
      policies(paced(600, 0));
      for (int i = 0; i < 100; i++) {
        limiter.admit(request().build()).orThrow();
      }

      policies(paced(600, 5));

      for (int i = 0; i < 5; i++) {
        limiter.admit(request().build()).orThrow();
      }
      assertThat(limiter.admit(request().build()).isAdmitted()).isFalse();
    }
  }

  @Test
  void aLimitWhoseWindowChangesStartsCountingAfresh() {
    policies(policy("gold", List.of(), requests(1, MINUTE)));
    limiter.admit(request().build()).orThrow();

    policies(policy("gold", List.of(), requests(1, HOUR)));

    assertThat(limiter.admit(request().build()).isAdmitted()).isTrue();
  }

  static Usage usage(int input, int output) {
    return Usage.newBuilder()
        .setInputTokens(input)
        .setOutputTokens(output)
        .setTotalTokens(input + output)
        .build();
  }
}
