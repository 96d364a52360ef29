package dev.sluice.bench.controlplane;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.admin.v1.AdminServiceGrpc;
import dev.sluice.admin.v1.ApplyChangesRequest;
import dev.sluice.config.v1.Resource;
import dev.sluice.controlplane.ControlPlane;
import dev.sluice.controlplane.store.ConfigStore;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.MetadataUtils;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The fan-out benchmark's pieces against a real control plane: the generated config is valid,
 * simulated data planes receive it and their ACKs are tracked to convergence. Counts, not times.
 */
class FanOutHarnessTest {
  private static final String TOKEN = "bench-token-0123456789abcdef0123456789";

  @Test
  void simulatedDataPlanesConvergeOnEveryApply(@TempDir Path dir) throws Exception {
    List<Resource> config = BenchConfig.resources(300);
    assertThat(config).hasSize(300);
    try (ConfigStore store = ConfigStore.embedded(dir);
        ControlPlane cp =
            ControlPlane.builder()
                .listenAddress(new InetSocketAddress("127.0.0.1", 0))
                .store(store)
                .adminTokens(Map.of("bench", TOKEN))
                .build()) {
      cp.start();
      assertThat(cp.awaitReady(Duration.ofSeconds(30))).isTrue();
      ManagedChannel ch =
          NettyChannelBuilder.forAddress(new InetSocketAddress("127.0.0.1", cp.port()))
              .usePlaintext()
              .build();
      try {
        Metadata md = new Metadata();
        md.put(
            Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + TOKEN);
        var admin =
            AdminServiceGrpc.newBlockingStub(ch)
                .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(md));
        long version = 0;
        for (ApplyChangesRequest load : BenchConfig.load(config)) {
          version = admin.applyChanges(load).getConfigVersion();
        }
        try (SimulatedFleet fleet =
            SimulatedFleet.open(new InetSocketAddress("127.0.0.1", cp.port()), 5, 5, "test")) {
          Convergence conv = fleet.convergence();
          conv.target(version);
          assertThat(conv.await(TimeUnit.SECONDS.toNanos(30))).isPositive();
          for (int i = 0; i < 3; i++) {
            conv.reset();
            long v = admin.applyChanges(BenchConfig.change(i, config.size())).getConfigVersion();
            assertThat(v).isGreaterThan(version);
            version = v;
            conv.target(v);
            assertThat(conv.await(TimeUnit.SECONDS.toNanos(30))).isPositive();
          }
          assertThat(fleet.failedStreams.sum()).isZero();
          assertThat(fleet.snapshotBytes.sum()).isPositive();
        }
      } finally {
        ch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      }
    }
  }
}
