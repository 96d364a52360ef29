package dev.sluice.integration;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The README's run command as a user runs it: {@code bin/sluice dev} in a process (the built
 * jar, the real scripts), then the client commands against it, in-process and as processes.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(180)
class DevModeIT {
  private static final Duration START_TIMEOUT = Duration.ofSeconds(90);
  private static final Pattern DATA_PLANE =
      Pattern.compile("\\s*inference API \\(data plane\\):\\s+(\\S+).*");
  private static final Pattern CONTROL_PLANE =
      Pattern.compile("\\s*admin API \\(control plane\\):\\s+(\\S+).*");
  private static final Pattern CONFIG_VERSION = Pattern.compile("\\s*config version (\\d+) from .*");
  private static final Pattern USAGE_LINE =
      Pattern.compile(
          "(?s).*\\[\\d+ input \\+ (\\d+) output = \\d+ tokens \\| finish STOP.*\\| model mock-chat.*\\].*");

  private static final String SLOW_MODEL_YAML =
      """
      # A mock model slow enough to interrupt: 200 tokens at 20 per second.
      backend:
        name: slow-mock
        kind: BACKEND_KIND_MOCK
        mock:
          tokens_per_response: 200
          tokens_per_second: 20
      ---
      model:
        name: slow-chat
        description: A slow mock model
        versions:
          - name: v1
            upstream_model: slow-mock-1
            backends:
              - backend: slow-mock
      """;

  @TempDir static Path work;
  private Path stateDir;
  private ChildProcess dev;
  private String dataPlane;
  private String controlPlane;

  @BeforeAll
  void startDev() throws Exception {
    stateDir = work.resolve("state");
    dev = startDevProcess(stateDir);
    dataPlane = group(dev.awaitStdoutLine(line -> DATA_PLANE.matcher(line).matches(), START_TIMEOUT), DATA_PLANE);
    controlPlane = group(dev.awaitStdoutLine(line -> CONTROL_PLANE.matcher(line).matches(), START_TIMEOUT), CONTROL_PLANE);
  }

  @AfterAll
  void stopDev() throws Exception {
    if (dev != null) {
      dev.close();
    }
  }

  @Test
  void printsHowToCallTheGateway() {
    assertThat(dev.stdout())
        .contains("Sluice dev gateway is ready.")
        .contains("models: ")
        .contains("bin/sluice chat -m mock-chat")
        .contains("grpcurl -plaintext")
        .contains("examples/python/stream_chat.py")
        .contains("admin token in ")
        .contains("provider keys read from this process's environment: ")
        .contains("Press Ctrl-C to stop.");
    assertThat(dataPlane).startsWith("127.0.0.1:");
  }

  @Test
  void bothServersAnswerHealthChecksAndServeReflectionForGrpcurl() throws Exception {
    assertThat(ServerProbe.health(dataPlane)).isEqualTo(ServingStatus.SERVING);
    assertThat(ServerProbe.health(controlPlane)).isEqualTo(ServingStatus.SERVING);
    assertThat(ServerProbe.reflectedServices(dataPlane))
        .contains("sluice.inference.v1.InferenceService", "grpc.health.v1.Health");
    assertThat(ServerProbe.reflectedServices(controlPlane))
        .contains("sluice.admin.v1.AdminService", "sluice.discovery.v1.DiscoveryService");
  }

  @Test
  void keepsTheAdminTokenOutOfItsOutput() throws Exception {
    String token = Files.readString(stateDir.resolve("admin-token"), UTF_8).strip();

    assertThat(token).hasSizeGreaterThanOrEqualTo(16);
    assertThat(dev.stdout()).doesNotContain(token);
    assertThat(dev.stderr()).doesNotContain(token);
  }

