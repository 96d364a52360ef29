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
import dev.sluice.testing.time.ManualScheduler;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;

/**
 * A simulated fleet: data-plane nodes (a real {@link RateLimiter} and {@link QuotaLeaseClient}
 * each) and one real {@link QuotaAllocator} behind a {@code DiscoveryService}, all on one {@link
 * ManualScheduler}. Each node receives Poisson-distributed requests that stream for two seconds and
 * then settle with their real usage. Every request is also offered to a {@link Central} limiter
 * that holds the whole limit alone: the yardstick for what distributing the limit costs.
 */
final class Fleet {
  static final Duration MINUTE = Duration.ofMinutes(1);
  static final long REQUESTS_PER_MINUTE = 600;
  static final long TOKENS_PER_MINUTE = 60_000;
  static final Duration STREAM = Duration.ofSeconds(2);

  /** A whole number of days: every window's slots start on it. */
  final long start = Duration.ofDays(1000).toNanos();

  final ManualScheduler clock = new ManualScheduler(start);
  final QuotaAllocator allocator =
      QuotaAllocator.create("cp-1", clock, QuotaAllocator.Options.defaults());
  final RateLimitTable table;
  final List<SimNode> nodes = new ArrayList<>();
  /**
   * Retry jitter and call usage. Arrivals have a generator per node, so that every node receives
   * the same requests however the limiters decide.
   */
  final Random random = new Random(20_261_126);
  final Workload workload;
  boolean controlPlaneReachable = true;
  private final DirectChannel channel;
  /**
   * One limiter that holds the whole limit and sees every request of every node: what a single
   * sliding window would admit of the same arrivals, the best the fleet can do.
   */
  final Central central;

  /** What each request asks for and uses. */
  record Workload(int inputTokens, int maxOutputTokens, int minOutputTokens) {
    /** Small requests: the request limit binds (at most 50 tokens each, 30,000 a minute). */
    static final Workload SMALL = new Workload(20, 30, 10);

    /** Large requests: the token limit binds (about 250 tokens each, 240 requests a minute). */
    static final Workload LARGE = new Workload(100, 200, 100);

    /** What one call uses: the input, and an output drawn from {@code random}. */
    Usage usage(Random random) {
      int output = minOutputTokens + random.nextInt(maxOutputTokens - minOutputTokens + 1);
      return Usage.newBuilder()
          .setInputTokens(inputTokens)
          .setOutputTokens(output)
          .setTotalTokens(inputTokens + output)
          .build();
    }
  }

  Fleet(Workload workload) {
    this(workload, 0);
  }

  /**
   * A fleet whose limits pace with a burst of {@code burstFraction} of their amount ({@code
   * RateLimit.burst}); 0 for limits that do not pace.
   */
  Fleet(Workload workload, double burstFraction) {
    this.workload = workload;
    RateLimitPolicy policy =
        RateLimitPolicy.newBuilder()
            .setName("fleet")
            .addDimensions(RateLimitDimension.RATE_LIMIT_DIMENSION_CONSUMER)
            .addLimits(
                limit(RateLimitMetric.RATE_LIMIT_METRIC_REQUESTS, REQUESTS_PER_MINUTE, burstFraction))
            .addLimits(
                limit(RateLimitMetric.RATE_LIMIT_METRIC_TOTAL_TOKENS, TOKENS_PER_MINUTE, burstFraction))
            .build();
    this.table = RateLimitTable.compile(List.of(policy));
    allocator.apply(List.of(policy));
    this.channel = new DirectChannel(new AllocatorService(), () -> controlPlaneReachable);
    this.central = new Central();
  }

