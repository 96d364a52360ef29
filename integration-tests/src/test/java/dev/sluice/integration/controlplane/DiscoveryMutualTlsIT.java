package dev.sluice.integration.controlplane;

import static dev.sluice.integration.controlplane.Configs.MOCK;
import static dev.sluice.integration.controlplane.Configs.chatModel;
import static dev.sluice.integration.controlplane.Configs.mockBackend;
import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.admin.v1.NodeStatus;
import dev.sluice.admin.v1.NodeSyncState;
import dev.sluice.integration.controlplane.Cluster.Node;
import dev.sluice.integration.controlplane.Cluster.Replica;
import dev.sluice.testing.etcd.EtcdExtension;
import io.grpc.ChannelCredentials;
import io.grpc.TlsChannelCredentials;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.netty.pkitesting.CertificateBuilder;
import io.netty.pkitesting.X509Bundle;
import java.io.File;
import java.nio.file.Files;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The channel between control plane and data planes with mutual TLS: the control plane serves
 * TLS and requires client certificates issued by its client CA; only data planes presenting one
 * get config.
 */
@Timeout(60)
class DiscoveryMutualTlsIT {
  @RegisterExtension static final EtcdExtension etcd = EtcdExtension.create();

  private Cluster cluster;
  private File caPem;
  private X509Bundle ca;

  @BeforeEach
  void createCluster() throws Exception {
    cluster = Cluster.on(etcd);
    ca = authority("CN=sluice-it-fleet-ca");
    caPem = write("ca.pem", ca.getCertificatePEM());
  }

  @AfterEach
  void stopEverything() throws Exception {
    cluster.close();
  }

  @Test
  void onlyADataPlaneWithAClientCertificateFromTheTrustedCaGetsConfig() throws Exception {
    X509Bundle server =
        new CertificateBuilder()
            .subject("CN=control-plane")
            .addSanIpAddress("127.0.0.1")
            .ecp256()
            .buildIssuedBy(ca);
    File serverPem = write("cp.pem", server.getCertificatePathPEM());
    File serverKey = write("cp.key", server.getPrivateKeyPEM());
    ChannelCredentials operator = clientCredentials("operator", ca);
    Replica cp =
        cluster.replica(
            "cp-tls",
            spec ->
                spec.controlPlane(
                        b -> b.tls(serverPem.toPath(), serverKey.toPath()).clientCa(caPem.toPath()))
                    .adminCredentials(operator));
    long version = cp.apply(mockBackend(MOCK), chatModel("chat", MOCK));
    Node withoutCertificate =
        cluster.start(
            cluster
                .dataPlane("dp-no-cert", cp)
                .controlPlaneCredentials(TlsChannelCredentials.newBuilder().trustManager(caPem).build()));
    Node withForeignCertificate =
        cluster.start(
            cluster
                .dataPlane("dp-foreign-cert", cp)
                .controlPlaneCredentials(
                    clientCredentials("dp-foreign-cert", authority("CN=some-other-ca"))));

    Node trusted =
        cluster.start(
            cluster.dataPlane("dp-trusted", cp).controlPlaneCredentials(clientCredentials("dp-trusted", ca)));

    trusted.awaitVersion(version);
    assertThat(trusted.chat("chat").getModel()).isEqualTo("chat");
    NodeStatus status = cp.fleetNode("dp-trusted").orElseThrow();
    assertThat(status.getState()).isEqualTo(NodeSyncState.NODE_SYNC_STATE_SYNCED);
    assertThat(status.getAppliedVersion()).isEqualTo(version);
    // The refused ones have been trying since before the trusted one connected.
    assertThat(withoutCertificate.dataPlane.awaitConfig(Duration.ofSeconds(2))).isFalse();
    assertThat(withForeignCertificate.dataPlane.awaitConfig(Duration.ofMillis(100))).isFalse();
    assertThat(withoutCertificate.versionInfo()).isNull();
    assertThat(withoutCertificate.health()).isEqualTo(ServingStatus.NOT_SERVING);
    assertThat(withForeignCertificate.health()).isEqualTo(ServingStatus.NOT_SERVING);
    assertThat(cp.fleetStatus()).extracting(n -> n.getNode().getId()).containsExactly("dp-trusted");
  }

  private static X509Bundle authority(String subject) throws Exception {
    return new CertificateBuilder()
        .subject(subject)
        .setIsCertificateAuthority(true)
        .ecp256()
        .buildSelfSigned();
  }

  /** TLS toward the control plane, trusting its CA and presenting a certificate {@code issuer} signed. */
  private ChannelCredentials clientCredentials(String name, X509Bundle issuer) throws Exception {
    X509Bundle client = new CertificateBuilder().subject("CN=" + name).ecp256().buildIssuedBy(issuer);
    return TlsChannelCredentials.newBuilder()
        .keyManager(
            write(name + ".pem", client.getCertificatePathPEM()),
            write(name + ".key", client.getPrivateKeyPEM()))
        .trustManager(caPem)
        .build();
  }

  private File write(String name, String pem) throws Exception {
    return Files.writeString(cluster.scratch().resolve(name), pem).toFile();
  }
}
