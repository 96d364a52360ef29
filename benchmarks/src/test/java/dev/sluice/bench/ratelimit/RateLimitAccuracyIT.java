package dev.sluice.bench.ratelimit;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.sluice.bench.internal.Json;
import dev.sluice.bench.ratelimit.OpenLoopDriver.Arrivals;
import dev.sluice.bench.ratelimit.RateLimitAccuracyBench.Outcome;
import dev.sluice.bench.ratelimit.RateLimitAccuracyBench.Scenario;
import dev.sluice.bench.ratelimit.RateLimitAccuracyBench.Settings;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The accuracy benchmark's harness end to end, short and scaled down: a control plane and three
 * data-plane processes of the runnable jar, a 60 requests/minute fleet-wide limit, twice that
 * offered within 20 s, 80 % of it to one node. Counts, not times: the figures come from the
 * script's five-minute runs (docs/benchmarks.md).
 */
@Timeout(150)
class RateLimitAccuracyIT {
  private static final long LIMIT = 60;

  @TempDir Path out;

  @Test
  void threeDataPlaneProcessesRefuseTheExcessOnceTheFleetExceedsItsLimit() throws Exception {
    Settings settings =
        new Settings(
            Scenario.REQUESTS,
            sluiceJar(),
            out,
            List.of("dp-a", "dp-b", "dp-c"),
            List.of(80.0, 10.0, 10.0),
            // 120 calls in 20 s: twice the limit, 96 of them to dp-a, more than the whole limit.
            6,
            Arrivals.UNIFORM,
            1,
            Duration.ZERO,
            Duration.ofSeconds(20),
            LIMIT,
            60_000,
            0,
            16,
            "",
            "-Xms32m -Xmx256m -XX:TieredStopAtLevel=1",
            // The allocator's first 10 s grant nothing; nodes hold their static share, limit / 3,
            // meanwhile. The bound below holds either way, so the test does not wait for it.
            Duration.ZERO);
    ByteArrayOutputStream progress = new ByteArrayOutputStream();

    Outcome outcome = RateLimitAccuracyBench.run(settings, new PrintStream(progress, true, UTF_8));

    AccuracyReport report = outcome.report();
    String context = report.render("report") + "\n" + progress.toString(UTF_8);
    System.out.println(context);
    assertThat(outcome.exited()).as(context).isEmpty();
    assertThat(outcome.unfinished()).as(context).isZero();
    for (AccuracyReport.NodeSummary node : report.nodes()) {
      assertThat(node.admitted()).as("%s admitted calls\n%s", node.node(), context).isPositive();
    }
    // Every call that was not admitted was refused by the limiter, and some were.
    assertThat(report.failures()).as(context).isEmpty();
    assertThat(report.nodes().stream().mapToLong(AccuracyReport.NodeSummary::refused).sum())
        .as(context)
        .isPositive();
    // The run is shorter than the window, so all it admitted counts against one window's limit:
    // at most the limit (the leases' sum, or three static shares), with room for settlement
    // timing; and at least the busy node's static share, which its demand exhausts.
    assertThat(report.requests().maxAnyWindow())
        .as(context)
        .isLessThanOrEqualTo((long) (1.2 * LIMIT))
        .isGreaterThanOrEqualTo(LIMIT / 3);
    // Every admitted call reported its usage: the 16 output tokens and the prompt.
    assertThat(report.tokensPerRequest()).as(context).isGreaterThan(16);

    JsonNode json = Json.mapper().readTree(out.resolve("requests.json").toFile());
    assertThat(json.path("scenario").asText()).isEqualTo("requests");
    assertThat(json.path("report").path("requests").path("maxAnyWindow").asLong())
        .isEqualTo(report.requests().maxAnyWindow());
    assertThat(Files.readString(out.resolve("requests.txt"), UTF_8)).contains("admitted / limit");
    assertThat(out.resolve("requests-dp-c.log")).isNotEmptyFile();
  }

  /** {@code launcher/target/sluice.jar}, as the build passes it (benchmarks/pom.xml). */
  private static Path sluiceJar() {
    String property = System.getProperty("sluice.jar");
    assertThat(property)
        .as("system property sluice.jar; run the test through Maven (failsafe)")
        .isNotBlank();
    Path jar = Path.of(property).toAbsolutePath().normalize();
    assertThat(jar)
        .as("build it first: mvn -pl launcher -am package, or run the reactor (mvn verify)")
        .isRegularFile();
    return jar;
  }
}
