package dev.sluice.bench.report;

import com.fasterxml.jackson.databind.JsonNode;
import dev.sluice.bench.internal.Json;
import dev.sluice.bench.internal.TextTable;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import org.jspecify.annotations.Nullable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * Summarizes a data-plane results file (JSON lines from {@code LoadGen --json}, plus the RSS
 * records the scripts add) into two tables: every run, and the headline figures of issue 4 with the
 * gateway beside the direct-to-upstream baseline of the same run.
 *
 * <p>Runs are labelled {@code <phase>.<target>}: the target is {@code direct} for the baseline and
 * anything else ({@code sluice}, {@code portkey}) for a gateway; the process watched as {@code
 * gateway} gives CPU and RSS. Phases the scripts use: {@code sat-c<N>} (closed-loop unary
 * saturation), {@code half} (open loop at half the gateway's saturation), {@code burst-seq} and
 * {@code burst-c<N>} (1,000-token bursts), {@code paced-s<N>-d<ms>} (N streams, a token every ms
 * milliseconds), {@code open-streams-<N>} (memory with N open streams); {@code rss-*} records hold
 * a plain {@code rssMiB}.
 */
@Command(
    name = "summary",
    mixinStandardHelpOptions = true,
    description = "Summarize benchmark JSON lines.")
public final class Summary implements Callable<Integer> {
  @Parameters(index = "0", description = "results.jsonl")
  Path results = Path.of("results.jsonl");

  @Option(
      names = "--gateway",
      description = "Target name of the gateway runs (default: ${DEFAULT-VALUE}).")
  String gateway = "sluice";

  public static void main(String[] args) {
    System.exit(new CommandLine(new Summary()).execute(args));
  }

  @Override
  public Integer call() throws IOException {
    Map<String, JsonNode> runs = new LinkedHashMap<>();
    for (String line : Files.readAllLines(results)) {
      if (!line.isBlank()) {
        JsonNode n = Json.mapper().readTree(line);
        runs.put(n.path("label").asText(), n); // a re-run of a label replaces the earlier one
      }
    }
    System.out.println(
        "All runs (latency ms from scheduled send; CPU and RSS of the process watched as"
            + " 'gateway'):");
    System.out.println(allRuns(runs));
    System.out.println(
        "Headline figures, " + gateway + " beside the direct baseline of the same run:");
    System.out.println(headline(runs));
    return 0;
  }

  private static String allRuns(Map<String, JsonNode> runs) {
    TextTable t =
        TextTable.of(
            "label",
            "mode",
            "load",
            "ok/s",
            "p50",
            "p90",
            "p99",
            "p99.9",
            "max",
            "err",
            "tok/s",
            "TTFT p50",
            "TTFT p99",
            "gw cpu%",
            "gw µs/call",
            "gw µs/tok",
            "gw RSS max MiB");
    for (JsonNode r : runs.values()) {
      if (!r.has("mode")) {
        continue;
      }
      JsonNode lat = r.path("latencyMs");
      JsonNode s = r.path("stream");
      JsonNode gw = process(r, "processes", "gateway");
      JsonNode gwd = process(r, "perProcess", "gateway");
      t.row(
          r.path("label").asText(),
          r.path("mode").asText() + " " + r.path("call").asText(),
          r.path("mode").asText().equals("open")
              ? fmt0(r.path("targetRate").asDouble()) + "/s"
              : r.path("concurrency").asInt() + " workers",
          fmt0(r.path("throughputPerSecond").asDouble()),
          fmt3(lat.path("p50").asDouble()),
          fmt3(lat.path("p90").asDouble()),
          fmt3(lat.path("p99").asDouble()),
          fmt3(lat.path("p999").asDouble()),
          fmt3(lat.path("max").asDouble()),
          r.path("errors").asLong() + r.path("unfinished").asLong(),
          s.isMissingNode() || s.isNull() ? "" : fmt0(s.path("tokensPerSecond").asDouble()),
          s.isMissingNode() || s.isNull() ? "" : fmt3(s.path("ttftMs").path("p50").asDouble()),
          s.isMissingNode() || s.isNull() ? "" : fmt3(s.path("ttftMs").path("p99").asDouble()),
          gw == null ? "" : fmt1(gw.path("cpuPercent").asDouble()),
          gwd == null ? "" : fmt1(gwd.path("cpuMicrosPerCall").asDouble()),
          gwd == null || s.isMissingNode() || s.isNull()
              ? ""
              : fmt2(gwd.path("cpuMicrosPerToken").asDouble()),
          gw == null ? "" : fmt1(gw.path("rssMaxMiB").asDouble()));
    }
    return t.render();
  }

  private String headline(Map<String, JsonNode> runs) {
    TextTable t = TextTable.of("figure", gateway, "direct", "added / note");
    // Unary saturation: the best gateway run, per core.
    JsonNode bestSat = null;
    for (Map.Entry<String, JsonNode> e : runs.entrySet()) {
      if (e.getKey().startsWith("sat-") && e.getKey().endsWith("." + gateway)) {
        if (bestSat == null
            || e.getValue().path("throughputPerSecond").asDouble()
                > bestSat.path("throughputPerSecond").asDouble()) {
          bestSat = e.getValue();
        }
      }
    }
    if (bestSat != null) {
      String phase = phase(bestSat.path("label").asText());
      JsonNode direct = runs.get(phase + ".direct");
      double rps = bestSat.path("throughputPerSecond").asDouble();
      JsonNode gw = process(bestSat, "processes", "gateway");
      double cpu = gw == null ? 0 : gw.path("cpuPercent").asDouble();
      t.row(
          "unary saturation req/s (" + phase + ")",
          fmt0(rps),
          direct == null ? "" : fmt0(direct.path("throughputPerSecond").asDouble()),
          cpu > 0
              ? fmt0(rps / (cpu / 100)) + " req/s per gateway core (cpu " + fmt1(cpu) + "%)"
              : "");
      JsonNode gwd = process(bestSat, "perProcess", "gateway");
      if (gwd != null) {
        t.row("gateway CPU per request µs", fmt1(gwd.path("cpuMicrosPerCall").asDouble()), "", "");
      }
    }
    pair(runs, "half", "latencyMs", t, "half-saturation latency ms");
    pair(
        runs, "burst-seq", "stream.ttftMs", t, "TTFT, 1,000-token burst, one stream at a time, ms");
    for (String key : runs.keySet()) {
      String phase = phase(key);
      if (key.endsWith("." + gateway)
          && (phase.startsWith("burst-c") || phase.startsWith("paced-"))) {
        JsonNode g = runs.get(key);
        JsonNode d = runs.get(phase + ".direct");
        JsonNode gw = process(g, "processes", "gateway");
        JsonNode gwd = process(g, "perProcess", "gateway");
        double tps = g.path("stream").path("tokensPerSecond").asDouble();
        double cpu = gw == null ? 0 : gw.path("cpuPercent").asDouble();
        t.row(
            phase + " tokens/s",
            fmt0(tps),
            d == null ? "" : fmt0(d.path("stream").path("tokensPerSecond").asDouble()),
            cpu > 0
                ? fmt0(tps / (cpu / 100))
                    + " tok/s per gateway core; "
                    + (gwd == null
                        ? ""
                        : fmt2(gwd.path("cpuMicrosPerToken").asDouble()) + " µs CPU/token")
                : "");
        pair(runs, phase, "stream.ttftMs", t, phase + " TTFT ms");
      }
    }
    JsonNode idle = runs.get("rss-idle." + gateway);
    JsonNode start = runs.get("rss-start." + gateway);
    if (start != null) {
      t.row("RSS after start MiB", fmt1(start.path("rssMiB").asDouble()), "", "");
    }
    if (idle != null) {
      t.row("RSS idle (after load) MiB", fmt1(idle.path("rssMiB").asDouble()), "", "");
    }
    if (bestSat != null) {
      JsonNode gw = process(bestSat, "processes", "gateway");
      if (gw != null) {
        t.row("RSS under unary load MiB (max)", fmt1(gw.path("rssMaxMiB").asDouble()), "", "");
      }
    }
    for (String key : runs.keySet()) {
      if (key.startsWith("open-streams-") && key.endsWith("." + gateway)) {
        JsonNode g = runs.get(key);
        JsonNode gw = process(g, "processes", "gateway");
        int n = Integer.parseInt(phase(key).substring("open-streams-".length()));
        if (gw != null) {
          double end = gw.path("rssEndMiB").asDouble();
          String per =
              idle == null
                  ? ""
                  : fmt1((end - idle.path("rssMiB").asDouble()) * 1024 / n)
                      + " KiB per open stream";
          t.row("RSS with " + n + " open streams MiB", fmt1(end), "", per);
        }
      }
    }
    return t.render();
  }

  /** A row "label p50 / p99 (added)" for a latency summary of gateway and direct in a phase. */
  private void pair(
      Map<String, JsonNode> runs, String phase, String path, TextTable t, String title) {
    JsonNode g = at(runs.get(phase + "." + gateway), path);
    JsonNode d = at(runs.get(phase + ".direct"), path);
    if (g == null) {
      return;
    }
    String gs = fmt3(g.path("p50").asDouble()) + " / " + fmt3(g.path("p99").asDouble());
    if (d == null) {
      t.row(title + " p50 / p99", gs, "", "");
      return;
    }
    String ds = fmt3(d.path("p50").asDouble()) + " / " + fmt3(d.path("p99").asDouble());
    String added =
        "+"
            + fmt3(g.path("p50").asDouble() - d.path("p50").asDouble())
            + " / +"
            + fmt3(g.path("p99").asDouble() - d.path("p99").asDouble())
            + " (p99.9 +"
            + fmt3(g.path("p999").asDouble() - d.path("p999").asDouble())
            + ")";
    t.row(title + " p50 / p99", gs, ds, added);
  }

  private static @Nullable JsonNode at(@Nullable JsonNode n, String path) {
    if (n == null) {
      return null;
    }
    JsonNode cur = n;
    for (String p : path.split("\\.")) {
      cur = cur.path(p);
    }
    return cur.isMissingNode() || cur.isNull() ? null : cur;
  }

  private static @Nullable JsonNode process(JsonNode run, String field, String name) {
    for (JsonNode p : run.path(field)) {
      if (p.path("name").asText().equals(name)) {
        return p;
      }
    }
    return null;
  }

  private static String phase(String label) {
    int dot = label.lastIndexOf('.');
    return dot < 0 ? label : label.substring(0, dot);
  }

  private static String fmt0(double v) {
    return String.format(Locale.ROOT, "%.0f", v);
  }

  private static String fmt1(double v) {
    return String.format(Locale.ROOT, "%.1f", v);
  }

  private static String fmt2(double v) {
    return String.format(Locale.ROOT, "%.2f", v);
  }

  private static String fmt3(double v) {
    return String.format(Locale.ROOT, "%.3f", v);
  }
}
