package dev.sluice.dataplane.ratelimit;

import static java.util.Objects.requireNonNull;

import com.google.common.annotations.VisibleForTesting;
import com.google.rpc.QuotaFailure;
import dev.sluice.grpc.ApiException;
import io.grpc.Status;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;
import java.util.function.Supplier;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.jspecify.annotations.Nullable;

/**
 * The {@link RateLimiter}: one {@link BucketState} (a {@link SlidingWindow} against this node's
 * share) per bucket seen, created on first use and swept by the {@link QuotaLeaseClient} once
 * idle.
 *
 * <p>Admission charges the buckets one after the other, each under its own lock, and gives back
 * what it charged if a later one refuses. No two locks are ever held together, so there is no lock
 * order to respect and no deadlock; the price is that a concurrent request may briefly see a charge
 * that is about to be rolled back and be refused by it, a conservative error.
 */
final class SlidingWindowRateLimiter implements RateLimiter {
  private static final Logger logger = Logger.getLogger(SlidingWindowRateLimiter.class.getName());

  /**
   * Retry hint for a request larger than this node's current share but within the limit: shares
   * are reassigned about every second, and the request may then fit.
   */
  static final long SHARE_REFRESH_HINT_NANOS = TimeUnit.SECONDS.toNanos(1);

  private final Supplier<RateLimitTable> tables;
  private final LongSupplier ticker;
  private final MeterRegistry meterRegistry;
  private final ConcurrentHashMap<BucketId, BucketState> states = new ConcurrentHashMap<>();
  private final ConcurrentHashMap<String, Counter> refusalCounters = new ConcurrentHashMap<>();
  private final int fleetSizeHint;
  private volatile double staticFraction;

  SlidingWindowRateLimiter(Supplier<RateLimitTable> tables, Options options) {
    this.tables = requireNonNull(tables, "tables");
    this.ticker = options.nanoTicker();
    this.meterRegistry = options.meterRegistry();
    this.fleetSizeHint = options.fleetSizeHint();
    this.staticFraction = 1.0 / fleetSizeHint;
  }

  @Override
  public Admission admit(RequestQuotaContext ctx) {
    requireNonNull(ctx, "ctx");
    List<LimitBucket> buckets = tables.get().bucketsFor(ctx);
    if (buckets.isEmpty()) {
      return Admission.admitted(Reservation.none());
    }
    long now = ticker.getAsLong();
    double fraction = staticFraction;
    int n = buckets.size();
    BucketState[] charged = new BucketState[n];
    long[] slots = new long[n];
    long[] amounts = new long[n];
    for (int i = 0; i < n; i++) {
      LimitBucket bucket = buckets.get(i);
      long cost = bucket.reservationFor(ctx);
      BucketState state;
      long slot;
      do {
        state = stateFor(bucket.id(), now);
        double capacity = state.capacity(now, bucket.amount(), fraction);
        slot = state.tryAcquire(now, cost, capacity, bucket.paceFor(capacity));
      } while (slot == BucketState.EVICTED);
      if (slot != BucketState.REFUSED) {
        charged[i] = state;
        slots[i] = slot;
        amounts[i] = cost;
      } else if (bucket.shadow()) {
        shadowRefused(bucket);
      } else {
        for (int j = 0; j < i; j++) {
          if (charged[j] != null) {
            charged[j].refund(now, slots[j], amounts[j]);
          }
        }
        return Admission.refused(refusal(ctx, buckets, i, now, fraction));
      }
    }
    return Admission.admitted(new BucketReservation(this, buckets, charged, slots, amounts));
  }

  /**
   * The refusal for a request that bucket {@code first} refused: it names every enforcing bucket
   * that would refuse (the first one first) and asks the caller to wait until all of them would
   * fit. Buckets after {@code first} were never tried, so their demand is counted here.
   */
  private ApiException refusal(
      RequestQuotaContext ctx, List<LimitBucket> buckets, int first, long now, double fraction) {
    QuotaFailure.Builder failure = QuotaFailure.newBuilder();
    long waitNanos = 0;
    boolean retryable = true;
    LimitBucket firstBucket = buckets.get(first);
    for (int i = first; i < buckets.size(); i++) {
      LimitBucket bucket = buckets.get(i);
      long cost = bucket.reservationFor(ctx);
      BucketState state = stateFor(bucket.id(), now);
      double capacity = state.capacity(now, bucket.amount(), fraction);
      BucketState.Pace pace = bucket.paceFor(capacity);
      long wait =
          i == first
              ? state.nanosUntilFits(now, cost, capacity, pace)
              : state.demandAndWait(now, cost, capacity, pace);
      if (i > first && wait == 0 && cost <= capacity) {
        continue;
      }
      if (bucket.shadow()) {
        shadowRefused(bucket);
        continue;
      }
      refusalCounter(bucket.policy(), "enforce").increment();
      if (cost > bucket.amount()) {
        retryable = false;
        failure.addViolations(violation(bucket, describeTooLarge(bucket, cost)));
        continue;
      }
      if (cost > capacity) {
        wait = Math.max(wait, SHARE_REFRESH_HINT_NANOS);
      }
      waitNanos = Math.max(waitNanos, wait);
      failure.addViolations(violation(bucket, describe(bucket)));
    }
    ApiException.Builder error =
        ApiException.builder(Status.Code.RESOURCE_EXHAUSTED, REASON)
            .message(
                (retryable ? "rate limit exceeded: " : "request exceeds a rate limit: ")
                    + failure.getViolations(0).getDescription()
                    + " ("
                    + firstBucket.subject()
                    + ")")
            .metadata("policy", firstBucket.policy())
            .metadata("limit_index", Integer.toString(firstBucket.limitIndex()))
            .quotaFailure(failure.build());
    if (retryable) {
      // Whole milliseconds, rounded up: grpc-retry-pushback-ms must not invite an early retry.
      long millis = Math.max(1, TimeUnit.NANOSECONDS.toMillis(waitNanos + 999_999));
      error.retryAfter(Duration.ofMillis(millis));
    }
    return error.build();
  }

