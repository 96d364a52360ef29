package dev.sluice.integration.controlplane;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.integration.controlplane.Cluster.Node;
import dev.sluice.integration.controlplane.Cluster.Replica;
import dev.sluice.launcher.Main;
import dev.sluice.testing.etcd.EtcdExtension;
import io.grpc.ChannelCredentials;
import io.grpc.TlsChannelCredentials;
import io.netty.pkitesting.CertificateBuilder;
import io.netty.pkitesting.X509Bundle;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * An operator administers a control plane on etcd with a client certificate instead of a token,
 * through the {@code sluice} CLI over mutual TLS on loopback. One CA issues the control plane's,
 * the operator's and a data plane's certificates; the replica has no admin token at all and
 * lists only the operator's certificate for admin, so the data plane's certificate gets config
 * but no admin access.
 */
@Timeout(90)
class AdminMutualTlsIT {
  @RegisterExtension static final EtcdExtension etcd = EtcdExtension.create();

  private static final String OPERATOR_ID = "spiffe://sluice.it/ops/deployer";

  private Cluster cluster;
  private X509Bundle ca;
  private Path caPem;
  private Path[] operator;
  private Replica cp;

  @BeforeEach
  void startControlPlaneWithAdminCertificatesOnly() throws Exception {
    cluster = Cluster.on(etcd);
    ca =
        new CertificateBuilder()
            .subject("CN=sluice-it-ca")
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
    Path serverPem = write("cp.pem", server.getCertificatePathPEM());
    Path serverKey = write("cp.key", server.getPrivateKeyPEM());
    operator =
        issue("operator", new CertificateBuilder().subject("CN=deployer").addSanUriName(OPERATOR_ID));
    ChannelCredentials operatorCredentials = credentials(operator);
    cp =
        cluster.replica(
            "cp-admin-mtls",
            spec ->
                spec.controlPlane(
                        b ->
                            b.tls(serverPem, serverKey)
                                .clientCa(caPem)
                                .adminTokens(Map.of())
                                .adminCertificatePrincipals(Map.of(OPERATOR_ID, "deployer")))
                    .adminCredentials(operatorCredentials));
  }

  @AfterEach
  void stopEverything() throws Exception {
    cluster.close();
  }

  @Test
  void anApplyWithTheAdminCertificateIsRecordedUnderItsPrincipalAndADataPlaneCertificateIsRefused()
      throws Exception {
    Path[] dataPlane = issue("dp-it", new CertificateBuilder().subject("CN=dp-it"));
    Path config =
        Files.writeString(
            cluster.scratch().resolve("mock.yaml"),
            "backend:\n  name: mock\n  kind: BACKEND_KIND_MOCK\n  mock:\n    tokensPerResponse: 4\n");

    Run applied = sluice(operator, "apply", "-f", config.toString(), "--reason", "mTLS admin");
    Run history = sluice(operator, "history");
    Run refused = sluice(dataPlane, "apply", "-f", config.toString());
    long version = cp.store.read().get().version();
    Node node =
        cluster.start(
            cluster.dataPlane("dp-it", cp).controlPlaneCredentials(credentials(dataPlane)));

    assertThat(applied.exitCode()).as(applied.toString()).isZero();
    assertThat(applied.out()).contains("Applied: config version " + version);
    assertThat(history.exitCode()).as(history.toString()).isZero();
    assertThat(history.out()).contains("(deployer)").contains("mTLS admin");
    assertThat(refused.exitCode()).as(refused.toString()).isEqualTo(1);
    assertThat(refused.err()).contains("UNAUTHENTICATED").contains("INVALID_CREDENTIAL");
    assertThat(cp.store.read().get().version()).as("the refused apply wrote nothing").isEqualTo(version);
    // The same certificate is good enough for discovery: the data plane gets the config.
    node.awaitVersion(version);
  }

  private record Run(int exitCode, String out, String err) {}

  /** Runs the {@code sluice} CLI in-process against the replica, presenting {@code certificate}. */
  private Run sluice(Path[] certificate, String command, String... args) {
    List<String> line = new ArrayList<>(List.of(command));
    line.addAll(List.of(args));
    line.addAll(
        List.of(
            "-s", cp.target(),
            "--ca-file", caPem.toString(),
            "--cert-file", certificate[0].toString(),
            "--key-file", certificate[1].toString()));
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    int exitCode =
        Main.run(new PrintWriter(out, true), new PrintWriter(err, true), line.toArray(String[]::new));
    return new Run(exitCode, out.toString(), err.toString());
  }

  /** A certificate the CA issued from {@code subject}: its PEM chain and key files. */
  private Path[] issue(String name, CertificateBuilder subject) throws Exception {
    X509Bundle bundle = subject.ecp256().buildIssuedBy(ca);
    return new Path[] {
      write(name + ".pem", bundle.getCertificatePathPEM()), write(name + ".key", bundle.getPrivateKeyPEM())
    };
  }

  private ChannelCredentials credentials(Path[] certificate) throws Exception {
    return TlsChannelCredentials.newBuilder()
        .keyManager(certificate[0].toFile(), certificate[1].toFile())
        .trustManager(caPem.toFile())
        .build();
  }

  private Path write(String name, String pem) throws Exception {
    return Files.writeString(cluster.scratch().resolve(name), pem);
  }
}
