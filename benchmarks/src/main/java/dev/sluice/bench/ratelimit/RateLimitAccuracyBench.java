package dev.sluice.bench.ratelimit;

import static com.google.common.base.Preconditions.checkArgument;
import static java.nio.charset.StandardCharsets.UTF_8;
import static java.util.Objects.requireNonNull;

import dev.sluice.bench.internal.DurationConverter;
import dev.sluice.bench.internal.Json;
import dev.sluice.bench.ratelimit.OpenLoopDriver.Arrivals;
import dev.sluice.bench.upstream.FakeUpstream;
import dev.sluice.inference.v1.ChatMessage;
import dev.sluice.inference.v1.ChatRequest;
import dev.sluice.inference.v1.ContentPart;
import dev.sluice.inference.v1.Role;
import java.io.IOException;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import org.jspecify.annotations.Nullable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The rate-limit accuracy benchmark (issue 5): three data planes, one receiving 80 % of the
 * traffic, against a 600 requests/minute and a 60,000 tokens/minute fleet-wide limit, with demand
 * above the limit for the whole run.
 *
 * <p>For each scenario, a fresh fleet:
 *
 * <ol>
 *   <li>a fake OpenAI upstream in this JVM, whose answers report {@code max_output_tokens}
 *       completion tokens and a fixed prompt count, so every admitted call costs the same tokens;
 *   <li>{@code sluice control-plane} on an embedded store and three {@code sluice data-plane
 *       --fleet-size 3} processes of the runnable jar, optionally pinned ({@link GatewayFleet});
 *   <li>the config through the admin API: backend, model, a route naming the fleet-wide policy
 *       (600 requests and 60,000 tokens per minute, per consumer and model), a consumer and its
 *       API key ({@link FleetConfig});
 *   <li>once the control plane has run for its learning period (so that it grants leases), an
 *       open-loop client offering {@code --rate} calls a second split {@code --split} over the
 *       three data planes for warm-up + duration ({@link OpenLoopDriver});
 *   <li>the report ({@link AccuracyReport}), written as {@code <scenario>.json} and {@code
 *       <scenario>.txt} with the per-second counts in {@code <scenario>-per-second.csv}, and every
 *       process's log, in {@code --out}.
 * </ol>
 *
 * <p>Scenarios: {@code requests}, 16 output tokens per call (38 tokens with the prompt as the fake
 * upstream counts it), where the request limit binds (600 calls are about 23,000 tokens, well under
 * the token limit); {@code tokens}, 200 output tokens per call (222 in all), where the token limit
 * binds (about 270 calls a minute, under the request limit). Every process is stopped at the end,
 * also on failure or when this JVM is terminated.
 */
@Command(
    name = "ratelimit-accuracy",
    mixinStandardHelpOptions = true,
    description =
        "Fleet-wide rate-limit accuracy of three data-plane processes under skewed overload.")
public final class RateLimitAccuracyBench implements Callable<Integer> {
  /** Which limit the calls' size makes bind. */
  enum Scenario {
    REQUESTS(16),
    TOKENS(200);

    final int defaultMaxOutputTokens;

    Scenario(int defaultMaxOutputTokens) {
      this.defaultMaxOutputTokens = defaultMaxOutputTokens;
    }

    String label() {
      return name().toLowerCase(Locale.ROOT);
    }
  }

  /** Everything one scenario run needs. */
  record Settings(
      Scenario scenario,
      Path sluiceJar,
      Path outDir,
      List<String> nodeIds,
      List<Double> split,
      double ratePerSecond,
      Arrivals arrivals,
      long seed,
      Duration warmup,
      Duration duration,
      long requestsPerMinute,
      long tokensPerMinute,
      double burstPercent,
      int maxOutputTokens,
      String gatewayCpus,
      String gatewayJvmOptions,
      Duration allocatorLearning) {
    Settings {
      requireNonNull(scenario, "scenario");
      requireNonNull(sluiceJar, "sluiceJar");
      requireNonNull(outDir, "outDir");
      nodeIds = List.copyOf(nodeIds);
      split = List.copyOf(split);
      checkArgument(
          !nodeIds.isEmpty() && split.size() == nodeIds.size(),
          "split: %s (expected: one share per node of %s)",
          split,
          nodeIds);
      checkArgument(ratePerSecond > 0, "ratePerSecond: %s (expected: > 0)", ratePerSecond);
      checkArgument(warmup.toSeconds() >= 0, "warmup: %s (expected: >= 0)", warmup);
      checkArgument(duration.toSeconds() >= 1, "duration: %s (expected: >= 1s)", duration);
      checkArgument(maxOutputTokens > 0, "maxOutputTokens: %s (expected: > 0)", maxOutputTokens);
      requireNonNull(arrivals, "arrivals");
      requireNonNull(gatewayCpus, "gatewayCpus");
      requireNonNull(gatewayJvmOptions, "gatewayJvmOptions");
      requireNonNull(allocatorLearning, "allocatorLearning");
    }

    /** Offered calls per second at each node. */
    double[] ratesPerSecond() {
      double total = split.stream().mapToDouble(Double::doubleValue).sum();
      return split.stream().mapToDouble(s -> ratePerSecond * s / total).toArray();
    }
  }

