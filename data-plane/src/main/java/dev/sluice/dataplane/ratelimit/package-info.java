/**
 * Request and token rate limits, enforced on each data plane against a share of every limit that
 * the control plane leases to it.
 *
 * <p>The pieces, in the order a request meets them:
 *
 * <ul>
 *   <li>{@link dev.sluice.dataplane.ratelimit.TokenEstimator} counts the prompt tokens of a
 *       request, so token limits can reserve before the upstream call;
 *   <li>{@link dev.sluice.dataplane.ratelimit.RateLimitTable} is the compiled, immutable form of
 *       the config's {@code RateLimitPolicy} resources: it says which buckets a request draws from;
 *   <li>{@link dev.sluice.dataplane.ratelimit.RateLimiter} admits a request against all of them
 *       at once, returning a {@link dev.sluice.dataplane.ratelimit.Reservation} that the call
 *       settles with its real usage when it ends, however it ends;
 *   <li>{@link dev.sluice.dataplane.ratelimit.QuotaLeaseClient} reports each bucket's demand to the
 *       control plane every second and applies the shares it leases back.
 * </ul>
 *
 * <p>The request path never blocks and never waits for the network: it reads immutable tables and
 * leases and takes one tiny, per-bucket critical section for each limit it draws from. All share
 * changes happen on the lease client's serial executor. See {@code docs/rate-limiting.md} for the
 * algorithm and its error bound.
 */
@NullMarked
package dev.sluice.dataplane.ratelimit;

import org.jspecify.annotations.NullMarked;
