package dev.sluice.integration;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.util.Durations;
import dev.sluice.admin.v1.AdminServiceGrpc;
import dev.sluice.admin.v1.AdminServiceGrpc.AdminServiceBlockingStub;
import dev.sluice.admin.v1.ApplyChangesRequest;
import dev.sluice.admin.v1.ApplyChangesResponse;
import dev.sluice.admin.v1.Change;
import dev.sluice.admin.v1.WaitForFleetVersionRequest;
import dev.sluice.admin.v1.WaitForFleetVersionResponse;
import dev.sluice.client.SluiceClient;
import dev.sluice.config.v1.Resource;
import dev.sluice.controlplane.ControlPlane;
import dev.sluice.controlplane.store.ConfigStore;
import dev.sluice.dataplane.DataPlane;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.stub.MetadataUtils;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * A running gateway for a test class: a control plane on the given store and one data plane
 * connected to it over the real discovery stream, both on 127.0.0.1 and ephemeral ports. Config
 * goes in through the admin API, as an operator's would.
 */
final class GatewayFixture implements AutoCloseable {
  static final String ADMIN_TOKEN = "integration-test-admin-token";
  private static final Duration CONVERGENCE = Duration.ofSeconds(30);

  private final ConfigStore store;
  private final ControlPlane controlPlane;
  private final DataPlane dataPlane;
  private final ManagedChannel adminChannel;
  private final Path scratch;
  private final List<SluiceClient> clients = new ArrayList<>();

  private GatewayFixture(
      ConfigStore store,
      ControlPlane controlPlane,
      DataPlane dataPlane,
      ManagedChannel adminChannel,
      Path scratch) {
    this.store = store;
    this.controlPlane = controlPlane;
    this.dataPlane = dataPlane;
    this.adminChannel = adminChannel;
    this.scratch = scratch;
  }

  /** Starts a control plane on {@code store} (which the fixture closes) and a data plane. */
  static GatewayFixture start(ConfigStore store) throws Exception {
    Path scratch = Files.createTempDirectory("sluice-it-");
    ControlPlane controlPlane =
        ControlPlane.builder()
            .listenAddress(new InetSocketAddress("127.0.0.1", 0))
            .store(store)
            .adminTokens(Map.of("it", ADMIN_TOKEN))
            .controlPlaneId("it-cp")
            .build();
    controlPlane.start();
    DataPlane dataPlane =
        DataPlane.builder()
            .listenAddress(new InetSocketAddress("127.0.0.1", 0))
            .controlPlaneTargets(List.of("127.0.0.1:" + controlPlane.port()))
            .nodeId("it-dp")
            .nodeLabels(Map.of("test", "integration"))
            .snapshotCacheFile(scratch.resolve("snapshot.bin"))
            .allowAnonymous(true)
            .build();
    dataPlane.start();
    Metadata headers = new Metadata();
    headers.put(
        Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER),
        "Bearer " + ADMIN_TOKEN);
    ManagedChannel adminChannel =
        Grpc.newChannelBuilder(
                "127.0.0.1:" + controlPlane.port(), InsecureChannelCredentials.create())
            .intercept(MetadataUtils.newAttachHeadersInterceptor(headers))
            .build();
    return new GatewayFixture(store, controlPlane, dataPlane, adminChannel, scratch);
  }

  /** The admin API, authenticated, with a deadline. */
  AdminServiceBlockingStub admin() {
    return AdminServiceGrpc.newBlockingStub(adminChannel).withDeadlineAfter(60, TimeUnit.SECONDS);
  }

  /**
   * Applies {@code resources} as one change set and waits until the data plane serves the new
   * version; returns it.
   */
  long apply(Resource... resources) {
    ApplyChangesRequest.Builder request =
        ApplyChangesRequest.newBuilder().setAuthor("integration test").setReason("test setup");
    for (Resource resource : resources) {
      request.addChanges(Change.newBuilder().setUpsert(resource));
    }
    ApplyChangesResponse applied = admin().applyChanges(request.build());
    WaitForFleetVersionResponse fleet =
        admin()
            .waitForFleetVersion(
                WaitForFleetVersionRequest.newBuilder()
                    .setConfigVersion(applied.getConfigVersion())
                    // The data plane may not have connected yet.
                    .setMinNodeCount(1)
                    .setTimeout(Durations.fromMillis(CONVERGENCE.toMillis()))
                    .build());
    assertThat(fleet.getConverged())
        .as("data plane serves version %s: %s", applied.getConfigVersion(), fleet)
        .isTrue();
    assertThat(fleet.getConvergedNodeCount()).isEqualTo(1);
    return applied.getConfigVersion();
  }

  /** The inference API as clients dial it. */
  String dataPlaneTarget() {
    return "127.0.0.1:" + dataPlane.port();
  }

  /** An SDK client of the data plane, closed with the fixture. */
  SluiceClient client() {
    SluiceClient client =
        SluiceClient.builder()
            .target(dataPlaneTarget())
            .plaintext()
            .deadline(Duration.ofSeconds(60))
            .build();
    clients.add(client);
    return client;
  }

  @Override
  public void close() throws IOException {
    clients.forEach(SluiceClient::close);
    adminChannel.shutdownNow();
    try {
      adminChannel.awaitTermination(10, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    dataPlane.close();
    controlPlane.close();
    store.close();
    try (Stream<Path> paths = Files.walk(scratch)) {
      for (Path path : paths.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(path);
      }
    }
  }
}
