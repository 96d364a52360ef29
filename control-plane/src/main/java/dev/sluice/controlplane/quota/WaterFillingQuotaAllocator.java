package dev.sluice.controlplane.quota;

import static java.util.Objects.requireNonNull;

import com.google.common.annotations.VisibleForTesting;
import com.google.common.collect.ImmutableMap;
import com.google.errorprone.annotations.concurrent.GuardedBy;
import com.google.protobuf.util.Durations;
import dev.sluice.config.v1.ConfigSnapshot;
import dev.sluice.config.v1.RateLimit;
import dev.sluice.config.v1.RateLimitPolicy;
import dev.sluice.config.v1.Resource;
import dev.sluice.discovery.v1.LeaseQuotaRequest;
import dev.sluice.discovery.v1.LeaseQuotaResponse;
import dev.sluice.discovery.v1.QuotaBucket;
import dev.sluice.discovery.v1.QuotaDemand;
import dev.sluice.discovery.v1.QuotaLease;
import dev.sluice.grpc.ApiException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.function.LongSupplier;
import java.util.regex.Pattern;
import org.jspecify.annotations.Nullable;

/**
 * The {@link QuotaAllocator}: per bucket, per node, the latest demand and usage and the leases
 * that may be in force, and a {@link WaterFilling} division of the desires at every report.
 *
 * <p>What a node may hold, as the allocator sees it, is the larger of two amounts, each counted
 * only until it lapses: the grant just made ({@code lease}), and what the node said it held when
 * it reported ({@code held}: its lease or the units it already used in the window, whichever is
 * larger; it lapses with the previous grant). The grant a report gets is its fair share, cut down
 * to what the other nodes leave free: {@code min(target, amount - sum of the others'
 * outstanding)}. By induction the outstanding amounts never add up to more than the amount,
 * whatever order reports arrive in and whichever responses are lost. The target only decides how
 * much of what is free a node gets, so how it is computed (demand, usage, pool, caps) cannot
 * break that bound.
 */
final class WaterFillingQuotaAllocator implements QuotaAllocator {
  /** The largest request LeaseQuota accepts. */
  static final int MAX_DEMANDS = 10_000;

  private static final Pattern NODE_ID = Pattern.compile("[A-Za-z0-9._:-]{1,128}");

  private final String controlPlaneId;
  private final LongSupplier ticker;
  private final long leaseNanos;
  private final com.google.protobuf.Duration leaseDuration;
  private final com.google.protobuf.Duration refreshInterval;
  private final long learningEndsAt;
  private final long horizonNanos;
  private volatile ImmutableMap<String, RateLimitPolicy> policies = ImmutableMap.of();

  private final Object lock = new Object();

  @GuardedBy("lock")
  private final Map<QuotaBucket, Bucket> buckets = new HashMap<>();

  @GuardedBy("lock")
  private long nextSweep;

  /**
   * When each node last reported: the fleet size sent back is the number of entries. Lapsed entries
   * are dropped at most once per refresh interval, so the count may include a node up to that long
   * after its last report: an over-count, which makes static shares smaller, the safe side.
   */
  @GuardedBy("lock")
  private final Map<String, Long> reporters = new HashMap<>();

  @GuardedBy("lock")
  private long nextReporterSweep;

  private final long refreshNanos;

  WaterFillingQuotaAllocator(String controlPlaneId, LongSupplier ticker, Options options) {
    this.controlPlaneId = requireNonNull(controlPlaneId, "controlPlaneId");
    this.ticker = requireNonNull(ticker, "ticker");
    this.leaseNanos = options.leaseDuration().toNanos();
    this.leaseDuration = Durations.fromNanos(leaseNanos);
    this.refreshInterval = Durations.fromNanos(options.refreshInterval().toNanos());
    this.refreshNanos = options.refreshInterval().toNanos();
    long now = ticker.getAsLong();
    this.learningEndsAt = now + options.learningPeriod().toNanos();
    this.horizonNanos = options.demandHorizon().toNanos();
    this.nextSweep = now + leaseNanos;
    this.nextReporterSweep = now;
  }

