package dev.sluice.dataplane.ratelimit;

import static dev.sluice.dataplane.ratelimit.Policies.policy;
import static dev.sluice.dataplane.ratelimit.Policies.requests;
import static dev.sluice.dataplane.ratelimit.Policies.totalTokens;
import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.inference.v1.ContentDelta;
import dev.sluice.inference.v1.StreamChatResponse;
import dev.sluice.inference.v1.ToolCallDelta;
import dev.sluice.inference.v1.Usage;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Reservation and settlement of streamed calls that complete, are cancelled, or break. */
class CallSettlementTest {
  private static final Duration MINUTE = Duration.ofMinutes(1);

  private final FakeTicker ticker = new FakeTicker(Duration.ofDays(1000).toNanos());
  private final RateLimitTable table =
      RateLimitTable.compile(
          List.of(policy("gold", List.of(), totalTokens(100_000, MINUTE), requests(100, MINUTE))));
  private final RateLimiter limiter =
      RateLimiter.create(() -> table, RateLimiter.Options.builder().nanoTicker(ticker).build());
  private final RequestQuotaContext call =
      RequestQuotaContext.builder()
          .addPolicies("gold")
          .estimatedInputTokens(1_000)
          .maxOutputTokens(2_000)
          .build();

  private CallSettlement admit() {
    return CallSettlement.of(limiter.admit(call).orThrow(), call.estimatedInputTokens());
  }

  private double tokens() {
    return usage(0);
  }

  private double requestsCounted() {
    return usage(1);
  }

  private double usage(int i) {
    LimitBucket bucket = table.bucketsFor(call).get(i);
    return ((SlidingWindowRateLimiter) limiter).state(bucket.id()).usage(ticker.getAsLong());
  }

  private static StreamChatResponse text(String text) {
    return StreamChatResponse.newBuilder()
        .setContentDelta(ContentDelta.newBuilder().setText(text))
        .build();
  }

  private static StreamChatResponse usageEvent(int input, int output) {
    return StreamChatResponse.newBuilder()
        .setUsage(
            Usage.newBuilder()
                .setInputTokens(input)
                .setOutputTokens(output)
                .setTotalTokens(input + output))
        .build();
  }

  @Test
  void aCompletedStreamIsChargedTheUsageOfItsFinalEvent() {
    CallSettlement settlement = admit();
    assertThat(tokens()).as("reserved").isEqualTo(3_000);

    settlement.upstreamStarted();
    settlement.onEvent(text("Hello"));
    settlement.onEvent(usageEvent(980, 412));
    settlement.completed(null);

    assertThat(tokens()).isEqualTo(1_392);
    assertThat(requestsCounted()).isEqualTo(1);
  }

  @Test
  void aCompletedUnaryCallIsChargedItsResponsesUsage() {
    CallSettlement settlement = admit();
    settlement.upstreamStarted();

    settlement.completed(Usage.newBuilder().setInputTokens(990).setOutputTokens(10).setTotalTokens(1_000).build());

    assertThat(tokens()).isEqualTo(1_000);
  }

  @Test
  void aStreamTheClientCancelsIsChargedItsPromptAndTheOutputSentSoFar() {
    CallSettlement settlement = admit();
    settlement.upstreamStarted();
    settlement.onEvent(text("x".repeat(400)));
    settlement.onEvent(
        StreamChatResponse.newBuilder()
            .setToolCallDelta(ToolCallDelta.newBuilder().setName("f").setArgumentsDelta("{}!"))
            .build());

    settlement.cancelled();

    // 1,000 estimated input tokens and 404 characters of output at four per token.
    assertThat(tokens()).isEqualTo(1_000 + 101);
    assertThat(settlement.isDone()).isTrue();
  }

  @Test
  void aBrokenStreamIsChargedTheUsageTheAdapterReportedSoFar() {
    CallSettlement settlement = admit();
    settlement.upstreamStarted();
    settlement.onEvent(text("partial answer"));

    settlement.failed(Usage.newBuilder().setInputTokens(1_010).setOutputTokens(3).build());

    assertThat(tokens()).isEqualTo(1_013);
  }

  @Test
  void aBrokenStreamWithoutUsageIsChargedWhatWasMeasured() {
    CallSettlement settlement = admit();
    settlement.upstreamStarted();
    settlement.onEvent(text("x".repeat(80)));

    settlement.failed(null);

    assertThat(tokens()).isEqualTo(1_020);
  }

  @Test
  void aBrokenStreamAfterItsUsageEventIsChargedThatUsage() {
    CallSettlement settlement = admit();
    settlement.upstreamStarted();
    settlement.onEvent(usageEvent(1_000, 250));

    settlement.failed(null);

    assertThat(tokens()).isEqualTo(1_250);
  }

  @Test
  void aCallThatNeverReachedAProviderGivesEverythingBack() {
    CallSettlement settlement = admit();

    settlement.cancelled();

    assertThat(tokens()).isZero();
    assertThat(requestsCounted()).isZero();
  }

  @Test
  void aCancelRacingTheCompletionSettlesOnce() {
    CallSettlement settlement = admit();
    settlement.upstreamStarted();
    settlement.onEvent(usageEvent(1_000, 100));

    settlement.completed(null);
    settlement.cancelled();
    settlement.failed(Usage.newBuilder().setInputTokens(5_000).build());

    assertThat(tokens()).isEqualTo(1_100);
  }
}
