package dev.sluice.controlplane;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import dev.sluice.admin.v1.AdminServiceGrpc;
import dev.sluice.admin.v1.ApplyChangesRequest;
import dev.sluice.admin.v1.Change;
import dev.sluice.admin.v1.ListHistoryRequest;
import dev.sluice.controlplane.store.ConfigStore;
import dev.sluice.discovery.v1.DiscoveryServiceGrpc;
import dev.sluice.discovery.v1.Node;
import dev.sluice.discovery.v1.StreamConfigRequest;
import dev.sluice.discovery.v1.StreamConfigResponse;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.reflection.v1.ServerReflectionGrpc;
import io.grpc.reflection.v1.ServerReflectionRequest;
import io.grpc.reflection.v1.ServerReflectionResponse;
import io.grpc.stub.MetadataUtils;
import io.grpc.stub.StreamObserver;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.pkitesting.CertificateBuilder;
import io.netty.pkitesting.X509Bundle;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

@Timeout(60)
class ControlPlaneTest {
  private static final String TOKEN = ControlPlaneExtension.ADMIN_TOKEN;

  @TempDir Path dir;
  private ConfigStore store;
  private final List<AutoCloseable> toClose = new ArrayList<>();

  @BeforeEach
  void openStore() {
    store = ConfigStore.embedded(dir.resolve("store"));
  }

  @AfterEach
  void closeAll() throws Exception {
    for (int i = toClose.size() - 1; i >= 0; i--) {
      toClose.get(i).close();
    }
    store.close();
  }

  @Test
  void itServesHealthAndReflectionAndReportsServingOnceReady() throws Exception {
    ControlPlane cp = started(ControlPlane.builder());
    ManagedChannel channel = plaintext(cp.port());

    assertThat(cp.awaitReady(Duration.ofSeconds(10))).isTrue();
    assertThat(health(channel, "")).isEqualTo(HealthCheckResponse.ServingStatus.SERVING);
    assertThat(health(channel, "sluice.discovery.v1.DiscoveryService"))
        .isEqualTo(HealthCheckResponse.ServingStatus.SERVING);
    assertThat(listServices(channel))
        .contains("sluice.admin.v1.AdminService", "sluice.discovery.v1.DiscoveryService");
  }

