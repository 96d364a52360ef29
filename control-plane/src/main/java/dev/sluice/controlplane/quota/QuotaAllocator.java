package dev.sluice.controlplane.quota;

import static com.google.common.base.Preconditions.checkArgument;
import static java.util.Objects.requireNonNull;

import dev.sluice.config.v1.ConfigSnapshot;
import dev.sluice.config.v1.RateLimitPolicy;
import dev.sluice.discovery.v1.LeaseQuotaRequest;
import dev.sluice.discovery.v1.LeaseQuotaResponse;
import java.time.Duration;
import java.util.Collection;
import java.util.function.LongSupplier;
import org.jspecify.annotations.Nullable;

/**
 * Divides each rate limit among the data planes that report demand for it, and leases each its
 * share: the semantics of {@code DiscoveryService.LeaseQuota}.
 *
 * <p>For every bucket it keeps each node's latest demand and the leases outstanding, and
 * guarantees that the leases that may still be in force never add up to more than the limit:
 * a node whose share shrinks is still counted at its old lease until it reports having applied
 * the new one (or the old one lapses), so capacity taken from one node reaches another only once
 * the first has let go. Shares are max-min fair (water-filling) over each node's <em>desire</em>:
 * the units it has used in the window ({@code QuotaDemand.used}) plus its demand over a short
 * horizon ({@link Options#demandHorizon()}), so capacity a quiet node holds but does not use goes
 * to the nodes that want more; during a bucket's first window, when nothing can age out yet, a
 * node's desire covers its demand until the window ends. Nodes desiring less than an equal share
 * get what they desire; the rest split the remainder equally; capacity nobody desires is cut into
 * one part per node with demand plus one, and the last part is kept back as a pool for nodes that
 * turn up. For two refresh intervals after a bucket first appears, no node is granted more than
 * {@code amount / fleet_size} until every node of the fleet has reported for it, so that whichever
 * reports first does not take what the others are about to ask for. A node that does not report
 * {@code used} (one older than the field) is divided for by its {@code wants} alone.
 *
 * <p>A node's {@code has} is what it holds: its lease, or what it has already used in the
 * window if that is more (used units stay used until they age out of the window), so capacity a
 * node has consumed is not handed to another node before it ages out. Nodes that stop reporting
 * are counted until their lease lapses and forgotten after. After a start (for example a newly
 * elected allocator) the allocator learns for one lease duration: it records reports but grants
 * nothing, so it cannot over-grant capacity that a previous allocator leased out and nobody has
 * reported yet; nodes enforce their static share meanwhile. Of several control-plane replicas only
 * the elected one runs an allocator, a new one for every term it wins (see {@link
 * QuotaLeaseRouter}).
 *
 * <p>Thread-safe; calls are serialized on one lock, held for the work of one request (not the
 * per-request path of inference traffic: each data plane calls about once a second).
 */
public interface QuotaAllocator {
  /**
   * Records {@code request}'s demand and returns the node's leases: one per reported bucket whose
   * policy and limit exist in the current config (none while learning), with {@code fleet_size},
   * the number of nodes that reported within a lease duration, this one included.
   *
   * @throws dev.sluice.grpc.ApiException {@code INVALID_ARGUMENT} for a missing or malformed node
   *     id, more than 10,000 demands, a demand without a bucket, or a negative or non-finite
   *     {@code wants}, {@code has} or {@code used}
   */
  LeaseQuotaResponse lease(LeaseQuotaRequest request);

  /**
   * Replaces the limit definitions with the {@code RateLimitPolicy} resources of {@code
   * snapshot}. Call it with every newly published snapshot. Buckets of removed policies or limits
   * get no further leases; a lowered amount applies to the next grants, and leases above it shrink
   * as their nodes report.
   */
  void apply(ConfigSnapshot snapshot);

  /** As {@link #apply(ConfigSnapshot)}, from the policies themselves. */
  void apply(Collection<RateLimitPolicy> policies);

  /**
   * An allocator.
   *
   * @param controlPlaneId this replica, echoed in every response
   * @param nanoTicker monotonic time in nanoseconds ({@code System::nanoTime}, or a test clock)
   */
  static QuotaAllocator create(String controlPlaneId, LongSupplier nanoTicker, Options options) {
    return new WaterFillingQuotaAllocator(controlPlaneId, nanoTicker, options);
  }

  /** Settings of a {@link QuotaAllocator}. */
  final class Options {
    private final Duration leaseDuration;
    private final Duration refreshInterval;
    private final Duration learningPeriod;
    private final Duration demandHorizon;

    private Options(Builder b) {
      checkArgument(
          b.leaseDuration.compareTo(b.refreshInterval.multipliedBy(2)) >= 0,
          "leaseDuration: %s (expected: >= 2 * refreshInterval %s)",
          b.leaseDuration,
          b.refreshInterval);
      this.leaseDuration = b.leaseDuration;
      this.refreshInterval = b.refreshInterval;
      this.learningPeriod = b.learningPeriod == null ? b.leaseDuration : b.learningPeriod;
      this.demandHorizon = b.demandHorizon;
    }

    public static Options defaults() {
      return builder().build();
    }

    public static Builder builder() {
      return new Builder();
    }

    /**
     * How long a lease holds. Default 10 s: a node rides out nine missed refreshes before falling
     * back to its static share, and a node that vanishes frees its share within 10 s.
     */
    public Duration leaseDuration() {
      return leaseDuration;
    }

    /** How often nodes should report. Default 1 s. */
    public Duration refreshInterval() {
      return refreshInterval;
    }

    /**
     * How long after its start the allocator grants nothing and only learns what nodes hold.
     * Default: one lease duration, after which every lease a previous allocator granted has lapsed
     * or been reported. Zero for an allocator that knows no other ever ran (tests, dev).
     */
    public Duration learningPeriod() {
      return learningPeriod;
    }

    /**
     * How much of its demand a node may admit beyond what it has used in the window: a node that
     * reports its usage ({@code QuotaDemand.used}) is divided for as wanting that usage plus its
     * demand rate over this horizon. Default 3 s, three refresh intervals: a new grant reaches a
     * node one report after it asked and capacity another node lets go of one report later, so
     * the horizon covers that lag with a margin for arrivals above the average. Longer leaves more
     * capacity idle at quiet nodes; shorter refuses their bursts.
     */
    public Duration demandHorizon() {
      return demandHorizon;
    }

    /** Builds {@link Options}. */
    public static final class Builder {
      private Duration leaseDuration = Duration.ofSeconds(10);
      private Duration refreshInterval = Duration.ofSeconds(1);
      private @Nullable Duration learningPeriod;
      private Duration demandHorizon = Duration.ofSeconds(3);

      private Builder() {}

      public Builder leaseDuration(Duration leaseDuration) {
        this.leaseDuration = positive(leaseDuration, "leaseDuration");
        return this;
      }

      public Builder refreshInterval(Duration refreshInterval) {
        this.refreshInterval = positive(refreshInterval, "refreshInterval");
        return this;
      }

      public Builder learningPeriod(Duration learningPeriod) {
        requireNonNull(learningPeriod, "learningPeriod");
        checkArgument(
            !learningPeriod.isNegative(), "learningPeriod: %s (expected: >= 0)", learningPeriod);
        this.learningPeriod = learningPeriod;
        return this;
      }

      public Builder demandHorizon(Duration demandHorizon) {
        this.demandHorizon = positive(demandHorizon, "demandHorizon");
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
