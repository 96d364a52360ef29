package dev.sluice.bench.ratelimit;

import static com.google.common.base.Preconditions.checkArgument;

import dev.sluice.bench.ratelimit.AccuracyReport.MetricAccuracy;
import dev.sluice.dataplane.ratelimit.Admission;
import dev.sluice.dataplane.ratelimit.RateLimitTable;
import dev.sluice.dataplane.ratelimit.RateLimiter;
import dev.sluice.dataplane.ratelimit.RequestQuotaContext;
import java.time.Duration;
import java.util.List;

/**
 * What one sliding window holding the whole limit alone (the data plane's own limiter, with no
 * fleet to share it with) admits of the same calls, sent at the times the driver planned, each
 * costing the tokens the run's calls used on average: the yardstick for the fleet's figures.
 *
 * <p>A single limiter does not admit the limit in every window either: under sustained overload
 * it admits whenever units age out, so what it admitted in a burst comes back as a burst a window
 * later, and Poisson arrivals cannot always fill the capacity that frees then. Whatever the fleet
 * loses beyond the yardstick is the cost of dividing the limit.
 */
final class SingleLimiterReplay {
  /** A whole number of days, so that the replay's windows start on slot boundaries. */
  private static final long EPOCH = Duration.ofDays(1000).toNanos();

  private SingleLimiterReplay() {}

  /** Requests and tokens admitted / limit, in the same views as {@link AccuracyReport}. */
  record Yardstick(MetricAccuracy requests, MetricAccuracy tokens) {}

  /**
   * Replays {@code sendNanos} (offsets from the start of the run, in order) through one limiter.
   *
   * @param seconds the length of the run, as in the {@link AdmissionLog}
   */
  static Yardstick replay(
      long[] sendNanos,
      long requestsPerMinute,
      long tokensPerMinute,
      double burstPercent,
      long tokensPerCall,
      int seconds,
      int warmupSeconds) {
    checkArgument(tokensPerCall >= 0, "tokensPerCall: %s (expected: >= 0)", tokensPerCall);
    long[] clock = {EPOCH};
    RateLimitTable table =
        RateLimitTable.compile(List.of(FleetConfig.policy(requestsPerMinute, tokensPerMinute, burstPercent)));
    RateLimiter limiter =
        RateLimiter.create(
            () -> table,
            RateLimiter.Options.builder().nanoTicker(() -> clock[0]).fleetSizeHint(1).build());
    RequestQuotaContext call =
        RequestQuotaContext.builder()
            .consumer(FleetConfig.CONSUMER)
            .model(FleetConfig.MODEL)
            .addPolicies(FleetConfig.POLICY)
            .estimatedInputTokens(tokensPerCall)
            .maxOutputTokens(0)
            .build();
    long[] requests = new long[seconds];
    long[] tokens = new long[seconds];
    for (long at : sendNanos) {
      clock[0] = EPOCH + at;
      Admission admission = limiter.admit(call);
      if (admission.isAdmitted()) {
        admission.reservation().commit();
        int second = (int) Math.min(seconds - 1, at / 1_000_000_000L);
        requests[second]++;
        tokens[second] += tokensPerCall;
      }
    }
    return new Yardstick(
        AccuracyReport.accuracy(requests, requestsPerMinute, warmupSeconds),
        AccuracyReport.accuracy(tokens, tokensPerMinute, warmupSeconds));
  }
}