  @Override
  public void apply(ConfigSnapshot snapshot) {
    List<RateLimitPolicy> found = new ArrayList<>();
    for (Resource resource : snapshot.getResourcesList()) {
      if (resource.hasRateLimitPolicy()) {
        found.add(resource.getRateLimitPolicy());
      }
    }
    apply(found);
  }

  @Override
  public void apply(Collection<RateLimitPolicy> policies) {
    Map<String, RateLimitPolicy> byName = new HashMap<>();
    for (RateLimitPolicy policy : policies) {
      byName.put(policy.getName(), policy);
    }
    this.policies = ImmutableMap.copyOf(byName);
  }

  @Override
  public LeaseQuotaResponse lease(LeaseQuotaRequest request) {
    validate(request);
    String node = request.getNode().getId();
    ImmutableMap<String, RateLimitPolicy> limits = policies;
    LeaseQuotaResponse.Builder response =
        LeaseQuotaResponse.newBuilder()
            .setRefreshInterval(refreshInterval)
            .setControlPlaneId(controlPlaneId);
    synchronized (lock) {
      long now = ticker.getAsLong();
      boolean learning = now - learningEndsAt < 0;
      sweepIfDue(now, limits);
      int fleetSize = countReporter(node, now);
      response.setFleetSize(fleetSize);
      for (QuotaDemand demand : request.getDemandsList()) {
        QuotaBucket id = demand.getBucket();
        RateLimit limit = limitOf(id, limits);
        if (limit == null) {
          continue;
        }
        Bucket bucket = buckets.computeIfAbsent(id, k -> new Bucket(now));
        double granted =
            bucket.report(
                node,
                demand,
                limit.getAmount(),
                Durations.toNanos(limit.getWindow()),
                fleetSize,
                now,
                learning);
        if (granted >= 0) {
          response.addLeases(
              QuotaLease.newBuilder()
                  .setBucket(id)
                  .setGranted(granted)
                  .setLeaseDuration(leaseDuration));
        }
      }
    }
    return response.build();
  }

  /** The bucket's limit, or null if it no longer exists (or allows nothing). */
  private static @Nullable RateLimit limitOf(
      QuotaBucket bucket, Map<String, RateLimitPolicy> limits) {
    RateLimitPolicy policy = limits.get(bucket.getPolicy());
    if (policy == null || bucket.getLimitIndex() >= policy.getLimitsCount()) {
      return null;
    }
    RateLimit limit = policy.getLimits(bucket.getLimitIndex());
    return limit.getAmount() > 0 && Durations.toNanos(limit.getWindow()) > 0 ? limit : null;
  }

  /** Records {@code node}'s report and returns how many nodes reported within a lease duration. */
  @GuardedBy("lock")
  private int countReporter(String node, long now) {
    reporters.put(node, now);
    if (now - nextReporterSweep >= 0) {
      nextReporterSweep = now + refreshNanos;
      reporters.values().removeIf(reported -> now - reported >= leaseNanos);
    }
    return reporters.size();
  }

  /** Forgets lapsed nodes and empty or removed buckets, at most once per lease duration. */
  @GuardedBy("lock")
  private void sweepIfDue(long now, Map<String, RateLimitPolicy> limits) {
    if (now - nextSweep < 0) {
      return;
    }
    nextSweep = now + leaseNanos;
    for (Iterator<Map.Entry<QuotaBucket, Bucket>> it = buckets.entrySet().iterator();
        it.hasNext(); ) {
      Map.Entry<QuotaBucket, Bucket> entry = it.next();
      entry.getValue().expire(now);
      if (entry.getValue().nodes.isEmpty() || limitOf(entry.getKey(), limits) == null) {
        it.remove();
      }
    }
  }

