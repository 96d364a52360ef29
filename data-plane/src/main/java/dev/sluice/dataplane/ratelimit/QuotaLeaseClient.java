package dev.sluice.dataplane.ratelimit;

import static com.google.common.base.Preconditions.checkArgument;
import static java.util.Objects.requireNonNull;

import dev.sluice.discovery.v1.DiscoveryServiceGrpc;
import dev.sluice.discovery.v1.Node;
import java.time.Duration;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.DoubleSupplier;
import java.util.function.Supplier;
import org.jspecify.annotations.Nullable;

/**
 * Keeps a {@link RateLimiter}'s shares of the fleet-wide limits: every refresh interval (about a
 * second) it reports each bucket's demand to the control plane with {@code
 * DiscoveryService.LeaseQuota} and installs the leases it gets back, in the manner of Google's
 * Doorman.
 *
 * <p>Demand ({@code wants}) is the rate at which the node was asked for units (admitted plus
 * refused, corrected by settlements), smoothed over a few seconds and expressed per window of
 * the limit. {@code used} is the units the node has used in the current window, and {@code has}
 * the larger of that and the unexpired lease: used units stay in the window until they age out,
 * whatever the node's share does meanwhile, so the control plane must count them as held; this is
 * what keeps the fleet's usage within the limit in every window while shares move. The control
 * plane leases a node about its usage plus a few seconds of its demand, so what a node holds
 * beyond that goes to nodes that want more. While any limit is configured, the node reports every
 * interval even before it has traffic (with no demands), so that the control plane counts it in
 * the fleet. A lease counts from when its request was sent, which is no later than when the
 * control plane granted it, so this node lets go of a share no later than the control plane
 * assumes. When the control plane cannot be reached the node keeps every lease until it lapses,
 * then enforces the static share, {@code amount / max(hint, n)}: the hint is {@link
 * RateLimiter.Options#fleetSizeHint()}, and {@code n} the number of reporting nodes the control
 * plane last counted ({@code LeaseQuotaResponse.fleet_size}), so the share stays conservative when
 * the fleet grows past the hint. It keeps retrying with jittered exponential backoff.
 *
 * <p>Threading: everything runs on the given executor, which must run one task at a time (a
 * single-threaded scheduled executor); the request path only reads what it installs. The same
 * sweep also forgets buckets that have been idle for a window and released their lease, so the
 * limiter's memory follows the set of active callers.
 */
public interface QuotaLeaseClient extends AutoCloseable {
  /** Starts reporting; the first report is sent at once. Idempotent. */
  void start();

  /**
   * Stops reporting. Leases already held stay in force until they lapse. Does not shut the
   * executor down.
   */
  @Override
  void close();

  /**
   * A client for {@code limiter}, which must come from {@link RateLimiter#create}; its clock is
   * the limiter's.
   *
   * @param stub the control plane's discovery service; calls get a deadline of {@link
   *     Options#rpcTimeout()}
   * @param node this data plane, as on its config stream
   * @param configVersion the {@code version_info} of the config the node enforces
   * @param executor a serial (single-threaded) scheduler that the client may use exclusively for
   *     its state
   */
  static QuotaLeaseClient create(
      RateLimiter limiter,
      DiscoveryServiceGrpc.DiscoveryServiceFutureStub stub,
      Node node,
      Supplier<String> configVersion,
      ScheduledExecutorService executor,
      Options options) {
    checkArgument(
        limiter instanceof SlidingWindowRateLimiter,
        "limiter: %s (expected: one from RateLimiter.create)",
        limiter);
    return new GrpcQuotaLeaseClient(
        (SlidingWindowRateLimiter) limiter, stub, node, configVersion, executor, options);
  }

  /** Settings of a {@link QuotaLeaseClient}. */
  final class Options {
    private final Duration initialRefreshInterval;
    private final Duration rpcTimeout;
    private final Duration maxBackoff;
    private final @Nullable Duration demandTimeConstant;
    private final int maxDemandsPerRequest;
    private final DoubleSupplier jitter;