  /**
   * The outcome of one scenario.
   *
   * @param unfinished calls still open when the drain ended
   * @param exited fleet processes that were no longer running at the end of the load
   */
  /**
   * A scenario's result: the fleet's report, and what one limiter alone would have admitted of
   * the same calls ({@link SingleLimiterReplay}).
   */
  record Outcome(
      Settings settings,
      AccuracyReport report,
      SingleLimiterReplay.Yardstick singleLimiter,
      int unfinished,
      List<String> exited) {}

  @Option(
      names = "--scenario",
      split = ",",
      description = "requests, tokens or both (default: requests,tokens), run one after the other.")
  List<String> scenarios = new ArrayList<>(List.of("requests", "tokens"));

  @Option(names = "--sluice-jar", required = true, description = "launcher/target/sluice.jar.")
  Path sluiceJar = Path.of("sluice.jar");

  @Option(names = "--out", required = true, description = "Directory for results and logs.")
  Path out = Path.of(".");

  @Option(
      names = "--duration",
      converter = DurationConverter.class,
      description = "Measured time after the warm-up (default: 300s).")
  Duration duration = Duration.ofSeconds(300);

  @Option(
      names = "--warmup",
      converter = DurationConverter.class,
      description = "Warm-up, reported separately (default: 10s, one lease duration).")
  Duration warmup = Duration.ofSeconds(10);

  @Option(
      names = "--rate",
      description = "Calls per second offered to the fleet (default: ${DEFAULT-VALUE}: 1,200/min).")
  double rate = 20;

  @Option(
      names = "--split",
      split = ",",
      description = "Share of the calls per data plane (default: 80,10,10).")
  List<Double> split = new ArrayList<>(List.of(80.0, 10.0, 10.0));

  @Option(
      names = "--arrivals",
      description = "poisson or uniform (default: ${DEFAULT-VALUE}).")
  String arrivals = "poisson";

  @Option(names = "--seed", description = "Seed of the arrivals (default: ${DEFAULT-VALUE}).")
  long seed = 5;

  @Option(
      names = "--requests-per-minute",
      description = "The request limit (default: ${DEFAULT-VALUE}).")
  long requestsPerMinute = 600;

  @Option(
      names = "--tokens-per-minute",
      description = "The total-token limit (default: ${DEFAULT-VALUE}).")
  long tokensPerMinute = 60_000;

  @Option(
      names = "--burst-percent",
      description =
          "Pace both limits with a burst of this percentage of their amount (RateLimit.burst);"
              + " 0 does not pace (default: ${DEFAULT-VALUE}).")
  double burstPercent = 0;

  @Option(
      names = "--max-output-tokens",
      description = "Output tokens per call (default: 16 for requests, 200 for tokens).")
  @Nullable Integer maxOutputTokens;

  @Option(
      names = "--gateway-cpus",
      description = "taskset CPU list for the control plane and data planes (default: not pinned).")
  String gatewayCpus = "";

  @Option(
      names = "--gateway-jvm-opts",
      description = "JVM options of each gateway process (default: ${DEFAULT-VALUE}).")
  String gatewayJvmOpts = "-Xms64m -Xmx512m";

  @Option(
      names = "--allocator-learning",
      converter = DurationConverter.class,
      description =
          "Start the load no sooner than this after the control plane (its allocator grants no"
              + " lease while it learns; default: 10s, its default learning period).")
  Duration allocatorLearning = Duration.ofSeconds(10);

  public static void main(String[] args) {
    System.exit(new CommandLine(new RateLimitAccuracyBench()).execute(args));
  }

