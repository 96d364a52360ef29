package dev.sluice.integration.ratelimit;

import com.google.protobuf.util.Durations;
import dev.sluice.config.v1.RateLimit;
import dev.sluice.config.v1.RateLimitDimension;
import dev.sluice.config.v1.RateLimitMetric;
import dev.sluice.config.v1.RateLimitPolicy;
import dev.sluice.controlplane.quota.QuotaAllocator;
import dev.sluice.dataplane.ratelimit.Admission;
import dev.sluice.dataplane.ratelimit.QuotaLeaseClient;
import dev.sluice.dataplane.ratelimit.RateLimitTable;
import dev.sluice.dataplane.ratelimit.RateLimiter;
import dev.sluice.dataplane.ratelimit.RequestQuotaContext;
import dev.sluice.discovery.v1.DiscoveryServiceGrpc;
import dev.sluice.discovery.v1.LeaseQuotaRequest;
import dev.sluice.discovery.v1.LeaseQuotaResponse;
import dev.sluice.discovery.v1.Node;
import dev.sluice.grpc.ErrorMapper;
import dev.sluice.inference.v1.Usage;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;

/**
 * A simulated fleet: data-plane nodes (a real {@link RateLimiter} and {@link QuotaLeaseClient}
 * each) and one real {@link QuotaAllocator} behind a {@code DiscoveryService}, all on one {@link
 * SimulatedClock}. Each node receives Poisson-distributed requests that stream for two seconds and
 * then settle with their real usage.
 */
final class Fleet {
  static final Duration MINUTE = Duration.ofMinutes(1);
  static final long REQUESTS_PER_MINUTE = 600;
  static final long TOKENS_PER_MINUTE = 60_000;
  static final Duration STREAM = Duration.ofSeconds(2);

  /** A whole number of days: every window's slots start on it. */
  final long start = Duration.ofDays(1000).toNanos();

  final SimulatedClock clock = new SimulatedClock(start);
  final QuotaAllocator allocator =
      QuotaAllocator.create("cp-1", clock, QuotaAllocator.Options.defaults());
  final RateLimitTable table;
  final List<SimNode> nodes = new ArrayList<>();
  final Random random = new Random(20_261_126);
  final Workload workload;
  boolean controlPlaneReachable = true;
  private final DirectChannel channel;

  /** What each request asks for and uses. */
  record Workload(int inputTokens, int maxOutputTokens, int minOutputTokens) {
    /** Small requests: the request limit binds (at most 50 tokens each, 30,000 a minute). */
    static final Workload SMALL = new Workload(20, 30, 10);

    /** Large requests: the token limit binds (about 250 tokens each, 240 requests a minute). */
    static final Workload LARGE = new Workload(100, 200, 100);
  }

  Fleet(Workload workload) {
    this.workload = workload;
    RateLimitPolicy policy =
        RateLimitPolicy.newBuilder()
            .setName("fleet")
            .addDimensions(RateLimitDimension.RATE_LIMIT_DIMENSION_CONSUMER)
            .addLimits(limit(RateLimitMetric.RATE_LIMIT_METRIC_REQUESTS, REQUESTS_PER_MINUTE))
            .addLimits(limit(RateLimitMetric.RATE_LIMIT_METRIC_TOTAL_TOKENS, TOKENS_PER_MINUTE))
            .build();
    this.table = RateLimitTable.compile(List.of(policy));
    allocator.apply(List.of(policy));
    this.channel = new DirectChannel(new AllocatorService(), () -> controlPlaneReachable);
  }

  private static RateLimit limit(RateLimitMetric metric, long amount) {
    return RateLimit.newBuilder()
        .setMetric(metric)
        .setAmount(amount)
        .setWindow(Durations.fromNanos(MINUTE.toNanos()))
        .build();
  }

  SimNode addNode(String id, double requestsPerSecond) {
    SimNode node = new SimNode(id, requestsPerSecond);
    nodes.add(node);
    return node;
  }

  void runFor(Duration duration) {
    clock.runUntil(clock.getAsLong() + duration.toNanos());
  }

  void runUntil(Duration sinceStart) {
    clock.runUntil(start + sinceStart.toNanos());
  }

  long admittedRequests(int minute) {
    return nodes.stream().mapToLong(n -> n.requests(minute)).sum();
  }

