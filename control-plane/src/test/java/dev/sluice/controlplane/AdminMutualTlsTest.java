package dev.sluice.controlplane;

import static dev.sluice.controlplane.ControlPlaneExtension.reason;
import static dev.sluice.controlplane.Fixtures.await;
import static dev.sluice.controlplane.Fixtures.mockBackend;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import dev.sluice.admin.v1.AdminServiceGrpc;
import dev.sluice.admin.v1.ApplyChangesRequest;
import dev.sluice.admin.v1.ApplyChangesResponse;
import dev.sluice.admin.v1.Change;
import dev.sluice.admin.v1.ChangeRecord;
import dev.sluice.admin.v1.ListHistoryRequest;
import dev.sluice.config.v1.Resource;
import dev.sluice.controlplane.store.ConfigStore;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.MetadataUtils;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.pkitesting.CertificateBuilder;
import io.netty.pkitesting.X509Bundle;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Admin identity from client certificates, over real mutual TLS on loopback: one CA issues the
 * control plane's certificate, an operator's admin certificate and a data plane's certificate;
 * only the operator's is listed for admin.
 */
@Timeout(60)
class AdminMutualTlsTest {
  private static final String TOKEN = ControlPlaneExtension.ADMIN_TOKEN;
  private static final String OPS_URI = "spiffe://sluice.test/ops/deployer";

  @TempDir Path dir;
  private final List<AutoCloseable> toClose = new ArrayList<>();
  private ConfigStore store;
  private X509Bundle ca;
  private Path caPem;
  private Path serverPem;
  private Path serverKey;

  @BeforeEach
  void issueCertificates() throws Exception {
    store = ConfigStore.embedded(dir.resolve("store"));
    ca =
        new CertificateBuilder()
            .subject("CN=sluice-test-ca")
            .setIsCertificateAuthority(true)
            .ecp256()
            .buildSelfSigned();
    caPem = write("ca.pem", ca.getCertificatePEM());
    X509Bundle server =
        new CertificateBuilder()
            .subject("CN=control-plane")
            .addSanIpAddress("127.0.0.1")
            .ecp256()
            .buildIssuedBy(ca);
    serverPem = write("server.pem", server.getCertificatePathPEM());
    serverKey = write("server.key", server.getPrivateKeyPEM());
  }

  @AfterEach
  void closeAll() throws Exception {
    for (int i = toClose.size() - 1; i >= 0; i--) {
      toClose.get(i).close();
    }
    store.close();
  }

  @Test
  void anApplyWithTheAdminCertificateIsRecordedUnderItsPrincipal() throws Exception {
    ControlPlane cp = started(Map.of("ci-bot", TOKEN));
    ManagedChannel operator = channel(cp, "operator", new CertificateBuilder().subject("CN=deployer").addSanUriName(OPS_URI));

    ApplyChangesResponse applied = admin(operator, null).applyChanges(applyOf(mockBackend("mock")));

    ChangeRecord record = latestRecord(admin(operator, null));
    assertThat(record.getConfigVersion()).isEqualTo(applied.getConfigVersion());
    assertThat(record.getPrincipal()).isEqualTo("deployer");
  }

  @Test
  void aDataPlaneCertificateConnectsButIsNoAdminCredential() throws Exception {
    ControlPlane cp = started(Map.of("ci-bot", TOKEN));
    ManagedChannel dataPlane = channel(cp, "dp-1", new CertificateBuilder().subject("CN=dp-1"));

    StatusRuntimeException refused =
        catchThrowableOfType(
            StatusRuntimeException.class,
            () -> admin(dataPlane, null).applyChanges(applyOf(mockBackend("mock"))));

    assertThat(health(dataPlane)).as("the handshake accepted it").isEqualTo(ServingStatus.SERVING);
    assertThat(refused.getStatus().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED);
    assertThat(reason(refused)).isEqualTo("INVALID_CREDENTIAL");
    assertThat(refused.getStatus().getDescription())
        .contains("inference API keys are not admin credentials");
    assertThat(await(store.read()).version()).as("nothing was written").isZero();
  }

  @Test
  void aTokenStillWorksOnACertificateThatIsNotListed() throws Exception {
    ControlPlane cp = started(Map.of("ci-bot", TOKEN));
    ManagedChannel dataPlane = channel(cp, "dp-1", new CertificateBuilder().subject("CN=dp-1"));

    admin(dataPlane, TOKEN).applyChanges(applyOf(mockBackend("mock")));

    assertThat(latestRecord(admin(dataPlane, TOKEN)).getPrincipal()).isEqualTo("ci-bot");
  }