  private static QuotaFailure.Violation violation(LimitBucket bucket, String description) {
    QuotaFailure.Violation.Builder violation =
        QuotaFailure.Violation.newBuilder()
            .setSubject(bucket.subject())
            .setDescription(description)
            .setQuotaId(bucket.policy() + "/limit:" + bucket.limitIndex())
            .setQuotaMetric(ApiException.DOMAIN + "/" + metricName(bucket))
            .setQuotaValue(bucket.amount());
    if (!bucket.key().isEmpty()) {
      for (String pair : bucket.key().split(",", -1)) {
        int eq = pair.indexOf('=');
        violation.putQuotaDimensions(pair.substring(0, eq), pair.substring(eq + 1));
      }
    }
    return violation.build();
  }

  private static String describe(LimitBucket bucket) {
    return "at most " + bucket.amount() + " " + bucket.unit() + " per " + windowName(bucket);
  }

  private static String describeTooLarge(LimitBucket bucket, long cost) {
    return "the request needs "
        + cost
        + " "
        + bucket.unit()
        + ", more than the "
        + bucket.amount()
        + " allowed per "
        + windowName(bucket)
        + "; lower max_output_tokens or shorten the prompt";
  }

  private static String windowName(LimitBucket bucket) {
    Duration window = bucket.window();
    if (window.equals(Duration.ofSeconds(1))) {
      return "second";
    } else if (window.equals(Duration.ofMinutes(1))) {
      return "minute";
    } else if (window.equals(Duration.ofHours(1))) {
      return "hour";
    } else if (window.equals(Duration.ofDays(1))) {
      return "day";
    }
    return window.toString();
  }

  private static String metricName(LimitBucket bucket) {
    return switch (bucket.metric()) {
      case RATE_LIMIT_METRIC_INPUT_TOKENS -> "input_tokens";
      case RATE_LIMIT_METRIC_OUTPUT_TOKENS -> "output_tokens";
      case RATE_LIMIT_METRIC_TOTAL_TOKENS -> "total_tokens";
      default -> "requests";
    };
  }

  private void shadowRefused(LimitBucket bucket) {
    refusalCounter(bucket.policy(), "shadow").increment();
    if (logger.isLoggable(Level.FINE)) {
      logger.fine("Shadow rate limit would refuse: " + bucket.subject() + ", " + describe(bucket));
    }
  }

  private Counter refusalCounter(String policy, String mode) {
    return refusalCounters.computeIfAbsent(
        mode + '/' + policy,
        k ->
            Counter.builder("sluice.ratelimit.refusals")
                .description(
                    "Requests refused by a rate limit (mode=enforce) or that a shadow limit would"
                        + " have refused (mode=shadow)")
                .tag("policy", policy)
                .tag("mode", mode)
                .register(meterRegistry));
  }

  /** Charges a settlement's excess, following the bucket to its new state if it was swept. */
  void chargeExcess(BucketState state, BucketId id, long amount, long now) {
    BucketState target = state;
    while (target.chargeExcess(now, amount) == BucketState.EVICTED) {
      target = stateFor(id, now);
    }
  }

  private BucketState stateFor(BucketId id, long now) {
    BucketState state = states.get(id);
    return state != null ? state : states.computeIfAbsent(id, k -> new BucketState(k, now));
  }

  long now() {
    return ticker.getAsLong();
  }

  RateLimitTable table() {
    return tables.get();
  }

  /** The live bucket states, for the lease client; weakly consistent. */
  Collection<BucketState> states() {
    return states.values();
  }

  /** Removes a state the lease client found idle and marked evicted. */
  void remove(BucketState state) {
    states.remove(state.id, state);
  }

  /**
   * Sets the static share to {@code 1 / max(fleetSizeHint, fleetSize)} of each limit: the control
   * plane's count of reporting nodes ({@code LeaseQuotaResponse.fleet_size}) can only make it
   * smaller than configured, never larger, so the share stays conservative when the fleet has
   * grown past the hint and no lower than configured when the count misses nodes.
   */
  void fleetSize(int fleetSize) {
    this.staticFraction = 1.0 / Math.max(fleetSizeHint, fleetSize);
  }

  @VisibleForTesting
  @Nullable BucketState state(BucketId id) {
    return states.get(id);
  }
}
