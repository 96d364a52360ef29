package dev.sluice.controlplane.discovery;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import dev.sluice.admin.v1.AdminServiceGrpc;
import dev.sluice.admin.v1.ApplyChangesRequest;
import dev.sluice.admin.v1.Change;
import dev.sluice.config.v1.RateLimitDimension;
import dev.sluice.config.v1.RateLimitMetric;
import dev.sluice.config.v1.RateLimitPolicy;
import dev.sluice.config.v1.Resource;
import dev.sluice.controlplane.ControlPlane;
import dev.sluice.controlplane.ControlPlaneExtension;
import dev.sluice.controlplane.quota.QuotaAllocator;
import dev.sluice.controlplane.store.ConfigStore;
import dev.sluice.discovery.v1.DiscoveryServiceGrpc;
import dev.sluice.discovery.v1.LeaseQuotaRequest;
import dev.sluice.discovery.v1.LeaseQuotaResponse;
import dev.sluice.discovery.v1.Node;
import dev.sluice.discovery.v1.QuotaBucket;
import dev.sluice.discovery.v1.QuotaDemand;
import dev.sluice.discovery.v1.QuotaLease;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.MetadataUtils;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * LeaseQuota as a data plane sees it, against control-plane replicas over real gRPC: answered by
 * the elected allocator whichever replica is called.
 */
@Timeout(60)
class LeaseQuotaServiceTest {
  private static final QuotaBucket KNOWN =
      QuotaBucket.newBuilder().setPolicy("per-consumer").setLimitIndex(0).setKey("consumer=acme").build();
  private static final QuotaBucket UNKNOWN =
      QuotaBucket.newBuilder().setPolicy("no-such-policy").setLimitIndex(0).setKey("").build();
  private static final Duration WAIT = Duration.ofSeconds(10);

  @TempDir Path dir;
  private ConfigStore store;
  private final List<ControlPlane> replicas = new ArrayList<>();
  private final List<ManagedChannel> channels = new ArrayList<>();