  /**
   * Rejects a malformed request with {@code INVALID_ARGUMENT}: what {@link #lease} checks first,
   * also used by replicas that forward the request instead of answering it.
   */
  static void validate(LeaseQuotaRequest request) {
    if (!request.hasNode() || !NODE_ID.matcher(request.getNode().getId()).matches()) {
      throw ApiException.invalidArgument(
          "node.id", "required: 1 to 128 characters from [A-Za-z0-9._:-]");
    }
    if (request.getDemandsCount() > MAX_DEMANDS) {
      throw ApiException.invalidArgument(
          "demands", request.getDemandsCount() + " demands (expected: at most " + MAX_DEMANDS + ")");
    }
    for (int i = 0; i < request.getDemandsCount(); i++) {
      QuotaDemand demand = request.getDemands(i);
      String at = "demands[" + i + "]";
      if (!demand.hasBucket()
          || demand.getBucket().getPolicy().isEmpty()
          || demand.getBucket().getLimitIndex() < 0) {
        throw ApiException.invalidArgument(
            at + ".bucket", "required, with a policy and a limit_index >= 0");
      }
      if (!(demand.getWants() >= 0) || Double.isInfinite(demand.getWants())) {
        throw ApiException.invalidArgument(
            at + ".wants", demand.getWants() + " (expected: finite and >= 0)");
      }
      if (!(demand.getHas() >= 0) || Double.isInfinite(demand.getHas())) {
        throw ApiException.invalidArgument(
            at + ".has", demand.getHas() + " (expected: finite and >= 0)");
      }
      if (demand.hasUsed() && (!(demand.getUsed() >= 0) || Double.isInfinite(demand.getUsed()))) {
        throw ApiException.invalidArgument(
            at + ".used", demand.getUsed() + " (expected: finite and >= 0)");
      }
    }
  }

  /** The sum of the leases of {@code bucket} that may be in force now; for tests and checks. */
  @VisibleForTesting
  double outstanding(QuotaBucket bucket) {
    synchronized (lock) {
      Bucket state = buckets.get(bucket);
      if (state == null) {
        return 0;
      }
      long now = ticker.getAsLong();
      double sum = 0;
      for (NodeShare share : state.nodes.values()) {
        sum += share.outstanding(now);
      }
      return sum;
    }
  }

  /**
   * The nodes that reported within a lease duration: the {@code fleet_size} of the next response.
   */
  int activeNodes() {
    synchronized (lock) {
      long now = ticker.getAsLong();
      int count = 0;
      for (long reported : reporters.values()) {
        if (now - reported < leaseNanos) {
          count++;
        }
      }
      return count;
    }
  }

  /** One bucket: what each node wants and may hold. Guarded by the allocator's lock. */
  private final class Bucket {
    final Map<String, NodeShare> nodes = new HashMap<>();
    /** When the allocator first saw the bucket. */
    final long bornAt;

    Bucket(long bornAt) {
      this.bornAt = bornAt;
    }

    /**
     * Records a node's report and returns its new grant, or -1 for no lease (while learning, to a
     * node that holds none: it keeps enforcing its static share).
     */
    double report(
        String node,
        QuotaDemand demand,
        long amount,
        long windowNanos,
        int fleetSize,
        long now,
        boolean learning) {
      expire(now);
      NodeShare self = nodes.get(node);
      if (self == null) {
        // A node unknown here (new, back after its lease lapsed, or leased by a previous
        // allocator): count what it says it holds for as long as any lease can last.
        self = new NodeShare();
        nodes.put(node, self);
        self.heldExpiresAt = now + leaseNanos;
      } else {
        // A known node is alive, so our latest grant to it is in force; whatever it holds is
        // counted until then, and refreshed by its next report.
        self.heldExpiresAt = self.leaseExpiresAt;
      }
      // Whatever the node says it used is held too, should it ever exceed its has.
      self.held = Math.min(Math.max(demand.getHas(), demand.getUsed()), amount);
      self.wants = demand.getWants();
      self.used = demand.hasUsed() ? demand.getUsed() : Double.NaN;
      // While learning, grant nothing: leases a previous allocator granted may be outstanding
      // unreported, and the node enforces its static share meanwhile. The report is recorded
      // either way, and the node stays known (its demand and holdings count) for one lease
      // duration after it.
      double grant =
          learning
              ? 0
              : Math.max(
                  0,
                  Math.min(
                      Math.min(
                          target(node, amount, ahead(windowNanos, now)),
                          newcomerCap(amount, fleetSize, now)),
                      amount - othersOutstanding(node, now)));
      self.lease = grant;
      self.leaseExpiresAt = now + leaseNanos;
      return learning ? -1 : grant;
    }