  @Test
  void withoutAnyAdminTokenTheListedCertificateIsTheOnlyWayIn() throws Exception {
    ControlPlane cp = started(Map.of());
    ManagedChannel operator = channel(cp, "operator", new CertificateBuilder().subject("CN=deployer").addSanUriName(OPS_URI));
    ManagedChannel dataPlane = channel(cp, "dp-1", new CertificateBuilder().subject("CN=dp-1"));

    admin(operator, null).applyChanges(applyOf(mockBackend("mock")));
    StatusRuntimeException withToken =
        catchThrowableOfType(
            StatusRuntimeException.class,
            () -> admin(dataPlane, TOKEN).listHistory(ListHistoryRequest.getDefaultInstance()));

    assertThat(latestRecord(admin(operator, null)).getPrincipal()).isEqualTo("deployer");
    assertThat(withToken.getStatus().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED);
    assertThat(reason(withToken)).isEqualTo("INVALID_CREDENTIAL");
  }

  @Test
  void adminCertificatesNeedAClientCaToVerifyThem() {
    assertThatThrownBy(
            () ->
                ControlPlane.builder()
                    .listenAddress(new InetSocketAddress("127.0.0.1", 0))
                    .store(store)
                    .tls(serverPem, serverKey)
                    .adminCertificatePrincipals(Map.of(OPS_URI, "deployer"))
                    .build())
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("requires clientCa");
  }

  // ---- helpers

  private ControlPlane started(Map<String, String> tokens) throws Exception {
    ControlPlane cp =
        ControlPlane.builder()
            .listenAddress(new InetSocketAddress("127.0.0.1", 0))
            .store(store)
            .tls(serverPem, serverKey)
            .clientCa(caPem)
            .adminTokens(tokens)
            .adminCertificatePrincipals(Map.of(OPS_URI, "deployer"))
            .controlPlaneId("cp-mtls")
            .debounce(Duration.ofMillis(10), Duration.ofMillis(50))
            .build();
    toClose.add(cp);
    cp.start();
    assertThat(cp.awaitReady(Duration.ofSeconds(10))).isTrue();
    return cp;
  }

  /** A TLS channel to {@code cp} presenting a certificate the CA issued from {@code subject}. */
  private ManagedChannel channel(ControlPlane cp, String name, CertificateBuilder subject)
      throws Exception {
    X509Bundle client = subject.ecp256().buildIssuedBy(ca);
    SslContextBuilder ssl =
        GrpcSslContexts.forClient()
            .trustManager(caPem.toFile())
            .keyManager(
                write(name + ".pem", client.getCertificatePathPEM()).toFile(),
                write(name + ".key", client.getPrivateKeyPEM()).toFile());
    ManagedChannel channel =
        NettyChannelBuilder.forAddress("127.0.0.1", cp.port()).sslContext(ssl.build()).build();
    toClose.add(() -> channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS));
    return channel;
  }

  private static AdminServiceGrpc.AdminServiceBlockingStub admin(
      ManagedChannel channel, @Nullable String token) {
    AdminServiceGrpc.AdminServiceBlockingStub stub =
        AdminServiceGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS);
    if (token == null) {
      return stub;
    }
    Metadata headers = new Metadata();
    headers.put(
        Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + token);
    return stub.withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers));
  }

  private static ApplyChangesRequest applyOf(Resource resource) {
    return ApplyChangesRequest.newBuilder()
        .addChanges(Change.newBuilder().setUpsert(resource))
        .setReason("mTLS test")
        .build();
  }

  private static ChangeRecord latestRecord(AdminServiceGrpc.AdminServiceBlockingStub admin) {
    return admin.listHistory(ListHistoryRequest.newBuilder().setPageSize(1).build()).getChanges(0);
  }

  private static ServingStatus health(ManagedChannel channel) {
    return HealthGrpc.newBlockingStub(channel)
        .withDeadlineAfter(10, TimeUnit.SECONDS)
        .check(HealthCheckRequest.getDefaultInstance())
        .getStatus();
  }

  private Path write(String name, String content) throws Exception {
    return Files.writeString(dir.resolve(name), content);
  }
}