  @Test
  void chatStreamsTheMockModelsAnswerThroughTheDataPlane() {
    CliRun chat = CliRun.of("chat", "-m", "mock-chat", "--server", dataPlane, "Hello");

    assertThat(chat.exitCode()).as(chat.toString()).isZero();
    assertThat(chat.out()).isNotBlank();
    Matcher usage = USAGE_LINE.matcher(chat.err());
    assertThat(usage.matches()).as(chat.err()).isTrue();
    assertThat(Integer.parseInt(usage.group(1))).isPositive();
  }

  @Test
  void theRunnableJarAnswersExactlyAsTheInProcessCommand() throws Exception {
    CliRun inProcess = CliRun.of("chat", "-m", "mock-chat", "--server", dataPlane, "Same question");

    try (ChildProcess jar =
        ChildProcess.start(
            List.of(
                javaBinary(), "-jar", Repository.sluiceJar().toString(),
                "chat", "-m", "mock-chat", "--server", dataPlane, "Same question"),
            work,
            Map.of())) {
      assertThat(jar.awaitExit(Duration.ofSeconds(60))).as(jar.stderr()).isZero();
      // The mock model's text is derived from the request, so both runs get the same answer.
      assertThat(jar.stdout()).isEqualTo(inProcess.out()).isNotBlank();
    }
  }

  @Test
  void modelsListsTheDevModels() {
    CliRun models = CliRun.of("models", "--server", dataPlane);

    assertThat(models.exitCode()).as(models.toString()).isZero();
    assertThat(models.out()).contains("mock-chat").contains("mock-embed");
  }

  @Test
  void applyPushesYamlThroughTheAdminApiAndTheNewModelAnswers() throws Exception {
    Path file = work.resolve("slow.yaml");
    Files.writeString(file, SLOW_MODEL_YAML, UTF_8);

    CliRun apply = applyAs(file, "--reason", "add a slow model", "--wait");

    assertThat(apply.exitCode()).as(apply.toString()).isZero();
    assertThat(apply.out())
        .containsPattern("(Applied: config version \\d+\\.|No changes: config version stays \\d+\\.)")
        .contains("backend/slow-mock")
        .contains("model/slow-chat")
        .contains("1 of 1 connected data planes serve version");
    CliRun chat =
        CliRun.of("chat", "-m", "slow-chat", "--server", dataPlane, "--max-tokens", "3", "Hi");
    assertThat(chat.exitCode()).as(chat.toString()).isZero();
    assertThat(chat.err()).contains("3 output");
  }

  @Test
  void applyDryRunShowsTheDiffAndWritesNothing() throws Exception {
    Path file = work.resolve("slow-dry.yaml");
    Files.writeString(file, SLOW_MODEL_YAML, UTF_8);
    assertThat(applyAs(file).exitCode()).isZero();
    Files.writeString(
        file, SLOW_MODEL_YAML.replace("description: A slow mock model", "description: Slower"), UTF_8);

    CliRun dryRun = applyAs(file, "--dry-run");
    CliRun get = CliRun.of("get", "model", "slow-chat", "--server", controlPlane, "--token-file", tokenFile());

    assertThat(dryRun.exitCode()).as(dryRun.toString()).isZero();
    assertThat(dryRun.out())
        .contains("Dry run against config version")
        .contains("~ model/slow-chat")
        .contains("-   description: A slow mock model")
        .contains("+   description: Slower");
    assertThat(get.out()).contains("description: A slow mock model");
  }

  @Test
  void anInvalidConfigIsRejectedWithTheFieldPath() throws Exception {
    Path file = work.resolve("invalid.yaml");
    Files.writeString(
        file,
        """
        model:
          name: dangling
          versions:
            - name: v1
              upstream_model: dangling-1
              backends:
                - backend: no-such-backend
        """,
        UTF_8);

    CliRun apply = applyAs(file);

    assertThat(apply.exitCode()).isEqualTo(1);
    assertThat(apply.err()).contains("INVALID_ARGUMENT").contains("[INVALID_CONFIG]").contains("no-such-backend");
  }