  @AfterEach
  void tearDown() throws Exception {
    for (ManagedChannel channel : channels) {
      channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
    replicas.forEach(ControlPlane::close);
    if (store != null) {
      store.close();
    }
  }

  @Test
  void anAllocatingReplicaLeasesSharesOfConfiguredLimitsOnly() throws Exception {
    ManagedChannel cp1 = start("cp-1", true);
    applyPolicy(cp1);

    LeaseQuotaResponse response = leaseEventually(cp1, r -> r.getLeasesCount() > 0);

    assertThat(response.getControlPlaneId()).isEqualTo("cp-1");
    assertThat(response.getRefreshInterval().getSeconds()).isEqualTo(1);
    assertThat(response.getFleetSize()).isEqualTo(1);
    assertThat(response.getLeasesList()).extracting(QuotaLease::getBucket).containsExactly(KNOWN);
    QuotaLease lease = response.getLeases(0);
    assertThat(lease.getGranted()).isPositive().isLessThanOrEqualTo(60.0);
    assertThat(lease.getLeaseDuration().getSeconds()).isPositive();
  }

  @Test
  void aReplicaThatDoesNotStandAndKnowsNoAllocatorTellsNodesToKeepTheirStaticShares()
      throws Exception {
    ManagedChannel cp1 = start("cp-1", false);

    StatusRuntimeException e = catchThrowableOfType(StatusRuntimeException.class, () -> lease(cp1));

    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    assertThat(ControlPlaneExtension.reason(e)).isEqualTo("QUOTA_ALLOCATOR_UNAVAILABLE");
  }

  @Test
  void aReplicaThatIsNotTheAllocatorForwardsToTheOneThatIs() throws Exception {
    ManagedChannel cp1 = start("cp-1", true);
    ManagedChannel cp2 = start("cp-2", true);
    applyPolicy(cp1);

    LeaseQuotaResponse viaCp2 = leaseEventually(cp2, r -> r.getLeasesCount() > 0);
    LeaseQuotaResponse viaCp1 = lease(cp1);

    assertThat(viaCp2.getControlPlaneId()).as("who computed the leases").isEqualTo("cp-1");
    assertThat(viaCp1.getFleetSize()).as("one node, whichever replica it called").isEqualTo(1);
  }

  @Test
  void whenTheAllocatorStopsAnotherReplicaIsElectedAndAnswers() throws Exception {
    ManagedChannel cp1 = start("cp-1", true);
    ManagedChannel cp2 = start("cp-2", true);
    applyPolicy(cp1);
    leaseEventually(cp2, r -> r.getControlPlaneId().equals("cp-1") && r.getLeasesCount() > 0);

    replicas.get(0).close();

    LeaseQuotaResponse response =
        leaseEventually(cp2, r -> r.getControlPlaneId().equals("cp-2"));
    assertThat(response.getLeasesList()).extracting(QuotaLease::getBucket).containsExactly(KNOWN);
  }

  @Test
  void anAdvertisedAddressMustBeAHostAndPort() {
    for (String bad : List.of("", "cp-1", "10.0.0.1", "10.0.0.1:0", " 10.0.0.1:1", "::1:50052")) {
      assertThatThrownBy(() -> ControlPlane.builder().advertiseAddress(bad))
          .as("advertise address '%s'", bad)
          .isInstanceOf(IllegalArgumentException.class);
    }
    ControlPlane.builder().advertiseAddress("[::1]:50052").advertiseAddress("cp-1.internal:50052");
  }

  /** Starts a replica on the shared store and returns a data plane's channel to it. */
  private ManagedChannel start(String id, boolean allocateQuota) throws Exception {
    if (store == null) {
      store = ConfigStore.embedded(dir.resolve("store"));
    }
    ControlPlane cp =
        ControlPlane.builder()
            .listenAddress(new InetSocketAddress("127.0.0.1", 0))
            .store(store)
            .adminTokens(Map.of("ops", ControlPlaneExtension.ADMIN_TOKEN))
            .controlPlaneId(id)
            .debounce(Duration.ofMillis(10), Duration.ofMillis(50))
            .allocateQuota(allocateQuota)
            // No learning period: in one process nobody can have granted before.
            .quotaAllocatorOptions(QuotaAllocator.Options.builder().learningPeriod(Duration.ZERO).build())
            .build();
    replicas.add(cp);
    cp.start();
    assertThat(cp.awaitReady(WAIT)).isTrue();
    ManagedChannel channel = NettyChannelBuilder.forAddress("127.0.0.1", cp.port()).usePlaintext().build();
    channels.add(channel);
    return channel;
  }

  private void applyPolicy(ManagedChannel channel) throws Exception {
    Metadata auth = new Metadata();
    auth.put(
        Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER),
        "Bearer " + ControlPlaneExtension.ADMIN_TOKEN);
    long version =
        AdminServiceGrpc.newBlockingStub(channel)
            .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(auth))
            .applyChanges(
                ApplyChangesRequest.newBuilder()
                    .addChanges(
                        Change.newBuilder()
                            .setUpsert(
                                Resource.newBuilder()
                                    .setRateLimitPolicy(
                                        RateLimitPolicy.newBuilder()
                                            .setName("per-consumer")
                                            .addDimensions(RateLimitDimension.RATE_LIMIT_DIMENSION_CONSUMER)
                                            .addLimits(
                                                dev.sluice.config.v1.RateLimit.newBuilder()
                                                    .setMetric(RateLimitMetric.RATE_LIMIT_METRIC_REQUESTS)
                                                    .setAmount(60)
                                                    .setWindow(
                                                        com.google.protobuf.Duration.newBuilder()
                                                            .setSeconds(60))))))
                    .build())
            .getConfigVersion();
    long deadline = System.nanoTime() + WAIT.toNanos();
    for (ControlPlane cp : replicas) {
      while (cp.snapshots().current().proto().getVersion() < version) {
        assertThat(System.nanoTime()).as("snapshot of version %s", version).isLessThan(deadline);
        Thread.sleep(10);
      }
    }
  }

  private static LeaseQuotaResponse lease(ManagedChannel channel) {
    return DiscoveryServiceGrpc.newBlockingStub(channel)
        .withDeadlineAfter(5, TimeUnit.SECONDS)
        .leaseQuota(
            LeaseQuotaRequest.newBuilder()
                .setNode(Node.newBuilder().setId("dp-1"))
                .addDemands(QuotaDemand.newBuilder().setBucket(KNOWN).setWants(30))
                .addDemands(QuotaDemand.newBuilder().setBucket(UNKNOWN).setWants(30))
                .build());
  }

  /** Calls until an answer matches (the election settles asynchronously); fails after a while. */
  private static LeaseQuotaResponse leaseEventually(
      ManagedChannel channel, Predicate<LeaseQuotaResponse> wanted) throws InterruptedException {
    long deadline = System.nanoTime() + WAIT.toNanos();
    Object last = "nothing yet";
    while (System.nanoTime() < deadline) {
      try {
        LeaseQuotaResponse response = lease(channel);
        if (wanted.test(response)) {
          return response;
        }
        last = response;
      } catch (StatusRuntimeException e) {
        last = e.getStatus();
      }
      Thread.sleep(20);
    }
    throw new AssertionError("no matching LeaseQuota answer within " + WAIT + "; last: " + last);
  }
}
