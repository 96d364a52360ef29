package dev.sluice.integration;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.testing.etcd.EtcdExtension;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The production shape from the README: {@code sluice control-plane} on etcd and {@code sluice
 * data-plane} as separate processes of the runnable jar, configured with {@code sluice apply}.
 */
@Timeout(180)
class SeparateProcessesIT {
  private static final Duration START_TIMEOUT = Duration.ofSeconds(60);
  private static final String ADMIN_TOKEN = "separate-processes-admin-token";
  private static final Pattern CONTROL_PLANE =
      Pattern.compile(".*Control plane \\S+ serves admin and discovery on (\\S+) with etcd at .*");
  private static final Pattern DATA_PLANE =
      Pattern.compile(".*Data plane \\S+ serves inference on (\\S+);.*");

  @RegisterExtension static final EtcdExtension etcd = EtcdExtension.create();
  @TempDir Path work;

  @Test
  void aControlPlaneOnEtcdConfiguresASeparateDataPlaneThatKeepsServingWithoutIt() throws Exception {
    Path tokenFile = Files.writeString(work.resolve("admin-tokens"), "ops:" + ADMIN_TOKEN + "\n", UTF_8);
    try (ChildProcess controlPlane =
            sluiceJar(
                "control-plane", "--listen", "127.0.0.1:0", "--id", "cp-it",
                "--etcd-endpoints", etcd.clientUrl(), "--admin-token-file", tokenFile.toString());
        ChildProcess dataPlane =
            sluiceJar(
                "data-plane", "--listen", "127.0.0.1:0", "--node-id", "dp-it",
                "--control-plane", address(controlPlane, CONTROL_PLANE),
                "--cache-file", work.resolve("snapshot.bin").toString(), "--allow-anonymous")) {
      String controlPlaneAddress = address(controlPlane, CONTROL_PLANE);
      String dataPlaneAddress = address(dataPlane, DATA_PLANE);
      // The data plane serves before its config stream is open; "1 of 1" needs it connected.
      dataPlane.awaitStderrLine(line -> line.contains("Config stream open to"), START_TIMEOUT);

      String[] apply = {
        "apply", "-f", Repository.root().resolve("config-samples/dev.yaml").toString(),
        "--server", controlPlaneAddress, "--token-file", tokenFile.toString(),
        "--reason", "bring up", "--wait"
      };
      CliRun applied = CliRun.of(apply);
      assertThat(applied.exitCode()).as(applied.toString()).isZero();
      assertThat(applied.out()).contains("1 of 1 connected data planes serve version");

      CliRun chat = CliRun.of("chat", "-m", "mock-chat", "--server", dataPlaneAddress, "Hello");
      assertThat(chat.exitCode()).as(chat.toString()).isZero();
      assertThat(chat.out()).isNotBlank();

      CliRun history =
          CliRun.of("history", "--server", controlPlaneAddress, "--token-file", tokenFile.toString());
      assertThat(history.out()).contains("(ops)").contains("reason: bring up");

      controlPlane.close();
      CliRun withoutControlPlane =
          CliRun.of("chat", "-m", "mock-chat", "--server", dataPlaneAddress, "Hello");
      assertThat(withoutControlPlane.exitCode()).as(withoutControlPlane.toString()).isZero();
      assertThat(withoutControlPlane.out()).isEqualTo(chat.out());
    }
  }

  @Test
  void aControlPlaneWithoutAnyAdminCredentialRefusesToStart() throws Exception {
    try (ChildProcess controlPlane =
        sluiceJar("control-plane", "--listen", "127.0.0.1:0", "--data-dir", work.resolve("store").toString())) {
      assertThat(controlPlane.awaitExit(Duration.ofSeconds(60))).isEqualTo(1);
      assertThat(controlPlane.stderr())
          .contains(
              "error: no admin credential: give --admin-token-file or set SLUICE_ADMIN_TOKEN, or"
                  + " list admin client certificates with --admin-cert-name");
    }
  }

  private ChildProcess sluiceJar(String... args) {
    List<String> command =
        new java.util.ArrayList<>(
            List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-jar",
                Repository.sluiceJar().toString()));
    command.addAll(List.of(args));
    // No SLUICE_ADMIN_TOKEN from the environment running the tests.
    return ChildProcess.start(command, work, Map.of("SLUICE_ADMIN_TOKEN", ""));
  }

  private static String address(ChildProcess server, Pattern logLine) throws InterruptedException {
    Matcher matcher =
        logLine.matcher(server.awaitStderrLine(line -> logLine.matcher(line).matches(), START_TIMEOUT));
    assertThat(matcher.matches()).isTrue();
    return matcher.group(1);
  }

}
