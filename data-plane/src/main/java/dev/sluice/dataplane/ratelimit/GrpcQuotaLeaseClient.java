package dev.sluice.dataplane.ratelimit;

import static java.util.Objects.requireNonNull;

import com.google.common.util.concurrent.FutureCallback;
import com.google.common.util.concurrent.Futures;
import com.google.common.util.concurrent.ListenableFuture;
import com.google.protobuf.util.Durations;
import dev.sluice.discovery.v1.DiscoveryServiceGrpc;
import dev.sluice.discovery.v1.LeaseQuotaRequest;
import dev.sluice.discovery.v1.LeaseQuotaResponse;
import dev.sluice.discovery.v1.Node;
import dev.sluice.discovery.v1.QuotaBucket;
import dev.sluice.discovery.v1.QuotaDemand;
import dev.sluice.discovery.v1.QuotaLease;
import io.grpc.Status;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.jspecify.annotations.Nullable;

/**
 * The {@link QuotaLeaseClient}: one report round per refresh interval, never two at once. Every
 * field is confined to {@link #executor}.
 */
final class GrpcQuotaLeaseClient implements QuotaLeaseClient {
  private static final Logger logger = Logger.getLogger(GrpcQuotaLeaseClient.class.getName());

  /** Bounds on the refresh interval a control plane may ask for. */
  private static final long MIN_REFRESH_NANOS = TimeUnit.MILLISECONDS.toNanos(100);

  private static final long MAX_REFRESH_NANOS = TimeUnit.SECONDS.toNanos(30);

  /** Bounds of the default demand time constant (half the window). */
  private static final double MIN_TIME_CONSTANT_SECONDS = 1;

  private static final double MAX_TIME_CONSTANT_SECONDS = 30;

  /** Demand below one unit per window counts as none: the bucket releases its share. */
  private static final double NO_DEMAND = 0.5;

  private final SlidingWindowRateLimiter limiter;
  private final DiscoveryServiceGrpc.DiscoveryServiceFutureStub stub;
  private final Node node;
  private final Supplier<String> configVersion;
  private final ScheduledExecutorService executor;
  private final QuotaLeaseClient.Options options;

  private boolean started;
  private boolean closed;
  private long refreshNanos;
  private int failures;
  private @Nullable ScheduledFuture<?> nextRound;
  private final List<ListenableFuture<LeaseQuotaResponse>> inFlight = new ArrayList<>();

  GrpcQuotaLeaseClient(
      SlidingWindowRateLimiter limiter,
      DiscoveryServiceGrpc.DiscoveryServiceFutureStub stub,
      Node node,
      Supplier<String> configVersion,
      ScheduledExecutorService executor,
      QuotaLeaseClient.Options options) {
    this.limiter = requireNonNull(limiter, "limiter");
    this.stub = requireNonNull(stub, "stub");
    this.node = requireNonNull(node, "node");
    this.configVersion = requireNonNull(configVersion, "configVersion");
    this.executor = requireNonNull(executor, "executor");
    this.options = requireNonNull(options, "options");
    this.refreshNanos = options.initialRefreshInterval().toNanos();
  }

  @Override
  public void start() {
    executor.execute(
        () -> {
          if (!started && !closed) {
            started = true;
            round();
          }
        });
  }

  @Override
  public void close() {
    executor.execute(
        () -> {
          closed = true;
          if (nextRound != null) {
            nextRound.cancel(false);
          }
          for (ListenableFuture<LeaseQuotaResponse> call : List.copyOf(inFlight)) {
            call.cancel(true);
          }
        });
  }

