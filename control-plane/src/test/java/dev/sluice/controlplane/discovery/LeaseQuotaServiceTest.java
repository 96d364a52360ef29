package dev.sluice.controlplane.discovery;

import static org.assertj.core.api.Assertions.assertThat;
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
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

@Timeout(60)
class LeaseQuotaServiceTest {
  private static final QuotaBucket KNOWN =
      QuotaBucket.newBuilder().setPolicy("per-consumer").setLimitIndex(0).setKey("consumer=acme").build();
  private static final QuotaBucket UNKNOWN =
      QuotaBucket.newBuilder().setPolicy("no-such-policy").setLimitIndex(0).setKey("").build();

  @TempDir Path dir;
  private ConfigStore store;
  private ControlPlane cp;
  private ManagedChannel channel;

  @AfterEach
  void tearDown() throws Exception {
    if (channel != null) {
      channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
    if (cp != null) {
      cp.close();
    }
    if (store != null) {
      store.close();
    }
  }

  @Test
  void anAllocatingReplicaLeasesSharesOfConfiguredLimitsOnly() throws Exception {
    start(true);
    applyPolicy();

    LeaseQuotaResponse response = lease();

    assertThat(response.getControlPlaneId()).isEqualTo("cp-1");
    assertThat(response.getRefreshInterval().getSeconds()).isEqualTo(1);
    assertThat(response.getLeasesList()).extracting(QuotaLease::getBucket).containsExactly(KNOWN);
    QuotaLease lease = response.getLeases(0);
    assertThat(lease.getGranted()).isPositive().isLessThanOrEqualTo(60.0);
    assertThat(lease.getLeaseDuration().getSeconds()).isPositive();
  }

  @Test
  void aReplicaThatDoesNotAllocateTellsNodesToKeepTheirStaticShares() throws Exception {
    start(false);

    StatusRuntimeException e = catchThrowableOfType(StatusRuntimeException.class, this::lease);

    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
  }

  private void start(boolean allocateQuota) throws Exception {
    store = ConfigStore.embedded(dir.resolve("store"));
    cp =
        ControlPlane.builder()
            .listenAddress(new InetSocketAddress("127.0.0.1", 0))
            .store(store)
            .adminTokens(Map.of("ops", ControlPlaneExtension.ADMIN_TOKEN))
            .controlPlaneId("cp-1")
            .debounce(Duration.ofMillis(10), Duration.ofMillis(50))
            .allocateQuota(allocateQuota)
            // No learning period: this allocator is the first, so no earlier leases exist.
            .quotaAllocatorOptions(
                dev.sluice.controlplane.quota.QuotaAllocator.Options.builder()
                    .learningPeriod(Duration.ZERO)
                    .build())
            .build();
    cp.start();
    assertThat(cp.awaitReady(Duration.ofSeconds(10))).isTrue();
    channel = NettyChannelBuilder.forAddress("127.0.0.1", cp.port()).usePlaintext().build();
  }

  private void applyPolicy() throws Exception {
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
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (cp.snapshots().current().proto().getVersion() < version) {
      assertThat(System.nanoTime()).isLessThan(deadline);
      Thread.sleep(10);
    }
  }

  private LeaseQuotaResponse lease() {
    return DiscoveryServiceGrpc.newBlockingStub(channel)
        .withDeadlineAfter(5, TimeUnit.SECONDS)
        .leaseQuota(
            LeaseQuotaRequest.newBuilder()
                .setNode(Node.newBuilder().setId("dp-1"))
                .addDemands(QuotaDemand.newBuilder().setBucket(KNOWN).setWants(30))
                .addDemands(QuotaDemand.newBuilder().setBucket(UNKNOWN).setWants(30))
                .build());
  }
}