  @Test
  void getAndHistoryShowTheConfigAndWhoChangedIt() {
    CliRun get = CliRun.of("get", "--server", controlPlane, "--token-file", tokenFile());
    CliRun history = CliRun.of("history", "--server", controlPlane, "--token-file", tokenFile());

    assertThat(get.exitCode()).as(get.toString()).isZero();
    assertThat(get.out()).contains("KIND").contains("mock-chat");
    assertThat(history.exitCode()).as(history.toString()).isZero();
    assertThat(history.out()).contains("sluice dev (dev)");
  }

  @Test
  void ctrlCCancelsAStreamingChatAndExitsWith130() throws Exception {
    Path file = work.resolve("slow-ctrl-c.yaml");
    Files.writeString(file, SLOW_MODEL_YAML, UTF_8);
    assertThat(applyAs(file, "--wait").exitCode()).isZero();

    // A shell's Ctrl-C reaches a foreground process whose SIGINT is at its default. Processes
    // started in the background (as a build may run) inherit SIGINT as ignored, and the JVM
    // then installs no handler, so the test restores the default the way a terminal has it.
    try (ChildProcess chat =
        ChildProcess.start(
            List.of(
                "env", "--default-signal=INT",
                Repository.sluiceScript().toString(), "chat", "-m", "slow-chat",
                "--server", dataPlane, "Tell me a long story"),
            work,
            Map.of("SLUICE_SKIP_BUILD", "1"))) {
      chat.awaitStdoutLongerThan(0, Duration.ofSeconds(60));
      chat.signal("INT");

      int exit = chat.awaitExit(Duration.ofSeconds(30));

      // 200 tokens at 20 per second take 10 s; an uncancelled chat would exit 0 with usage.
      assertThat(exit).as(chat.stderr()).isEqualTo(130);
      assertThat(chat.stderr()).contains("cancelled").doesNotContain("output =");
    }
  }

  @Test
  void aRestartedDevKeepsItsConfigVersion() throws Exception {
    Path otherState = work.resolve("restart-state");
    String firstVersion;
    ChildProcess first = startDevProcess(otherState);
    try {
      firstVersion = group(first.awaitStdoutLine(l -> CONFIG_VERSION.matcher(l).matches(), START_TIMEOUT), CONFIG_VERSION);
    } finally {
      first.close(); // SIGTERM, as a supervisor stops it
    }
    first.awaitExit(Duration.ofSeconds(30));
    assertThat(first.stderr()).contains("ShutdownHooks: Stopping").contains("ShutdownHooks: Stopped");

    try (ChildProcess second = startDevProcess(otherState)) {
      String secondVersion =
          group(second.awaitStdoutLine(l -> CONFIG_VERSION.matcher(l).matches(), START_TIMEOUT), CONFIG_VERSION);

      assertThat(secondVersion).isEqualTo(firstVersion);
    }
  }

  // --- helpers ---

  private ChildProcess startDevProcess(Path state) {
    return ChildProcess.start(
        List.of(
            Repository.sluiceScript().toString(), "dev",
            "--listen", "127.0.0.1:0",
            "--control-plane-listen", "127.0.0.1:0",
            // No --config: dev finds config-samples/ next to the jar, as on a fresh clone.
            "--state-dir", state.toString()),
        work,
        Map.of("SLUICE_SKIP_BUILD", "1"));
  }

  private CliRun applyAs(Path file, String... extra) {
    List<String> args = new ArrayList<>(List.of("apply", "-f", file.toString(), "--server", controlPlane, "--token-file", tokenFile()));
    args.addAll(List.of(extra));
    return CliRun.of(args.toArray(String[]::new));
  }

  private String tokenFile() {
    return stateDir.resolve("admin-token").toString();
  }

  private static String group(String line, Pattern pattern) {
    Matcher matcher = pattern.matcher(line);
    assertThat(matcher.matches()).isTrue();
    return matcher.group(1);
  }

  private static String javaBinary() {
    return Path.of(System.getProperty("java.home"), "bin", "java").toString();
  }

}