  @Test
  void aStoreThatStopsAcceptingWritesTurnsOnlyTheAdminServiceUnhealthy() throws Exception {
    ControlPlane cp = started(ControlPlane.builder());
    ManagedChannel channel = plaintext(cp.port());
    assertThat(health(channel, "sluice.admin.v1.AdminService"))
        .isEqualTo(HealthCheckResponse.ServingStatus.SERVING);

    store.close();

    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (healthOnce(channel, "sluice.admin.v1.AdminService")
            == HealthCheckResponse.ServingStatus.SERVING
        && System.nanoTime() < deadline) {
      Thread.sleep(50);
    }
    assertThat(healthOnce(channel, "sluice.admin.v1.AdminService"))
        .isEqualTo(HealthCheckResponse.ServingStatus.NOT_SERVING);
    assertThat(healthOnce(channel, "sluice.discovery.v1.DiscoveryService"))
        .isEqualTo(HealthCheckResponse.ServingStatus.SERVING);
    StatusRuntimeException write =
        catchThrowableOfType(
            StatusRuntimeException.class,
            () -> admin(channel).listHistory(ListHistoryRequest.getDefaultInstance()));
    assertThat(write.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    assertThat(ControlPlaneExtension.reason(write)).isEqualTo("STORE_UNAVAILABLE");
  }

  @Test
  void metersReportTheDistributedVersionUntilClosed() throws Exception {
    SimpleMeterRegistry meters = new SimpleMeterRegistry();
    ControlPlane cp = started(ControlPlane.builder().meterRegistry(meters));
    assertThat(cp.awaitReady(Duration.ofSeconds(10))).isTrue();
    ManagedChannel channel = plaintext(cp.port());

    admin(channel)
        .applyChanges(
            ApplyChangesRequest.newBuilder()
                .addChanges(Change.newBuilder().setUpsert(Fixtures.mockBackend("mock")))
                .build());
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (meters.get("sluice.controlplane.config.version").gauge().value() < 1
        && System.nanoTime() < deadline) {
      Thread.sleep(20);
    }

    assertThat(
            meters
                .get("sluice.controlplane.config.version")
                .tag("control_plane_id", "cp-1")
                .gauge()
                .value())
        .isEqualTo(1);
    assertThat(meters.get("sluice.controlplane.snapshot.invalid.builds").functionCounter().count())
        .isZero();
    assertThat(meters.get("sluice.controlplane.fleet.nodes").tag("state", "synced").gauge().value())
        .isZero();
    cp.close();
    assertThat(meters.getMeters()).isEmpty();
  }

  @Test
  void untilTheStoreDeliversAConfigItIsNotReadyAndRefusesDataPlanes() throws Exception {
    ConfigStore silent = new SilentStore();
    ControlPlane cp =
        ControlPlane.builder()
            .listenAddress(new InetSocketAddress("127.0.0.1", 0))
            .store(silent)
            .adminTokens(Map.of("ops", TOKEN))
            .build();
    toClose.add(cp);
    cp.start();
    ManagedChannel channel = plaintext(cp.port());

    assertThat(cp.awaitReady(Duration.ofMillis(200))).isFalse();
    assertThat(healthOnce(channel, "")).isEqualTo(HealthCheckResponse.ServingStatus.NOT_SERVING);
    CompletableFuture<Throwable> ended = new CompletableFuture<>();
    StreamObserver<StreamConfigRequest> requests =
        DiscoveryServiceGrpc.newStub(channel)
            .streamConfig(
                new StreamObserver<>() {
                  @Override
                  public void onNext(StreamConfigResponse value) {}

                  @Override
                  public void onError(Throwable t) {
                    ended.complete(t);
                  }

                  @Override
                  public void onCompleted() {
                    ended.complete(null);
                  }
                });
    requests.onNext(
        StreamConfigRequest.newBuilder().setNode(Node.newBuilder().setId("dp-1")).build());
    StatusRuntimeException refused = (StatusRuntimeException) ended.get(10, TimeUnit.SECONDS);
    assertThat(refused.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    assertThat(ControlPlaneExtension.reason(refused)).isEqualTo("NOT_READY");
  }

  /** A store that never answers a watch, like etcd unreachable at start. */
  private static final class SilentStore implements ConfigStore {
    @Override
    public CompletableFuture<dev.sluice.controlplane.store.StoredConfig> read() {
      return CompletableFuture.failedFuture(new IllegalStateException("unreachable"));
    }

    @Override
    public CompletableFuture<dev.sluice.controlplane.store.StoredConfig> readAt(long version) {
      return read();
    }

    @Override
    public CompletableFuture<dev.sluice.controlplane.store.CommitOutcome> commit(
        dev.sluice.controlplane.store.Commit commit) {
      return CompletableFuture.failedFuture(new IllegalStateException("unreachable"));
    }

    @Override
    public CompletableFuture<List<dev.sluice.admin.v1.ChangeRecord>> history(
        long beforeVersion, int limit) {
      return CompletableFuture.failedFuture(new IllegalStateException("unreachable"));
    }

    @Override
    public CompletableFuture<java.util.Optional<dev.sluice.admin.v1.ChangeRecord>> findByRequestId(
        String requestId) {
      return CompletableFuture.failedFuture(new IllegalStateException("unreachable"));
    }

    @Override
    public Subscription watch(java.util.function.Consumer<dev.sluice.controlplane.store.StoredConfig> listener) {
      return () -> {};
    }

    @Override
    public CompletableFuture<Void> publishFleetStatus(
        String controlPlaneId, dev.sluice.admin.v1.FleetStatusRecord record) {
      return CompletableFuture.failedFuture(new IllegalStateException("unreachable"));
    }

    @Override
    public CompletableFuture<Void> withdrawFleetStatus(String controlPlaneId) {
      return CompletableFuture.failedFuture(new IllegalStateException("unreachable"));
    }

    @Override
    public Subscription watchFleetStatus(
        java.util.function.Consumer<
                com.google.common.collect.ImmutableMap<
                    String, dev.sluice.admin.v1.FleetStatusRecord>>
            listener) {
      return () -> {};
    }

    @Override
    public Subscription campaignForQuotaAllocator(
        dev.sluice.controlplane.store.Candidate self,
        java.util.function.Consumer<dev.sluice.controlplane.store.Leadership> listener) {
      return () -> {};
    }

    @Override
    public Subscription watchQuotaAllocator(
        java.util.function.Consumer<dev.sluice.controlplane.store.Leadership> listener) {
      return () -> {};
    }

    @Override
    public boolean isWritable() {
      return false;
    }

    @Override
    public void close() {}
  }

  @Test
  void closeIsIdempotentAndStopsServing() throws Exception {
    ControlPlane cp = started(ControlPlane.builder());
    int port = cp.port();

    cp.close();
    cp.close();

    // The port is free again (the listening socket closes on the event loop, a moment after).
    assertThat(canBind(port, Duration.ofSeconds(5))).isTrue();
    assertThatThrownBy(cp::start).isInstanceOf(IllegalStateException.class);
  }

  private static boolean canBind(int port, Duration within) throws InterruptedException {
    long end = System.nanoTime() + within.toNanos();
    while (true) {
      try (ServerSocket socket = new ServerSocket()) {
        socket.bind(new InetSocketAddress("127.0.0.1", port));
        return true;
      } catch (java.io.IOException taken) {
        if (System.nanoTime() > end) {
          return false;
        }
        Thread.sleep(50);
      }
    }
  }

  @Test
  void startingTwiceIsRefused() {
    ControlPlane cp = started(ControlPlane.builder());

    assertThatThrownBy(cp::start).isInstanceOf(IllegalStateException.class);
  }

  @Test
  void aTakenPortFailsStartWithItsAddress() throws Exception {
    try (ServerSocket taken = new ServerSocket()) {
      taken.bind(new InetSocketAddress("127.0.0.1", 0));
      ControlPlane cp =
          ControlPlane.builder()
              .listenAddress(new InetSocketAddress("127.0.0.1", taken.getLocalPort()))
              .store(store)
              .adminTokens(Map.of("ops", TOKEN))
              .build();
      toClose.add(cp);

      assertThatThrownBy(cp::start)
          .isInstanceOf(UncheckedIOException.class)
          .hasMessageContaining(Integer.toString(taken.getLocalPort()));
    }
  }

  @Test
  void requiredSettingsAreChecked() {
    assertThatThrownBy(
            () -> ControlPlane.builder().store(store).adminTokens(Map.of("a", TOKEN)).build())
        .isInstanceOf(NullPointerException.class)
        .hasMessageContaining("listenAddress");
    assertThatThrownBy(
            () ->
                ControlPlane.builder()
                    .listenAddress(new InetSocketAddress("127.0.0.1", 0))
                    .store(store)
                    .adminTokens(Map.of())
                    .build())
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> ControlPlane.builder().controlPlaneId("has space"))
        .isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void withMutualTlsTrustedClientsAreServedAndOthersRefused() throws Exception {
    X509Bundle ca =
        new CertificateBuilder()
            .subject("CN=sluice-test-ca")
            .setIsCertificateAuthority(true)
            .ecp256()
            .buildSelfSigned();
    X509Bundle server =
        new CertificateBuilder()
            .subject("CN=control-plane")
            .addSanIpAddress("127.0.0.1")
            .ecp256()
            .buildIssuedBy(ca);
    X509Bundle client =
        new CertificateBuilder().subject("CN=dp-1").ecp256().buildIssuedBy(ca);
    Path caPem = write("ca.pem", ca.getCertificatePEM());
    ControlPlane cp =
        started(
            ControlPlane.builder()
                .tls(
                    write("server.pem", server.getCertificatePathPEM()),
                    write("server.key", server.getPrivateKeyPEM()))
                .clientCa(caPem));

    ManagedChannel trusted =
        tls(
            cp.port(),
            GrpcSslContexts.forClient()
                .trustManager(caPem.toFile())
                .keyManager(
                    write("client.pem", client.getCertificatePathPEM()).toFile(),
                    write("client.key", client.getPrivateKeyPEM()).toFile()));
    ManagedChannel anonymous = tls(cp.port(), GrpcSslContexts.forClient().trustManager(caPem.toFile()));

    assertThat(health(trusted, "")).isEqualTo(HealthCheckResponse.ServingStatus.SERVING);
    assertThat(admin(trusted).listHistory(ListHistoryRequest.getDefaultInstance()).getChangesCount())
        .isZero();
    StatusRuntimeException refused =
        catchThrowableOfType(StatusRuntimeException.class, () -> health(anonymous, ""));
    assertThat(refused.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
  }

  @Test
  void aClientCaWithoutTlsIsRefused() {
    assertThatThrownBy(
            () ->
                ControlPlane.builder()
                    .listenAddress(new InetSocketAddress("127.0.0.1", 0))
                    .store(store)
                    .adminTokens(Map.of("ops", TOKEN))
                    .clientCa(dir.resolve("ca.pem"))
                    .build())
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("clientCa");
  }

  // ---- helpers

  private ControlPlane started(ControlPlane.Builder builder) {
    ControlPlane cp =
        builder
            .listenAddress(new InetSocketAddress("127.0.0.1", 0))
            .store(store)
            .adminTokens(Map.of("ops", TOKEN))
            .controlPlaneId("cp-1")
            .build();
    toClose.add(cp);
    cp.start();
    return cp;
  }

  private ManagedChannel plaintext(int port) {
    ManagedChannel channel =
        NettyChannelBuilder.forAddress("127.0.0.1", port).usePlaintext().build();
    toClose.add(() -> channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS));
    return channel;
  }

  private ManagedChannel tls(int port, SslContextBuilder ssl) throws Exception {
    ManagedChannel channel =
        NettyChannelBuilder.forAddress("127.0.0.1", port).sslContext(ssl.build()).build();
    toClose.add(() -> channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS));
    return channel;
  }

  private Path write(String name, String content) throws Exception {
    return Files.writeString(dir.resolve(name), content);
  }

  private static HealthCheckResponse.ServingStatus health(ManagedChannel channel, String service)
      throws InterruptedException {
    // Health turns SERVING when the first snapshot is built, a moment after start.
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (true) {
      HealthCheckResponse.ServingStatus status =
          HealthGrpc.newBlockingStub(channel)
              .withDeadlineAfter(10, TimeUnit.SECONDS)
              .check(HealthCheckRequest.newBuilder().setService(service).build())
              .getStatus();
      if (status == HealthCheckResponse.ServingStatus.SERVING || System.nanoTime() > deadline) {
        return status;
      }
      Thread.sleep(20);
    }
  }

  private static HealthCheckResponse.ServingStatus healthOnce(ManagedChannel channel, String service) {
    return HealthGrpc.newBlockingStub(channel)
        .withDeadlineAfter(10, TimeUnit.SECONDS)
        .check(HealthCheckRequest.newBuilder().setService(service).build())
        .getStatus();
  }

  private static AdminServiceGrpc.AdminServiceBlockingStub admin(ManagedChannel channel) {
    Metadata headers = new Metadata();
    headers.put(
        Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + TOKEN);
    return AdminServiceGrpc.newBlockingStub(channel)
        .withDeadlineAfter(10, TimeUnit.SECONDS)
        .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers));
  }

  private static List<String> listServices(ManagedChannel channel) throws Exception {
    CompletableFuture<ServerReflectionResponse> response = new CompletableFuture<>();
    StreamObserver<ServerReflectionRequest> requests =
        ServerReflectionGrpc.newStub(channel)
            .withDeadlineAfter(10, TimeUnit.SECONDS)
            .serverReflectionInfo(
                new StreamObserver<>() {
                  @Override
                  public void onNext(ServerReflectionResponse value) {
                    response.complete(value);
                  }

                  @Override
                  public void onError(Throwable t) {
                    response.completeExceptionally(t);
                  }

                  @Override
                  public void onCompleted() {}
                });
    requests.onNext(ServerReflectionRequest.newBuilder().setListServices("").build());
    requests.onCompleted();
    return response.get(10, TimeUnit.SECONDS).getListServicesResponse().getServiceList().stream()
        .map(s -> s.getName())
        .toList();
  }
}