  @Override
  public Integer call() throws Exception {
    Files.createDirectories(out);
    Arrivals arrivalKind = Arrivals.valueOf(arrivals.toUpperCase(Locale.ROOT));
    for (String name : scenarios) {
      Scenario scenario = Scenario.valueOf(name.strip().toUpperCase(Locale.ROOT));
      Settings settings =
          new Settings(
              scenario,
              sluiceJar,
              out,
              List.of("dp-a", "dp-b", "dp-c").subList(0, Math.min(3, split.size())),
              split,
              rate,
              arrivalKind,
              seed,
              warmup,
              duration,
              requestsPerMinute,
              tokensPerMinute,
              burstPercent,
              maxOutputTokens != null ? maxOutputTokens : scenario.defaultMaxOutputTokens,
              gatewayCpus,
              gatewayJvmOpts,
              allocatorLearning);
      Outcome outcome = run(settings, System.err);
      System.out.println(Files.readString(out.resolve(scenario.label() + ".txt"), UTF_8));
      if (!outcome.exited().isEmpty()) {
        System.err.println("gateway processes exited during the run: " + outcome.exited());
        return 1;
      }
    }
    return 0;
  }

  /** Runs one scenario on a fresh fleet and writes its files to {@code settings.outDir()}. */
  static Outcome run(Settings settings, PrintStream progress)
      throws IOException, InterruptedException {
    String label = settings.scenario().label();
    Files.createDirectories(settings.outDir());
    Path work = Files.createTempDirectory("sluice-ratelimit-");
    try (FakeUpstream upstream = FakeUpstream.builder().start();
        GatewayFleet fleet =
            GatewayFleet.start(
                settings.sluiceJar(),
                settings.nodeIds(),
                settings.gatewayCpus(),
                settings.gatewayJvmOptions(),
                work,
                settings.outDir(),
                label + "-")) {
      progress.printf(
          Locale.ROOT,
          "[%s] control plane at %s, data planes %s%n",
          label,
          fleet.controlPlaneAddress(),
          fleet.dataPlanes().stream().map(dp -> dp.nodeId() + "=" + dp.address()).toList());
      String apiKey =
          FleetConfig.apply(
              fleet,
              upstream.baseUrl(),
              settings.requestsPerMinute(),
              settings.tokensPerMinute(),
              settings.burstPercent());
      List<InetSocketAddress> targets =
          fleet.dataPlanes().stream().map(GatewayFleet.DataPlane::address).toList();
      try (OpenLoopDriver driver = new OpenLoopDriver(targets, apiKey)) {
        long learnedAt = fleet.controlPlaneStartedAt() + settings.allocatorLearning().toNanos();
        long wait = learnedAt - System.nanoTime();
        if (wait > 0) {
          progress.printf(
              Locale.ROOT,
              "[%s] waiting %.1f s for the allocator's learning period to end%n",
              label,
              wait / 1e9);
          Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
        }
        Duration total = settings.warmup().plus(settings.duration());
        progress.printf(
            Locale.ROOT,
            "[%s] %.1f calls/s split %s for %s (warm-up %s), %d output tokens per call%n",
            label,
            settings.ratePerSecond(),
            settings.split(),
            total,
            settings.warmup(),
            settings.maxOutputTokens());
        AdmissionLog log =
            driver.run(
                settings.nodeIds(),
                chatRequest(settings.maxOutputTokens()),
                settings.ratesPerSecond(),
                total,
                settings.arrivals(),
                settings.seed(),
                Duration.ofSeconds(30),
                progress);
        List<String> exited = fleet.exited();
        AccuracyReport report =
            AccuracyReport.of(
                log,
                settings.requestsPerMinute(),
                settings.tokensPerMinute(),
                (int) settings.warmup().toSeconds());
        SingleLimiterReplay.Yardstick singleLimiter =
            SingleLimiterReplay.replay(
                OpenLoopDriver.plannedSends(
                    settings.ratesPerSecond(), total, settings.arrivals(), settings.seed()),
                settings.requestsPerMinute(),
                settings.tokensPerMinute(),
                settings.burstPercent(),
                Math.round(report.tokensPerRequest()),
                log.seconds(),
                (int) settings.warmup().toSeconds());
        Outcome outcome = new Outcome(settings, report, singleLimiter, driver.inFlight(), exited);
        write(outcome, log);
        return outcome;
      }
    } finally {
      deleteRecursively(work);
    }
  }