  /** One round: measure demand, sweep idle buckets, report, and install what comes back. */
  private void round() {
    nextRound = null;
    if (closed) {
      return;
    }
    long now = limiter.now();
    RateLimitTable table = limiter.table();
    List<QuotaDemand> demands = new ArrayList<>();
    Map<QuotaBucket, BucketState> reported = new HashMap<>();
    for (BucketState state : limiter.states()) {
      double wants = measureDemand(state, now);
      BucketState.Lease lease = state.lease();
      boolean leased = lease != null && now - lease.expiresAtNanos() < 0;
      if (lease != null && !leased) {
        state.lease(null);
      }
      boolean current = table.defines(state.id);
      boolean released = !leased || state.lastReportedWants == 0 || !current;
      if (wants == 0 && released && state.evictIfIdle(now)) {
        limiter.remove(state);
        continue;
      }
      if (!current) {
        // A limit whose metric or window changed: its old count ages out unreported.
        continue;
      }
      QuotaBucket bucket = state.id.toProto();
      QuotaDemand.Builder demand = QuotaDemand.newBuilder().setBucket(bucket).setWants(wants);
      double pace = state.pacedCapacity();
      if (pace >= 0) {
        // A paced limit admits at the rate of its share, whatever its window holds: it holds the
        // share it paces at (lease or static), and reports no usage, so that the allocator
        // divides by demand rates (QuotaDemand.used: absent).
        demand.setHas(pace);
      } else {
        // What this node holds: its lease, or more if it has already used more in the window (a
        // share that shrank, a static share, debt): used units stay used until they age out, so
        // the allocator must not hand them to another node before then. Used apart from has:
        // the allocator leases a node its usage plus a short horizon of its demand, so what a
        // node holds beyond that can go to nodes that want more.
        double used = state.usage(now);
        demand.setHas(Math.max(leased ? lease.granted() : 0, used)).setUsed(used);
      }
      demands.add(demand.build());
      reported.put(bucket, state);
      state.lastReportedWants = wants;
    }
    String version = configVersion.get();
    int batch = options.maxDemandsPerRequest();
    if (demands.isEmpty()) {
      if (table.isEmpty()) {
        schedule(refreshNanos);
      } else {
        // Report anyway, with no demands, while any limit is configured: the allocator counts
        // this node in the fleet (the fleet_size that static shares and a new bucket's first
        // grants are divided by) before it has traffic.
        send(
            LeaseQuotaRequest.newBuilder().setNode(node).setVersionInfo(version).build(),
            reported,
            now);
      }
      return;
    }
    for (int from = 0; from < demands.size(); from += batch) {
      LeaseQuotaRequest request =
          LeaseQuotaRequest.newBuilder()
              .setNode(node)
              .setVersionInfo(version)
              .addAllDemands(demands.subList(from, Math.min(demands.size(), from + batch)))
              .build();
      send(request, reported, now);
    }
  }

  private void send(LeaseQuotaRequest request, Map<QuotaBucket, BucketState> reported, long sentAt) {
    ListenableFuture<LeaseQuotaResponse> call =
        stub.withDeadlineAfter(options.rpcTimeout().toNanos(), TimeUnit.NANOSECONDS)
            .leaseQuota(request);
    inFlight.add(call);
    Futures.addCallback(
        call,
        new FutureCallback<>() {
          @Override
          public void onSuccess(LeaseQuotaResponse response) {
            inFlight.remove(call);
            failures = 0;
            // Before the leases: a bucket left without one falls back to the static share at
            // once, and it must be the share for the fleet as it is now.
            limiter.fleetSize(response.getFleetSize());
            install(request, response, reported, sentAt);
            if (response.hasRefreshInterval()) {
              refreshNanos =
                  Math.max(
                      MIN_REFRESH_NANOS,
                      Math.min(MAX_REFRESH_NANOS, Durations.toNanos(response.getRefreshInterval())));
            }
            roundEnded();
          }

          @Override
          public void onFailure(Throwable t) {
            inFlight.remove(call);
            failures++;
            if (!closed) {
              logger.log(
                  failures == 1 ? Level.WARNING : Level.FINE,
                  "LeaseQuota failed (attempt {0}): {1}; keeping leases until they lapse",
                  new Object[] {failures, Status.fromThrowable(t)});
            }
            roundEnded();
          }
        },
        executor);
  }

