package dev.sluice.dataplane.ratelimit;

import static dev.sluice.config.v1.RateLimitDimension.RATE_LIMIT_DIMENSION_CONSUMER;
import static dev.sluice.dataplane.ratelimit.Policies.policy;
import static dev.sluice.dataplane.ratelimit.Policies.requests;
import static dev.sluice.dataplane.ratelimit.Policies.totalTokens;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import com.google.protobuf.util.Durations;
import dev.sluice.config.v1.RateLimitPolicy;
import dev.sluice.discovery.v1.DiscoveryServiceGrpc;
import dev.sluice.discovery.v1.LeaseQuotaRequest;
import dev.sluice.discovery.v1.LeaseQuotaResponse;
import dev.sluice.discovery.v1.Node;
import dev.sluice.discovery.v1.QuotaDemand;
import dev.sluice.discovery.v1.QuotaLease;
import dev.sluice.inference.v1.Usage;
import dev.sluice.testing.time.ManualScheduler;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Function;
import java.util.function.LongSupplier;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class QuotaLeaseClientTest {
  private static final Duration MINUTE = Duration.ofMinutes(1);
  private static final Duration LEASE = Duration.ofSeconds(10);

  private final ManualScheduler scheduler = new ManualScheduler(Duration.ofDays(1000).toNanos());
  private final FakeDiscovery discovery = new FakeDiscovery(scheduler);
  private final AtomicReference<RateLimitTable> table =
      new AtomicReference<>(
          RateLimitTable.compile(List.of(policy("gold", List.of(), requests(600, MINUTE)))));
  private final RateLimiter limiter =
      RateLimiter.create(
          table::get, RateLimiter.Options.builder().nanoTicker(scheduler).fleetSizeHint(3).build());
  private Server server;
  private ManagedChannel channel;
  private QuotaLeaseClient client;

  @BeforeEach
  void startServer() throws IOException {
    String name = InProcessServerBuilder.generateName();
    server =
        InProcessServerBuilder.forName(name).directExecutor().addService(discovery).build().start();
    channel = InProcessChannelBuilder.forName(name).directExecutor().build();
    client = client(QuotaLeaseClient.Options.builder().jitter(() -> 0.5).build());
  }

  @AfterEach
  void stopServer() {
    client.close();
    channel.shutdownNow();
    server.shutdownNow();
  }

  private QuotaLeaseClient client(QuotaLeaseClient.Options options) {
    return QuotaLeaseClient.create(
        limiter,
        DiscoveryServiceGrpc.newFutureStub(channel),
        Node.newBuilder().setId("dp-1").build(),
        () -> "0.42",
        scheduler,
        options);
  }

  private static RequestQuotaContext request(String consumer) {
    return RequestQuotaContext.builder().consumer(consumer).addPolicies("gold").build();
  }

  private int admit(int count) {
    int admitted = 0;
    for (int i = 0; i < count; i++) {
      admitted += limiter.admit(request("acme")).isAdmitted() ? 1 : 0;
    }
    return admitted;
  }

  private double capacity() {
    LimitBucket bucket = table.get().bucketsFor(request("acme")).get(0);
    BucketState state = ((SlidingWindowRateLimiter) limiter).state(bucket.id());
    return state == null ? Double.NaN : state.capacity(scheduler.getAsLong(), bucket.amount(), 1 / 3.0);
  }

  @Test
  void reportsTheDemandOfEveryBucketAndInstallsTheLeasesItGetsBack() {
    admit(10);
    discovery.grant(42);

    client.start();
    scheduler.runDue();

    LeaseQuotaRequest request = discovery.requests.get(0);
    assertThat(request.getNode().getId()).isEqualTo("dp-1");
    assertThat(request.getVersionInfo()).isEqualTo("0.42");
    QuotaDemand demand = request.getDemands(0);
    assertThat(demand.getBucket().getPolicy()).isEqualTo("gold");
    assertThat(demand.getBucket().getLimitIndex()).isZero();
    assertThat(demand.getBucket().getKey()).isEmpty();
    // Ten requests in its first (under a second long) interval: ten a second, 600 a minute.
    assertThat(demand.getWants()).isEqualTo(600);
    assertThat(demand.getHas()).as("no lease yet, but ten requests used").isEqualTo(10);
    assertThat(demand.hasUsed()).isTrue();
    assertThat(demand.getUsed()).isEqualTo(10);
    assertThat(capacity()).isEqualTo(42);
    assertThat(admit(100)).isEqualTo(32);
  }

  @Test
  void reportsTheLeaseItHoldsAndItsSmoothedDemandEverySecond() {
    discovery.grant(100);
    client.start();
    for (int second = 0; second < 30; second++) {
      admit(5);
      scheduler.advance(Duration.ofSeconds(1));
    }

    List<LeaseQuotaRequest> requests = discovery.requests;
    assertThat(requests).hasSizeGreaterThanOrEqualTo(30);
    QuotaDemand last = requests.get(requests.size() - 1).getDemands(0);
    assertThat(last.getHas()).isEqualTo(100);
    assertThat(last.getWants()).isCloseTo(5 * 60, within(5.0));
  }

  @Test
  void reportsWhatItUsedAsHeldWhileThatExceedsItsLease() {
    admit(150);
    discovery.grant(100);
    client.start();
    scheduler.runDue();

    scheduler.advance(Duration.ofSeconds(1));

    QuotaDemand second = discovery.requests.get(1).getDemands(0);
    assertThat(second.getHas()).isEqualTo(150);
    assertThat(second.getUsed()).isEqualTo(150);
    scheduler.advance(Duration.ofMinutes(1).plusSeconds(3));
    QuotaDemand later = discovery.requests.get(discovery.requests.size() - 1).getDemands(0);
    assertThat(later.getHas()).as("once the used units aged out, the lease").isEqualTo(100);
    assertThat(later.getUsed()).isZero();
  }

  @Test
  void reportsWhatItUsedApartFromWhatItHoldsSoTheAllocatorCanLeaseItsUnusedShareToOthers() {
    admit(30);
    discovery.grant(100);
    client.start();
    scheduler.runDue();

    admit(20);
    scheduler.advance(Duration.ofSeconds(1));

    QuotaDemand second = discovery.requests.get(1).getDemands(0);
    assertThat(second.getHas()).as("the lease").isEqualTo(100);
    assertThat(second.getUsed()).isEqualTo(50);
  }

  @Test
  void reportsWithoutDemandsBeforeItHasTrafficSoTheAllocatorCountsItInTheFleet() {
    client.start();
    scheduler.advance(Duration.ofSeconds(2));

    assertThat(discovery.requests).hasSizeGreaterThanOrEqualTo(2);
    assertThat(discovery.requests.get(0).getNode().getId()).isEqualTo("dp-1");
    assertThat(discovery.requests.get(0).getDemandsList()).isEmpty();
  }

  @Test
  void reportsNothingWhileNoLimitIsConfigured() {
    table.set(RateLimitTable.empty());
    client.start();

    scheduler.advance(Duration.ofSeconds(5));

    assertThat(discovery.requests).isEmpty();
  }

  @Test
  void keepsItsLeasesWhileTheControlPlaneIsUnreachableThenFallsBackToTheStaticShare() {
    admit(1);
    discovery.grant(50);
    client.start();
    scheduler.runDue();
    assertThat(capacity()).isEqualTo(50);

    discovery.failWith = Status.UNAVAILABLE;
    scheduler.advance(LEASE.minusMillis(1));
    assertThat(capacity()).as("the lease holds to its end").isEqualTo(50);

    scheduler.advance(Duration.ofMillis(1));
    assertThat(capacity()).as("then the static share of a fleet of 3").isEqualTo(200);
  }

  @Test
  void aFleetLargerThanTheHintShrinksTheStaticShareItFallsBackTo() {
    admit(1);
    discovery.answer = r -> FakeDiscovery.granting(r, 50).toBuilder().setFleetSize(6).build();
    client.start();
    scheduler.runDue();

    discovery.failWith = Status.UNAVAILABLE;
    scheduler.advance(LEASE);

    assertThat(admit(1_000))
        .as("600 / max(hint 3, fleet 6), less the one already used")
        .isEqualTo(99);
  }

  @Test
  void aFleetSmallerThanTheHintNeverEnlargesTheStaticShare() {
    admit(1);
    discovery.answer = r -> FakeDiscovery.granting(r, 50).toBuilder().setFleetSize(1).build();
    client.start();
    scheduler.runDue();

    discovery.failWith = Status.UNAVAILABLE;
    scheduler.advance(LEASE);

    assertThat(admit(1_000))
        .as("600 / max(hint 3, fleet 1), less the one already used")
        .isEqualTo(199);
  }

  @Test
  void retriesWithExponentialBackoffCappedWellInsideTheLease() {
    admit(1);
    discovery.failWith = Status.UNAVAILABLE;
    client.start();

    scheduler.advance(Duration.ofSeconds(20));

    // Jitter fixed at the middle of its range: 1, 2, 4, then 4 s between attempts.
    assertThat(discovery.gaps()).startsWith(1_000L, 2_000L, 4_000L, 4_000L, 4_000L);
    discovery.failWith = null;
    discovery.grant(7);
    scheduler.advance(Duration.ofSeconds(4));
    assertThat(capacity()).isEqualTo(7);
    int before = discovery.requests.size();
    scheduler.advance(Duration.ofSeconds(1));
    assertThat(discovery.requests).as("back to one report a second").hasSize(before + 1);
  }

  @Test
  void aBucketTheControlPlaneGrantsNothingForFallsBackToTheStaticShareAtOnce() {
    admit(1);
    discovery.grant(50);
    client.start();
    scheduler.runDue();

    discovery.answer = r -> LeaseQuotaResponse.getDefaultInstance();
    scheduler.advance(Duration.ofSeconds(1));

    assertThat(capacity()).isEqualTo(200);
  }

  @Test
  void followsTheRefreshIntervalTheControlPlaneAsksFor() {
    admit(1);
    discovery.answer =
        r ->
            FakeDiscovery.granting(r, 10).toBuilder()
                .setRefreshInterval(Durations.fromSeconds(3))
                .build();
    client.start();

    scheduler.advance(Duration.ofSeconds(10));

    assertThat(discovery.gaps()).containsOnly(3_000L);
  }

  @Test
  void forgetsBucketsThatFellIdleOnceTheyReleasedTheirShare() {
    discovery.grant(100);
    client.start();
    admit(5);
    scheduler.advance(Duration.ofSeconds(5));

    // Demand decays with a time constant of half the window (30 s) below one unit a window.
    scheduler.advance(Duration.ofMinutes(6));

    assertThat(((SlidingWindowRateLimiter) limiter).states()).isEmpty();
    List<Double> wants = new ArrayList<>();
    for (LeaseQuotaRequest request : discovery.requests) {
      if (request.getDemandsCount() > 0) {
        wants.add(request.getDemands(0).getWants());
      }
    }
    assertThat(wants).last().isEqualTo(0.0);
    int reports = discovery.requests.size();
    scheduler.advance(Duration.ofSeconds(10));
    assertThat(discovery.requests.subList(reports, discovery.requests.size()))
        .as("no bucket left to report, only that the node is there")
        .isNotEmpty()
        .allSatisfy(r -> assertThat(r.getDemandsList()).isEmpty());
  }

  @Test
  void aSettlementAfterItsBucketWasForgottenIsChargedToTheBucketsNewState() {
    table.set(
        RateLimitTable.compile(
            List.of(policy("gold", List.of(), totalTokens(1_000, Duration.ofSeconds(1))))));
    discovery.grant(1_000);
    client.start();
    RequestQuotaContext call =
        RequestQuotaContext.builder()
            .addPolicies("gold")
            .estimatedInputTokens(100)
            .maxOutputTokens(100)
            .build();
    Reservation longStream = limiter.admit(call).orThrow();
    scheduler.advance(Duration.ofMinutes(2));
    assertThat(((SlidingWindowRateLimiter) limiter).states()).isEmpty();

    longStream.settle(Usage.newBuilder().setInputTokens(100).setOutputTokens(900).build());

    LimitBucket bucket = table.get().bucketsFor(call).get(0);
    BucketState state = ((SlidingWindowRateLimiter) limiter).state(bucket.id());
    assertThat(state).isNotNull();
    assertThat(state.usage(scheduler.getAsLong())).isEqualTo(800);
  }

  @Test
  void splitsLargeReportsIntoSeveralCalls() {
    client.close();
    scheduler.runDue();
    client = client(QuotaLeaseClient.Options.builder().maxDemandsPerRequest(2).build());
    table.set(
        RateLimitTable.compile(
            List.of(policy("gold", List.of(RATE_LIMIT_DIMENSION_CONSUMER), requests(600, MINUTE)))));
    for (String consumer : List.of("a", "b", "c", "d", "e")) {
      limiter.admit(request(consumer)).orThrow();
    }
    discovery.grant(10);

    client.start();
    scheduler.runDue();

    assertThat(discovery.requests)
        .extracting(LeaseQuotaRequest::getDemandsCount)
        .containsExactlyInAnyOrder(2, 2, 1);
    assertThat(limiter.admit(request("e")).isAdmitted()).isTrue();
    for (int i = 0; i < 10; i++) {
      limiter.admit(request("e"));
    }
    assertThat(limiter.admit(request("e")).isAdmitted()).as("every batch's leases installed").isFalse();
  }

  @Test
  void stopsReportingOnceClosed() {
    admit(1);
    discovery.grant(10);
    client.start();
    scheduler.runDue();

    client.close();
    scheduler.advance(Duration.ofSeconds(30));

    assertThat(discovery.requests).hasSize(1);
  }

  @Test
  void aLimitWhoseWindowChangedIsNoLongerReported() {
    admit(1);
    discovery.grant(10);
    client.start();
    scheduler.runDue();

    table.set(
        RateLimitTable.compile(
            List.of(policy("gold", List.of(), requests(600, Duration.ofHours(1))))));
    scheduler.advance(Duration.ofSeconds(1));

    assertThat(discovery.requests).hasSize(2);
    assertThat(discovery.requests.get(1).getDemandsList()).isEmpty();
  }

  /** A DiscoveryService whose LeaseQuota answers as the test says and records every call. */
  static final class FakeDiscovery extends DiscoveryServiceGrpc.DiscoveryServiceImplBase {
    final List<LeaseQuotaRequest> requests = new ArrayList<>();
    final List<Long> times = new ArrayList<>();
    Function<LeaseQuotaRequest, LeaseQuotaResponse> answer = r -> granting(r, 0);
    @Nullable Status failWith;
    private final LongSupplier ticker;

    FakeDiscovery(LongSupplier ticker) {
      this.ticker = ticker;
    }

    void grant(double units) {
      answer = r -> granting(r, units);
    }

    static LeaseQuotaResponse granting(LeaseQuotaRequest request, double units) {
      LeaseQuotaResponse.Builder response =
          LeaseQuotaResponse.newBuilder().setRefreshInterval(Durations.fromSeconds(1));
      for (QuotaDemand demand : request.getDemandsList()) {
        response.addLeases(
            QuotaLease.newBuilder()
                .setBucket(demand.getBucket())
                .setGranted(units)
                .setLeaseDuration(Durations.fromNanos(LEASE.toNanos())));
      }
      return response.build();
    }

    /** Milliseconds between consecutive calls. */
    List<Long> gaps() {
      List<Long> gaps = new ArrayList<>();
      for (int i = 1; i < times.size(); i++) {
        gaps.add((times.get(i) - times.get(i - 1)) / 1_000_000);
      }
      return gaps;
    }

    @Override
    public void leaseQuota(
        LeaseQuotaRequest request, StreamObserver<LeaseQuotaResponse> responseObserver) {
      requests.add(request);
      times.add(ticker.getAsLong());
      Status failure = failWith;
      if (failure != null) {
        responseObserver.onError(failure.asRuntimeException());
        return;
      }
      responseObserver.onNext(answer.apply(request));
      responseObserver.onCompleted();
    }
  }
}
