package dev.sluice.dataplane.routing;

import com.google.common.collect.ImmutableSet;
import com.google.common.collect.Sets;
import com.google.protobuf.util.Durations;
import dev.sluice.config.v1.RetryCondition;
import dev.sluice.config.v1.RetryPolicy;
import java.util.EnumSet;
import java.util.concurrent.TimeUnit;

/**
 * A route's {@link RetryPolicy} with the documented defaults filled in.
 *
 * @param maxAttempts attempts per destination, including the first
 * @param perTryTimeoutNanos limit of one attempt until its first output; 0 means none
 * @param retryOn failure conditions that trigger a retry
 * @param backoffBaseNanos first backoff interval
 * @param backoffMaxNanos upper bound of a backoff interval
 * @param budgetPercent retries in flight as a percentage of requests in flight
 * @param minRetriesPerSecond retries per second allowed regardless of the percentage
 */
record RetrySettings(
    int maxAttempts,
    long perTryTimeoutNanos,
    ImmutableSet<RetryCondition> retryOn,
    long backoffBaseNanos,
    long backoffMaxNanos,
    double budgetPercent,
    int minRetriesPerSecond) {

  /** No retries: what requests that match no route, or a route without a policy, get. */
  static final RetrySettings NONE =
      new RetrySettings(
          1,
          0,
          ImmutableSet.of(),
          TimeUnit.MILLISECONDS.toNanos(100),
          TimeUnit.SECONDS.toNanos(2),
          20,
          3);

  static RetrySettings of(RetryPolicy policy) {
    ImmutableSet<RetryCondition> retryOn =
        policy.getRetryOnCount() == 0
            ? Sets.immutableEnumSet(
                RetryCondition.RETRY_CONDITION_CONNECT_FAILURE,
                RetryCondition.RETRY_CONDITION_SERVER_ERROR)
            : Sets.immutableEnumSet(EnumSet.copyOf(policy.getRetryOnList()));
    return new RetrySettings(
        Math.max(1, policy.getMaxAttempts()),
        policy.hasPerTryTimeout() ? Durations.toNanos(policy.getPerTryTimeout()) : 0,
        retryOn,
        policy.hasBackoffBaseInterval()
            ? Durations.toNanos(policy.getBackoffBaseInterval())
            : NONE.backoffBaseNanos,
        policy.hasBackoffMaxInterval()
            ? Durations.toNanos(policy.getBackoffMaxInterval())
            : NONE.backoffMaxNanos,
        policy.getBudget().getBudgetPercent() > 0 ? policy.getBudget().getBudgetPercent() : 20,
        policy.getBudget().getMinRetriesPerSecond() > 0
            ? policy.getBudget().getMinRetriesPerSecond()
            : 3);
  }

  /** The backoff before retry number {@code retry} (1 for the first), before jitter. */
  long backoffNanos(int retry) {
    long delay = backoffBaseNanos;
    for (int i = 1; i < retry && delay < backoffMaxNanos; i++) {
      delay *= 2;
    }
    return Math.min(delay, backoffMaxNanos);
  }
}