  /**
   * Installs the leases of {@code response}; a reported bucket that got none falls back to its
   * static share at once.
   */
  private void install(
      LeaseQuotaRequest request,
      LeaseQuotaResponse response,
      Map<QuotaBucket, BucketState> reported,
      long sentAt) {
    Map<QuotaBucket, QuotaLease> leases = new HashMap<>();
    for (QuotaLease lease : response.getLeasesList()) {
      leases.put(lease.getBucket(), lease);
    }
    for (QuotaDemand demand : request.getDemandsList()) {
      BucketState state = reported.get(demand.getBucket());
      if (state == null) {
        continue;
      }
      QuotaLease lease = leases.get(demand.getBucket());
      if (lease == null || !lease.hasLeaseDuration()) {
        state.lease(null);
        continue;
      }
      double granted = Double.isFinite(lease.getGranted()) ? Math.max(0, lease.getGranted()) : 0;
      long duration = Durations.toNanos(lease.getLeaseDuration());
      state.lease(new BucketState.Lease(granted, sentAt + duration));
    }
  }

  private void roundEnded() {
    if (closed || !inFlight.isEmpty() || nextRound != null) {
      return;
    }
    if (failures == 0) {
      schedule(refreshNanos);
      return;
    }
    long backoff = refreshNanos << Math.min(failures - 1, 16);
    backoff = Math.min(backoff, options.maxBackoff().toNanos());
    // Spread over [0.8, 1.2) of the backoff so that a fleet does not return in lockstep.
    schedule((long) (backoff * (0.8 + 0.4 * options.jitter().getAsDouble())));
  }

  private void schedule(long delayNanos) {
    if (!closed) {
      nextRound = executor.schedule(this::round, delayNanos, TimeUnit.NANOSECONDS);
    }
  }

  /** The demand average's time constant for a window: configured, or half the window. */
  private double timeConstantSeconds(long windowNanos) {
    Duration configured = options.demandTimeConstant();
    if (configured != null) {
      return configured.toNanos() / 1e9;
    }
    return Math.max(MIN_TIME_CONSTANT_SECONDS, Math.min(MAX_TIME_CONSTANT_SECONDS, windowNanos / 2e9));
  }

  /**
   * Folds the demand counted since the last round into the bucket's moving average and returns it
   * as units per window of the limit. The first measurement of a new bucket is spread over at
   * least one refresh interval, so that a bucket born a millisecond ago does not look like a flood.
   */
  private double measureDemand(BucketState state, long now) {
    long drained = state.drainDemand();
    long elapsed = now - state.lastDrainNanos;
    state.lastDrainNanos = now;
    double windowSeconds = state.id.windowNanos() / 1e9;
    if (Double.isNaN(state.demandRate)) {
      double seconds = Math.max(elapsed, refreshNanos) / 1e9;
      state.demandRate = Math.max(0, drained / seconds);
      state.demandSeconds = seconds;
    } else if (elapsed > 0) {
      double seconds = elapsed / 1e9;
      state.demandSeconds += seconds;
      double alpha = 1 - Math.exp(-seconds / timeConstantSeconds(state.id.windowNanos()));
      if (state.pacedCapacity() >= 0) {
        // A paced limit is leased its demand rate, so until a time constant has passed use the
        // plain mean of everything measured so far: an exponential average seeded with the first
        // second carries that second's noise (a few random arrivals) for a whole time constant,
        // and a lease sized by it is wasted. (An unpaced limit is leased its usage plus a few
        // seconds of demand, where an early overestimate only adds headroom.)
        alpha = Math.max(alpha, seconds / state.demandSeconds);
      }
      state.demandRate = Math.max(0, state.demandRate + alpha * (drained / seconds - state.demandRate));
    }
    double wants = state.demandRate * windowSeconds;
    if (wants < NO_DEMAND && drained <= 0) {
      state.demandRate = 0;
      return 0;
    }
    return wants;
  }
}
