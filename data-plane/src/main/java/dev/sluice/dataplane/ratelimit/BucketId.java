package dev.sluice.dataplane.ratelimit;

import dev.sluice.config.v1.RateLimitMetric;
import dev.sluice.discovery.v1.QuotaBucket;

/**
 * Identity of one bucket's local state: the fleet-wide bucket (policy, limit position, dimension
 * key) plus what the limit counts and over which window. The last two are part of the identity so
 * that a config change to a limit's metric or window starts a fresh count rather than mixing
 * units; amount and mode are not, so raising a limit or switching it from shadow to enforce keeps
 * the count.
 */
record BucketId(String policy, int limitIndex, String key, RateLimitMetric metric, long windowNanos) {

  QuotaBucket toProto() {
    return QuotaBucket.newBuilder().setPolicy(policy).setLimitIndex(limitIndex).setKey(key).build();
  }

  /** Whether {@code bucket} names the same fleet-wide bucket. */
  boolean sameBucket(QuotaBucket bucket) {
    return bucket.getLimitIndex() == limitIndex
        && bucket.getPolicy().equals(policy)
        && bucket.getKey().equals(key);
  }
}