  /** One user message; the answer has {@code maxOutputTokens} tokens. */
  static ChatRequest chatRequest(int maxOutputTokens) {
    return ChatRequest.newBuilder()
        .setModel(FleetConfig.MODEL)
        .addMessages(
            ChatMessage.newBuilder()
                .setRole(Role.ROLE_USER)
                .addParts(ContentPart.newBuilder().setText("Say hello.")))
        .setMaxOutputTokens(maxOutputTokens)
        .build();
  }

  private static void write(Outcome outcome, AdmissionLog log) throws IOException {
    Settings s = outcome.settings();
    String label = s.scenario().label();
    Map<String, Object> json = new LinkedHashMap<>();
    json.put("scenario", label);
    Map<String, Object> setup = new LinkedHashMap<>();
    setup.put("nodes", s.nodeIds());
    setup.put("split", s.split());
    setup.put("offeredPerMinute", s.ratePerSecond() * 60);
    setup.put("arrivals", s.arrivals().name().toLowerCase(Locale.ROOT));
    setup.put("seed", s.seed());
    setup.put("warmupSeconds", s.warmup().toSeconds());
    setup.put("durationSeconds", s.duration().toSeconds());
    setup.put("requestsPerMinute", s.requestsPerMinute());
    setup.put("tokensPerMinute", s.tokensPerMinute());
    setup.put("maxOutputTokens", s.maxOutputTokens());
    setup.put("gatewayCpus", s.gatewayCpus());
    setup.put("gatewayJvmOptions", s.gatewayJvmOptions());
    json.put("setup", setup);
    json.put("report", outcome.report());
    json.put("singleLimiter", outcome.singleLimiter());
    json.put("unfinishedCalls", outcome.unfinished());
    json.put("exitedProcesses", outcome.exited());
    Files.writeString(
        s.outDir().resolve(label + ".json"),
        Json.mapper().writerWithDefaultPrettyPrinter().writeValueAsString(json) + "\n",
        UTF_8);
    String title =
        String.format(
            Locale.ROOT,
            "rate-limit accuracy, scenario %s: %d data planes, %.0f calls/min offered split %s,"
                + " limits %d requests/min and %d tokens/min (%s), %d output tokens per call",
            label,
            s.nodeIds().size(),
            s.ratePerSecond() * 60,
            s.split(),
            s.requestsPerMinute(),
            s.tokensPerMinute(),
            s.burstPercent() > 0
                ? String.format(Locale.ROOT, "paced, burst %s %% of each", s.burstPercent())
                : "not paced",
            s.maxOutputTokens());
    String text = outcome.report().render(title);
    SingleLimiterReplay.Yardstick alone = outcome.singleLimiter();
    text +=
        String.format(
            Locale.ROOT,
            "one limiter alone, same send times, %d tokens a call (sliding min / max / mean):"
                + " requests %.3f / %.3f / %.3f, tokens %.3f / %.3f / %.3f%n",
            Math.round(outcome.report().tokensPerRequest()),
            alone.requests().sliding().min(),
            alone.requests().sliding().max(),
            alone.requests().sliding().mean(),
            alone.tokens().sliding().min(),
            alone.tokens().sliding().max(),
            alone.tokens().sliding().mean());
    if (outcome.unfinished() > 0) {
      text += "calls unfinished after the drain: " + outcome.unfinished() + "\n";
    }
    if (!outcome.exited().isEmpty()) {
      text += "processes that exited during the run: " + outcome.exited() + "\n";
    }
    Files.writeString(s.outDir().resolve(label + ".txt"), text, UTF_8);
    StringBuilder csv = new StringBuilder("second,node,sent,admitted,refused,failed,tokens\n");
    for (int second = 0; second < log.seconds(); second++) {
      for (int node = 0; node < log.nodes().size(); node++) {
        csv.append(second).append(',').append(log.nodes().get(node)).append(',')
            .append(log.sent(node, second)).append(',')
            .append(log.admitted(node, second)).append(',')
            .append(log.refused(node, second)).append(',')
            .append(log.failed(node, second)).append(',')
            .append(log.admittedTokens(node, second)).append('\n');
      }
    }
    Files.writeString(s.outDir().resolve(label + "-per-second.csv"), csv.toString(), UTF_8);
  }

  private static void deleteRecursively(Path dir) throws IOException {
    if (!Files.exists(dir)) {
      return;
    }
    try (Stream<Path> walk = Files.walk(dir)) {
      walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    }
  }
}