    private Options(Builder b) {
      this.initialRefreshInterval = b.initialRefreshInterval;
      this.rpcTimeout = b.rpcTimeout;
      this.maxBackoff = b.maxBackoff;
      this.demandTimeConstant = b.demandTimeConstant;
      this.maxDemandsPerRequest = b.maxDemandsPerRequest;
      this.jitter = b.jitter;
    }

    public static Options defaults() {
      return builder().build();
    }

    public static Builder builder() {
      return new Builder();
    }

    /** Interval between reports until the control plane names one. Default 1 s. */
    public Duration initialRefreshInterval() {
      return initialRefreshInterval;
    }

    /** Deadline of each LeaseQuota call. Default 2 s. */
    public Duration rpcTimeout() {
      return rpcTimeout;
    }

    /**
     * Longest wait between attempts while the control plane fails. Default 4 s: well inside a
     * lease, so one answer after an outage renews leases before they lapse.
     */
    public Duration maxBackoff() {
      return maxBackoff;
    }

    /**
     * Time constant of the exponential moving average of demand, or null (the default) for half
     * of each limit's window, between 1 s and 30 s.
     *
     * <p>Why tie it to the window: units a node has used stay held for a window, so shares can
     * only move as fast as usage ages out; demand estimates that jitter faster than that (Poisson
     * noise of a few requests a second) make capacity flow to the busiest node, where it stays
     * held for a window, and leave the quiet ones short. Half a window keeps the estimate steady
     * (with a 5 s constant a saturated 600/min limit across 3 nodes fell to 0.93 when shares
     * followed demand alone), while a real shift of traffic still moves shares within tens of
     * seconds. The estimate sizes the few seconds of demand the allocator leases a node beyond its
     * usage, and the node's share in the bucket's first window.
     */
    public @Nullable Duration demandTimeConstant() {
      return demandTimeConstant;
    }

    /** Most demands in one LeaseQuota call (the API allows 10,000); more are split. */
    public int maxDemandsPerRequest() {
      return maxDemandsPerRequest;
    }

    /** Uniform random numbers in [0, 1) that spread retries; injectable for tests. */
    public DoubleSupplier jitter() {
      return jitter;
    }

    /** Builds {@link Options}. */
    public static final class Builder {
      private Duration initialRefreshInterval = Duration.ofSeconds(1);
      private Duration rpcTimeout = Duration.ofSeconds(2);
      private Duration maxBackoff = Duration.ofSeconds(4);
      private @Nullable Duration demandTimeConstant;
      private int maxDemandsPerRequest = 10_000;
      private DoubleSupplier jitter = () -> ThreadLocalRandom.current().nextDouble();

      private Builder() {}

      public Builder initialRefreshInterval(Duration interval) {
        this.initialRefreshInterval = positive(interval, "initialRefreshInterval");
        return this;
      }

      public Builder rpcTimeout(Duration timeout) {
        this.rpcTimeout = positive(timeout, "rpcTimeout");
        return this;
      }

      public Builder maxBackoff(Duration maxBackoff) {
        this.maxBackoff = positive(maxBackoff, "maxBackoff");
        return this;
      }

      public Builder demandTimeConstant(Duration timeConstant) {
        this.demandTimeConstant = positive(timeConstant, "demandTimeConstant");
        return this;
      }

      public Builder maxDemandsPerRequest(int max) {
        checkArgument(max >= 1 && max <= 10_000, "maxDemandsPerRequest: %s (expected: 1 to 10000)", max);
        this.maxDemandsPerRequest = max;
        return this;
      }

      public Builder jitter(DoubleSupplier jitter) {
        this.jitter = requireNonNull(jitter, "jitter");
        return this;
      }

      public Options build() {
        return new Options(this);
      }

      private static Duration positive(Duration d, String name) {
        requireNonNull(d, name);
        checkArgument(!d.isNegative() && !d.isZero(), "%s: %s (expected: > 0)", name, d);
        return d;
      }
    }
  }
}
