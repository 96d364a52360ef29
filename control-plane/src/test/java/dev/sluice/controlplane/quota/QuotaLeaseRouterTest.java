package dev.sluice.controlplane.quota;

import static dev.sluice.controlplane.quota.QuotaAllocatorTest.policy;
import static dev.sluice.controlplane.quota.QuotaAllocatorTest.report;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import com.google.protobuf.util.Durations;
import com.google.rpc.ErrorInfo;
import dev.sluice.config.v1.ConfigSnapshot;
import dev.sluice.config.v1.Resource;
import dev.sluice.controlplane.ControlPlaneExtension;
import dev.sluice.controlplane.store.Candidate;
import dev.sluice.controlplane.store.Leadership;
import dev.sluice.discovery.v1.DiscoveryServiceGrpc;
import dev.sluice.discovery.v1.LeaseQuotaRequest;
import dev.sluice.discovery.v1.LeaseQuotaResponse;
import dev.sluice.discovery.v1.QuotaLease;
import io.grpc.Context;
import io.grpc.Deadline;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.InsecureServerCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.MetadataUtils;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Where a replica's LeaseQuota calls are answered, over real gRPC on loopback: by its own allocator
 * while it leads, by the leader while another leads, and otherwise with UNAVAILABLE
 * (QUOTA_ALLOCATOR_UNAVAILABLE) that tells nodes to keep their leases and static shares.
 */
@Timeout(30)
class QuotaLeaseRouterTest {
  private static final Duration LEASE = Duration.ofSeconds(10);
  private static final Duration FORWARD_TIMEOUT = Duration.ofMillis(300);
  private static final Candidate SELF = new Candidate("cp-b", "127.0.0.1:1");
  private static final ConfigSnapshot CONFIG =
      ConfigSnapshot.newBuilder()
          .addResources(Resource.newBuilder().setRateLimitPolicy(policy("gold", 600)))
          .build();

  private final AtomicLong nanos = new AtomicLong(1_000_000_000_000L);
  private final AtomicInteger allocatorsMade = new AtomicInteger();
  private final List<AutoCloseable> toClose = new ArrayList<>();
  private QuotaLeaseRouter router;
  private ManagedChannel channel;

  @BeforeEach
  void startReplica() throws IOException {
    router =
        QuotaLeaseRouter.create(
            "cp-b",
            () -> {
              allocatorsMade.incrementAndGet();
              return QuotaAllocator.create(
                  "cp-b",
                  nanos::get,
                  QuotaAllocator.Options.builder().leaseDuration(LEASE).build());
            },
            PeerChannels.plaintext(),
            FORWARD_TIMEOUT);
    router.apply(CONFIG);
    Server server = serve(new RouterService(router), QuotaLeaseRouter.forwardedCallMarker());
    channel = channelTo(server.getPort());
  }

  @AfterEach
  void stopEverything() throws Exception {
    router.close();
    for (int i = toClose.size() - 1; i >= 0; i--) {
      toClose.get(i).close();
    }
  }

  @Nested
  class WhileLeading {
    @Test
    void itsOwnAllocatorAnswersOnceTheLearningPeriodIsOver() {
      router.accept(leading(7));
      LeaseQuotaResponse learning = lease(report("dp-1", 900, 0));

      nanos.addAndGet(LEASE.toNanos());
      LeaseQuotaResponse granting = lease(report("dp-1", 900, 0));

      assertThat(learning.getLeasesList()).as("learning: no leases yet").isEmpty();
      assertThat(granting.getControlPlaneId()).isEqualTo("cp-b");
      assertThat(granting.getLeasesList()).extracting(QuotaLease::getGranted).containsExactly(600.0);
      assertThat(granting.getFleetSize()).isEqualTo(1);
    }

    @Test
    void aRenewedTenureKeepsItsAllocatorButANewTermStartsAFreshOneThatLearnsAgain() {
      router.accept(leading(7));
      nanos.addAndGet(LEASE.toNanos());
      router.accept(leading(7));
      LeaseQuotaResponse renewed = lease(report("dp-1", 100, 0));

      router.accept(Leadership.vacant());
      router.accept(leading(9));
      LeaseQuotaResponse newTerm = lease(report("dp-1", 100, 0));

      assertThat(renewed.getLeasesCount()).isEqualTo(1);
      assertThat(newTerm.getLeasesList()).as("a new term learns first").isEmpty();
      assertThat(allocatorsMade).hasValue(2);
    }

    @Test
    void aTenureThatRanOutGrantsNothingEvenBeforeTheStoreSaysSo() {
      router.accept(
          new Leadership.Leading(SELF, 7, Deadline.after(-1, TimeUnit.MILLISECONDS)));

      StatusRuntimeException e = refused(report("dp-1", 100, 0));

      assertUnavailable(e);
      assertThat(e.getStatus().getDescription()).contains("tenure");
    }

    @Test
    void closingStopsGrantingAtOnce() {
      router.accept(leading(7));

      router.close();

      assertUnavailable(refused(report("dp-1", 100, 0)));
    }
  }