    /**
     * The node's max-min fair share of {@code amount} over the desires of all live nodes; the
     * nodes with demand share what nobody desires, less a pool kept back (see {@link
     * WaterFilling}).
     */
    private double target(String node, long amount, double ahead) {
      double[] desires = new double[nodes.size()];
      boolean[] grows = new boolean[nodes.size()];
      int self = -1;
      int i = 0;
      for (Map.Entry<String, NodeShare> entry : nodes.entrySet()) {
        if (entry.getKey().equals(node)) {
          self = i;
        }
        desires[i] = entry.getValue().desire(ahead);
        grows[i++] = entry.getValue().wants > 0;
      }
      return WaterFilling.divide(desires, grows, amount)[self];
    }

    /**
     * How far ahead, in windows, a node's demand is reserved beyond its usage: the horizon, or
     * during the bucket's first window the rest of that window; never more than one window. Units
     * used in the first window stay until it has gone by, so nothing ages out that could later be
     * moved to a node that needs it: a node must then hold what it will use until the window ends.
     */
    private double ahead(long windowNanos, long now) {
      double firstWindowLeft = 1 - (double) (now - bornAt) / windowNanos;
      return Math.min(1, Math.max((double) horizonNanos / windowNanos, firstWindowLeft));
    }

    /**
     * The most one node may be granted now: an equal share of the fleet while the bucket is new
     * (younger than two refresh intervals, within which nodes whose traffic started together have
     * reported) and not every node of the fleet has reported for it yet, so that whichever node
     * reports first does not take capacity the others are about to ask for; no limit after that.
     */
    private double newcomerCap(long amount, int fleetSize, long now) {
      if (now - bornAt >= 2 * refreshNanos || nodes.size() >= fleetSize) {
        return amount;
      }
      return (double) amount / fleetSize;
    }

    private double othersOutstanding(String node, long now) {
      double sum = 0;
      for (Map.Entry<String, NodeShare> entry : nodes.entrySet()) {
        if (!entry.getKey().equals(node)) {
          sum += entry.getValue().outstanding(now);
        }
      }
      return sum;
    }

    void expire(long now) {
      nodes.values().removeIf(share -> !share.alive(now));
    }
  }

  /** One node's standing in one bucket. */
  private static final class NodeShare {
    /** Units per window the node would use, from its latest report. */
    double wants;
    /** Units the node used in the window, from its latest report; NaN if it does not say. */
    double used = Double.NaN;
    /** The latest grant, in force until {@link #leaseExpiresAt}. */
    double lease;
    long leaseExpiresAt;
    /** What the node reported holding at its latest report, in force until {@link #heldExpiresAt}. */
    double held;
    long heldExpiresAt;

    /**
     * What the allocator divides for: the units the node used in the window plus its demand over
     * {@code ahead} windows, or {@link #wants} for a node that does not report its usage.
     */
    double desire(double ahead) {
      return Double.isNaN(used) ? wants : used + wants * ahead;
    }

    double outstanding(long now) {
      double sum = 0;
      if (now - leaseExpiresAt < 0) {
        sum = lease;
      }
      if (now - heldExpiresAt < 0) {
        sum = Math.max(sum, held);
      }
      return sum;
    }

    /** Whether the node reported within a lease duration or may still hold a lease. */
    boolean alive(long now) {
      return now - leaseExpiresAt < 0 || now - heldExpiresAt < 0;
    }
  }

  @Override
  public String toString() {
    return "QuotaAllocator{" + controlPlaneId + "}";
  }

  @VisibleForTesting
  @Nullable Double wants(QuotaBucket bucket, String node) {
    synchronized (lock) {
      Bucket state = buckets.get(bucket);
      NodeShare share = state == null ? null : state.nodes.get(node);
      return share == null ? null : share.wants;
    }
  }
}