  private static RateLimit limit(RateLimitMetric metric, long amount, double burstFraction) {
    return RateLimit.newBuilder()
        .setMetric(metric)
        .setAmount(amount)
        .setBurst(Math.round(amount * burstFraction))
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

  /**
   * The fleet's admitted / {@code limit} (requests, or tokens if {@code tokens}) in every 60 s
   * window that starts on a whole second from {@code fromSeconds} and ends by {@code toSeconds}.
   */
  double[] slidingWindows(int fromSeconds, int toSeconds, boolean tokens, long limit) {
    double[] ratios = new double[Math.max(0, toSeconds - fromSeconds - 59)];
    for (int i = 0; i < ratios.length; i++) {
      long sum = 0;
      for (SimNode node : nodes) {
        sum += count(node.admitted, fromSeconds + i, fromSeconds + i + 60, tokens);
      }
      ratios[i] = (double) sum / limit;
    }
    return ratios;
  }

  /** As {@link #slidingWindows}, for what the {@link #central} limiter admitted. */
  double[] centralSlidingWindows(int fromSeconds, int toSeconds, boolean tokens, long limit) {
    double[] ratios = new double[Math.max(0, toSeconds - fromSeconds - 59)];
    for (int i = 0; i < ratios.length; i++) {
      ratios[i] =
          (double) count(central.admitted, fromSeconds + i, fromSeconds + i + 60, tokens) / limit;
    }
    return ratios;
  }

  /** Requests (or their tokens) in {@code admitted} from {@code fromSeconds} to {@code toSeconds}. */
  private long count(List<long[]> admitted, double fromSeconds, double toSeconds, boolean tokens) {
    long from = start + (long) (fromSeconds * 1e9);
    long to = start + (long) (toSeconds * 1e9);
    long sum = 0;
    for (long[] a : admitted) {
      if (a[0] - from >= 0 && a[0] - to < 0) {
        sum += tokens ? a[1] : 1;
      }
    }
    return sum;
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

  /** A single limiter for the whole fleet's traffic, for comparison. */
  final class Central {
    final RateLimiter limiter =
        RateLimiter.create(() -> table, RateLimiter.Options.builder().nanoTicker(clock).build());
    /** Its own draws, so that the fleet's requests are the same with or without it. */
    final Random usageRandom = new Random(7);
    final List<long[]> admitted = new ArrayList<>();

    void offer(RequestQuotaContext ctx) {
      Admission admission = limiter.admit(ctx);
      if (admission.isAdmitted()) {
        Usage usage = workload.usage(usageRandom);
        admitted.add(new long[] {clock.getAsLong(), usage.getTotalTokens()});
        Runnable settle = () -> admission.reservation().settle(usage);
        clock.schedule(settle, STREAM.toNanos(), TimeUnit.NANOSECONDS);
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
    private final Random arrivals;
    /** Admission time and settled total tokens of every admitted request. */
    final List<long[]> admitted = new ArrayList<>();
    /** Arrival time of every refused request. */
    final List<Long> refused = new ArrayList<>();

    SimNode(String id, double requestsPerSecond) {
      this.id = id;
      this.requestsPerSecond = requestsPerSecond;
      this.arrivals = new Random(20_261_126L * 31 + id.hashCode());
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
      double gapSeconds = -Math.log(1 - arrivals.nextDouble()) / requestsPerSecond;
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
      central.offer(ctx);
      Admission admission = limiter.admit(ctx);
      if (admission.isAdmitted()) {
        Usage usage = workload.usage(random);
        admitted.add(new long[] {clock.getAsLong(), usage.getTotalTokens()});
        Runnable settle = () -> admission.reservation().settle(usage);
        clock.schedule(settle, STREAM.toNanos(), TimeUnit.NANOSECONDS);
      } else {
        refused.add(clock.getAsLong());
      }
      scheduleNextArrival();
    }

    long requests(int minute) {
      return admittedBetween(minute * 60.0, (minute + 1) * 60.0);
    }

    long tokens(int minute) {
      return tokensBetween(minute * 60.0, (minute + 1) * 60.0);
    }

    /** Tokens of the requests admitted in [from, to) seconds since the start. */
    long tokensBetween(double fromSeconds, double toSeconds) {
      long from = start + (long) (fromSeconds * 1e9);
      long to = start + (long) (toSeconds * 1e9);
      return admitted.stream()
          .filter(a -> a[0] - from >= 0 && a[0] - to < 0)
          .mapToLong(a -> a[1])
          .sum();
    }

    /** Requests that arrived (admitted or refused) in [from, to) seconds since the start. */
    long arrivedBetween(double fromSeconds, double toSeconds) {
      return admittedBetween(fromSeconds, toSeconds) + refusedBetween(fromSeconds, toSeconds);
    }

    /** Requests refused in [from, to) seconds since the start. */
    long refusedBetween(double fromSeconds, double toSeconds) {
      long from = start + (long) (fromSeconds * 1e9);
      long to = start + (long) (toSeconds * 1e9);
      return refused.stream().filter(t -> t - from >= 0 && t - to < 0).count();
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