  @Nested
  class WhileFollowing {
    private final FakeLeader leader = new FakeLeader();
    private Candidate leaderAt;

    @BeforeEach
    void startLeader() throws IOException {
      Server server = serve(leader, headerRecorder(leader));
      leaderAt = new Candidate("cp-a", "127.0.0.1:" + server.getPort());
    }

    @Test
    void itForwardsToTheLeaderAndReturnsItsAnswerUnchanged() {
      router.accept(new Leadership.Following(leaderAt, 3));
      LeaseQuotaRequest request = report("dp-1", 100, 20);

      LeaseQuotaResponse response = lease(request);

      assertThat(response).isEqualTo(FakeLeader.ANSWER);
      assertThat(leader.requests).containsExactly(request);
      assertThat(leader.forwardedBy).containsExactly("cp-b");
    }

    @Test
    void aCallAnotherReplicaForwardedHereIsRefusedNotForwardedAgain() {
      router.accept(new Leadership.Following(leaderAt, 3));
      Metadata forwarded = new Metadata();
      forwarded.put(
          Metadata.Key.of(QuotaLeaseRouter.FORWARDED_BY_HEADER, Metadata.ASCII_STRING_MARSHALLER),
          "cp-c");

      StatusRuntimeException e =
          catchThrowableOfType(
              StatusRuntimeException.class,
              () ->
                  stub()
                      .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(forwarded))
                      .leaseQuota(report("dp-1", 100, 0)));

      assertUnavailable(e);
      assertThat(leader.requests).as("calls that reached the leader").isEmpty();
    }

    @Test
    void aLeaderThatDoesNotAnswerInTimeIsUnavailableWellBeforeTheNodesOwnDeadline() {
      router.accept(new Leadership.Following(leaderAt, 3));
      leader.hang = true;

      long start = System.nanoTime();
      StatusRuntimeException e = refused(report("dp-1", 100, 0));
      long tookMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);

