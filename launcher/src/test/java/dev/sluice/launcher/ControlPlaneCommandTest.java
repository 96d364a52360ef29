package dev.sluice.launcher;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The control-plane flags for admin certificates and etcd's transaction limit. */
@Timeout(60)
class ControlPlaneCommandTest {
  @TempDir Path dir;

  @Test
  void anAdminCertificateNameMapsToThePrincipalAfterTheLastEquals() {
    assertThat(
            AdminCertificateNames.parse(
                List.of("spiffe://sluice.test/ops/deployer=deployer", "team=ops=oncall")))
        .containsExactly(
            Map.entry("spiffe://sluice.test/ops/deployer", "deployer"),
            Map.entry("team=ops", "oncall"));
  }

  @Test
  void aMalformedAdminCertificateNameSaysWhatIsExpected() {
    assertThatThrownBy(() -> AdminCertificateNames.parse(List.of("spiffe://sluice.test/ops")))
        .isInstanceOf(CommandFailure.class)
        .hasMessageContaining("NAME=PRINCIPAL");
    assertThatThrownBy(() -> AdminCertificateNames.parse(List.of("ops.sluice.test=has space")))
        .hasMessageContaining("[A-Za-z0-9._@-]");
    assertThatThrownBy(() -> AdminCertificateNames.parse(List.of("a=x", "a=y")))
        .hasMessageContaining("a is given twice");
  }

  @Test
  void adminCertificatesNeedAClientCa() {
    CommandRun run =
        CommandRun.of(
            "control-plane",
            "--listen", "127.0.0.1:0",
            "--data-dir", dir.resolve("store").toString(),
            "--admin-cert-name", "spiffe://sluice.test/ops/deployer=deployer");

    assertThat(run.exitCode()).isEqualTo(ExitCodes.FAILED);
    assertThat(run.err()).contains("--admin-cert-name needs --client-ca-file");
  }

  @Test
  void aMalformedAdvertiseAddressIsRefusedWithItsFlag() throws Exception {
    CommandRun run =
        CommandRun.of(
            "control-plane",
            "--listen", "127.0.0.1:0",
            "--data-dir", dir.resolve("store").toString(),
            "--admin-token-file", tokenFile().toString(),
            "--advertise-address", "no-port-here");

    assertThat(run.exitCode()).isEqualTo(ExitCodes.FAILED);
    assertThat(run.err()).contains("--advertise-address:");
  }

  @Test
  void theEtcdTransactionLimitIsForEtcdOnly() throws Exception {
    CommandRun run =
        CommandRun.of(
            "control-plane",
            "--listen", "127.0.0.1:0",
            "--data-dir", dir.resolve("store").toString(),
            "--admin-token-file", tokenFile().toString(),
            "--etcd-max-txn-ops", "1024");

    assertThat(run.exitCode()).isEqualTo(ExitCodes.FAILED);
    assertThat(run.err()).contains("--etcd-max-txn-ops applies to etcd only");
  }

  @Test
  void anEtcdTransactionLimitTooSmallForAnyCommitIsRefusedBeforeConnecting() throws Exception {
    CommandRun run =
        CommandRun.of(
            "control-plane",
            "--listen", "127.0.0.1:0",
            "--etcd-endpoints", "http://127.0.0.1:1",
            "--admin-token-file", tokenFile().toString(),
            "--etcd-max-txn-ops", "2");

    assertThat(run.exitCode()).isEqualTo(ExitCodes.FAILED);
    assertThat(run.err()).contains("--etcd-max-txn-ops: maxTxnOps: 2 (expected: >=");
  }

  @Test
  void aClientCertificateNeedsItsKeyAndTls() throws Exception {
    Path cert = Files.writeString(dir.resolve("admin.pem"), "not used");

    CommandRun withoutKey =
        CommandRun.of("history", "-s", "127.0.0.1:1", "--cert-file", cert.toString());
    CommandRun inPlaintext =
        CommandRun.of(
            "history", "-s", "127.0.0.1:1", "--plaintext",
            "--cert-file", cert.toString(), "--key-file", cert.toString());

    assertThat(withoutKey.exitCode()).isEqualTo(ExitCodes.FAILED);
    assertThat(withoutKey.err()).contains("--cert-file and --key-file go together");
    assertThat(inPlaintext.exitCode()).isEqualTo(ExitCodes.FAILED);
    assertThat(inPlaintext.err()).contains("--cert-file needs TLS");
  }

  private Path tokenFile() throws Exception {
    return Files.writeString(dir.resolve("tokens"), "ops:ops-admin-token-0123456789\n");
  }
}