  long admittedTokens(int minute) {
    return nodes.stream().mapToLong(n -> n.tokens(minute)).sum();
  }

  /** LeaseQuota backed by the allocator, errors mapped as the control plane maps them. */
  private final class AllocatorService extends DiscoveryServiceGrpc.DiscoveryServiceImplBase {
    @Override
    public void leaseQuota(
        LeaseQuotaRequest request, StreamObserver<LeaseQuotaResponse> responseObserver) {
      try {
        responseObserver.onNext(allocator.lease(request));
        responseObserver.onCompleted();
      } catch (RuntimeException e) {
        responseObserver.onError(ErrorMapper.toStatusRuntimeException(e));
      }
    }
  }

  /** One data plane. */
  final class SimNode {
    final String id;
    final RateLimiter limiter;
    final QuotaLeaseClient leases;
    double requestsPerSecond;
    boolean serving = true;
    /** Admission time and settled total tokens of every admitted request. */
    final List<long[]> admitted = new ArrayList<>();

    SimNode(String id, double requestsPerSecond) {
      this.id = id;
      this.requestsPerSecond = requestsPerSecond;
      this.limiter =
          RateLimiter.create(
              () -> table, RateLimiter.Options.builder().nanoTicker(clock).fleetSizeHint(3).build());
      this.leases =
          QuotaLeaseClient.create(
              limiter,
              DiscoveryServiceGrpc.newFutureStub(channel),
              Node.newBuilder().setId(id).build(),
              () -> "1.1",
              clock,
              QuotaLeaseClient.Options.builder().jitter(random::nextDouble).build());
      leases.start();
      scheduleNextArrival();
    }

    /** The node goes away: no more traffic, no more reports. */
    void leave() {
      serving = false;
      leases.close();
    }

    private void scheduleNextArrival() {
      double gapSeconds = -Math.log(1 - random.nextDouble()) / requestsPerSecond;
      clock.schedule(this::arrive, (long) (gapSeconds * 1e9), TimeUnit.NANOSECONDS);
    }

    private void arrive() {
      if (!serving) {
        return;
      }
      RequestQuotaContext ctx =
          RequestQuotaContext.builder()
              .consumer("acme")
              .model("m")
              .addPolicies("fleet")
              .estimatedInputTokens(workload.inputTokens())
              .maxOutputTokens(workload.maxOutputTokens())
              .build();
      Admission admission = limiter.admit(ctx);
      if (admission.isAdmitted()) {
        int output =
            workload.minOutputTokens()
                + random.nextInt(workload.maxOutputTokens() - workload.minOutputTokens() + 1);
        Usage usage =
            Usage.newBuilder()
                .setInputTokens(workload.inputTokens())
                .setOutputTokens(output)
                .setTotalTokens(workload.inputTokens() + output)
                .build();
        admitted.add(new long[] {clock.getAsLong(), usage.getTotalTokens()});
        Runnable settle = () -> admission.reservation().settle(usage);
        clock.schedule(settle, STREAM.toNanos(), TimeUnit.NANOSECONDS);
      }
      scheduleNextArrival();
    }

    long requests(int minute) {
      return admittedBetween(minute * 60.0, (minute + 1) * 60.0);
    }

    long tokens(int minute) {
      long from = start + minute * MINUTE.toNanos();
      long to = from + MINUTE.toNanos();
      return admitted.stream()
          .filter(a -> a[0] - from >= 0 && a[0] - to < 0)
          .mapToLong(a -> a[1])
          .sum();
    }

    /** Requests admitted per 5 s from {@code fromSeconds} to {@code toSeconds}, for reports. */
    List<Long> perFiveSeconds(int fromSeconds, int toSeconds) {
      List<Long> counts = new ArrayList<>();
      for (int s = fromSeconds; s < toSeconds; s += 5) {
        counts.add(admittedBetween(s, s + 5));
      }
      return counts;
    }

    /** Requests admitted in [from, to) seconds since the start. */
    long admittedBetween(double fromSeconds, double toSeconds) {
      long from = start + (long) (fromSeconds * 1e9);
      long to = start + (long) (toSeconds * 1e9);
      return admitted.stream().filter(a -> a[0] - from >= 0 && a[0] - to < 0).count();
    }
  }
}