      assertUnavailable(e);
      assertThat(ControlPlaneExtension.detail(e, ErrorInfo.class).orElseThrow().getMetadataMap())
          .containsEntry("quota_allocator", "cp-a");
      assertThat(tookMillis).as("the node's deadline is 2 s").isLessThan(1_500);
    }

    @Test
    void aNodeThatCancelsItsCallCancelsTheForward() throws Exception {
      // Forward and node deadlines far beyond the wait below: only the cancellation can end it.
      QuotaLeaseRouter patient =
          QuotaLeaseRouter.create(
              "cp-b", () -> null, PeerChannels.plaintext(), Duration.ofSeconds(60));
      toClose.add(patient);
      patient.accept(new Leadership.Following(leaderAt, 3));
      Server server = serve(new RouterService(patient), QuotaLeaseRouter.forwardedCallMarker());
      leader.hang = true;

      var call =
          DiscoveryServiceGrpc.newFutureStub(channelTo(server.getPort()))
              .withDeadlineAfter(120, TimeUnit.SECONDS)
              .leaseQuota(report("dp-1", 100, 0));
      assertThat(leader.arrived.await(10, TimeUnit.SECONDS)).as("the forward arrived").isTrue();
      call.cancel(true);

      assertThat(leader.cancelled.await(10, TimeUnit.SECONDS))
          .as("the leader saw the forward cancelled")
          .isTrue();
    }

    @Test
    void anUnreachableLeaderMeansUnavailable() throws IOException {
      router.accept(new Leadership.Following(new Candidate("cp-a", "127.0.0.1:" + freePort()), 3));

      assertUnavailable(refused(report("dp-1", 100, 0)));
    }

    @Test
    void aLeaderErrorAboutTheRequestIsPassedOnAsItIs() {
      router.accept(new Leadership.Following(leaderAt, 3));
      leader.failWith = Status.INVALID_ARGUMENT.withDescription("demands[0].bucket: unknown");

      StatusRuntimeException e = refused(report("dp-1", 100, 0));

      assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
      assertThat(e.getStatus().getDescription()).isEqualTo("demands[0].bucket: unknown");
    }

    @Test
    void anyOtherLeaderErrorMeansUnavailable() {
      router.accept(new Leadership.Following(leaderAt, 3));
      leader.failWith = Status.PERMISSION_DENIED.withDescription("no client certificate");

      StatusRuntimeException e = refused(report("dp-1", 100, 0));

      assertUnavailable(e);
      assertThat(e.getStatus().getDescription())
          .contains("PERMISSION_DENIED")
          .doesNotContain("no client certificate");
    }
  }

  @Test
  void noKnownLeaderMeansUnavailableWithTheReasonNodesBackOffOn() {
    StatusRuntimeException before = refused(report("dp-1", 100, 0));
    router.accept(leading(7));
    router.accept(Leadership.vacant());
    StatusRuntimeException after = refused(report("dp-1", 100, 0));

    assertUnavailable(before);
    assertUnavailable(after);
  }

  @Test
  void aMalformedRequestIsInvalidArgumentWhoeverLeads() {
    LeaseQuotaRequest malformed = report("dp 1", 100, 0);

    StatusRuntimeException e = refused(malformed);

    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
    assertThat(e.getStatus().getDescription()).contains("node.id");
  }

  // ---------------------------------------------------------------- helpers

  private static Leadership.Leading leading(long term) {
    return new Leadership.Leading(SELF, term, Deadline.after(1, TimeUnit.HOURS));
  }

  private DiscoveryServiceGrpc.DiscoveryServiceBlockingStub stub() {
    return DiscoveryServiceGrpc.newBlockingStub(channel).withDeadlineAfter(2, TimeUnit.SECONDS);
  }

  private LeaseQuotaResponse lease(LeaseQuotaRequest request) {
    return stub().leaseQuota(request);
  }

  private StatusRuntimeException refused(LeaseQuotaRequest request) {
    return catchThrowableOfType(StatusRuntimeException.class, () -> lease(request));
  }

  private static void assertUnavailable(StatusRuntimeException e) {
    assertThat(e).as("the call failed").isNotNull();
    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    assertThat(ControlPlaneExtension.reason(e)).isEqualTo("QUOTA_ALLOCATOR_UNAVAILABLE");
  }

  private Server serve(io.grpc.BindableService service, ServerInterceptor interceptor)
      throws IOException {
    Server server =
        Grpc.newServerBuilderForPort(0, InsecureServerCredentials.create())
            .addService(ServerInterceptors.intercept(service, interceptor))
            .build()
            .start();
    toClose.add(() -> server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS));
    return server;
  }

  private ManagedChannel channelTo(int port) {
    ManagedChannel c =
        Grpc.newChannelBuilderForAddress("127.0.0.1", port, InsecureChannelCredentials.create())
            .build();
    toClose.add(() -> c.shutdownNow().awaitTermination(5, TimeUnit.SECONDS));
    return c;
  }

  private static int freePort() throws IOException {
    try (ServerSocket socket = new ServerSocket()) {
      socket.bind(new InetSocketAddress("127.0.0.1", 0));
      return socket.getLocalPort();
    }
  }

  private static ServerInterceptor headerRecorder(FakeLeader leader) {
    Metadata.Key<String> key =
        Metadata.Key.of(QuotaLeaseRouter.FORWARDED_BY_HEADER, Metadata.ASCII_STRING_MARSHALLER);
    return new ServerInterceptor() {
      @Override
      public <ReqT, RespT> ServerCall.Listener<ReqT> interceptCall(
          ServerCall<ReqT, RespT> call, Metadata headers, ServerCallHandler<ReqT, RespT> next) {
        String from = headers.get(key);
        if (from != null) {
          leader.forwardedBy.add(from);
        }
        return next.startCall(call, headers);
      }
    };
  }

  /** The replica under test, served as the discovery service serves LeaseQuota. */
  private static final class RouterService extends DiscoveryServiceGrpc.DiscoveryServiceImplBase {
    private final QuotaLeaseRouter router;

    RouterService(QuotaLeaseRouter router) {
      this.router = router;
    }

    @Override
    public void leaseQuota(
        LeaseQuotaRequest request, StreamObserver<LeaseQuotaResponse> responseObserver) {
      router.lease(request, responseObserver);
    }
  }

  /** The elected replica elsewhere: answers, hangs or fails as told, and records what it got. */
  private static final class FakeLeader extends DiscoveryServiceGrpc.DiscoveryServiceImplBase {
    static final LeaseQuotaResponse ANSWER =
        LeaseQuotaResponse.newBuilder()
            .setControlPlaneId("cp-a")
            .setFleetSize(3)
            .setRefreshInterval(Durations.fromSeconds(1))
            .addLeases(
                QuotaLease.newBuilder()
                    .setBucket(QuotaAllocatorTest.report("dp-1", 1, 0).getDemands(0).getBucket())
                    .setGranted(123)
                    .setLeaseDuration(Durations.fromSeconds(10)))
            .build();

    final List<LeaseQuotaRequest> requests = new java.util.concurrent.CopyOnWriteArrayList<>();
    final List<String> forwardedBy = new java.util.concurrent.CopyOnWriteArrayList<>();
    final CountDownLatch arrived = new CountDownLatch(1);
    final CountDownLatch cancelled = new CountDownLatch(1);
    volatile boolean hang;
    volatile Status failWith;

    @Override
    public void leaseQuota(
        LeaseQuotaRequest request, StreamObserver<LeaseQuotaResponse> responseObserver) {
      requests.add(request);
      Context.current()
          .addListener(ctx -> cancelled.countDown(), com.google.common.util.concurrent.MoreExecutors.directExecutor());
      arrived.countDown();
      if (hang) {
        return;
      }
      if (failWith != null) {
        responseObserver.onError(failWith.asRuntimeException());
        return;
      }
      responseObserver.onNext(ANSWER);
      responseObserver.onCompleted();
    }
  }
}
