package dev.sluice.bench.load;

import dev.sluice.bench.internal.LatencySummary;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * The result of one load run, written as one JSON line and as text. Latencies are in milliseconds;
 * {@code latencyMs} is measured from the scheduled send time (open loop) or from the worker's start
 * of the call (closed loop), {@code serviceTimeMs} from the moment the request was written. Only
 * calls scheduled inside the measurement window are in the percentiles and in {@code outcomes};
 * {@code unfinished} counts calls still open when the run ended (after the drain time), which are
 * in neither. {@code client} names the client ({@code grpc-java}, {@code raw} or {@code http});
 * {@code clientQueued} counts calls that waited in the raw gRPC client for a free stream slot (the
 * server's MAX_CONCURRENT_STREAMS) or a connection before they were sent; {@code pacing} what timed
 * the open loop's sends.
 */
record LoadReport(
    String label,
    String endpoint,
    String call,
    String mode,
    double targetRate,
    int concurrency,
    int connections,
    String client,
    long clientQueued,
    String pacing,
    double warmupSeconds,
    double durationSeconds,
    String model,
    int maxTokens,
    long started,
    long measured,
    Map<String, Long> outcomes,
    long errors,
    long unfinished,
    int maxInFlight,
    double throughputPerSecond,
    LatencySummary latencyMs,
    LatencySummary serviceTimeMs,
    @Nullable StreamFigures stream,
    List<ProcessWatch.Figures> processes,
    List<Derived> perProcess) {

  /** Streaming figures: aggregate token rate in the window, TTFT, gaps, per-stream rate. */
  record StreamFigures(
      long tokensInWindow,
      double tokensPerSecond,
      LatencySummary ttftMs,
      LatencySummary interTokenGapMs,
      LatencySummary streamDurationMs,
      long perStreamTokensPerSecondP50,
      long perStreamTokensPerSecondP10) {}

  /** CPU cost of one call and of one token for a watched process, over the window. */
  record Derived(String name, double cpuMicrosPerCall, double cpuMicrosPerToken) {}

  /** Human-readable summary. */
  String text() {
    StringBuilder sb = new StringBuilder();
    sb.append(String.format(Locale.ROOT, "== %s  %s %s %s%n", label, mode, call, endpoint));
    sb.append(
        String.format(
            Locale.ROOT,
            "   %s, warm-up %.0f s, measured %.0f s, %s client, %d connection(s), model %s, max"
                + " tokens %d%n",
            mode.equals("open")
                ? String.format(Locale.ROOT, "rate %.0f/s", targetRate)
                : concurrency + " worker(s)",
            warmupSeconds,
            durationSeconds,
            client,
            connections,
            model,
            maxTokens));
    sb.append(
        String.format(
            Locale.ROOT,
            "   throughput %.1f/s ok; measured calls %d, errors %d, unfinished %d, max in flight"
                + " %d%n",
            throughputPerSecond,
            measured,
            errors,
            unfinished,
            maxInFlight));
    if (errors > 0) {
      sb.append("   outcomes ").append(outcomes).append('\n');
    }
    if (mode.equals("open")) {
      sb.append("   paced by ").append(pacing).append('\n');
    }
    if (clientQueued > 0) {
      sb.append(
          String.format(
              Locale.ROOT,
              "   client-queued %d call(s): waited for a stream slot (MAX_CONCURRENT_STREAMS) or a"
                  + " connection%n",
              clientQueued));
    }
    sb.append("   latency ms   p50 / p90 / p99 / p99.9 / max: ")
        .append(latencyMs.brief())
        .append('\n');
    if (mode.equals("open")) {
      sb.append("   service ms   p50 / p90 / p99 / p99.9 / max: ")
          .append(serviceTimeMs.brief())
          .append('\n');
    }
    if (stream != null) {
      sb.append(
          String.format(
              Locale.ROOT,
              "   tokens %.0f/s aggregate (%d in window); per stream p50 %d tok/s%n",
              stream.tokensPerSecond,
              stream.tokensInWindow,
              stream.perStreamTokensPerSecondP50));
      sb.append("   TTFT ms      p50 / p90 / p99 / p99.9 / max: ")
          .append(stream.ttftMs.brief())
          .append('\n');
      sb.append("   gap ms       p50 / p90 / p99 / p99.9 / max: ")
          .append(stream.interTokenGapMs.brief())
          .append('\n');
    }
    for (ProcessWatch.Figures p : processes) {
      Derived d = perProcess.stream().filter(x -> x.name.equals(p.name())).findFirst().orElse(null);
      sb.append(
          String.format(
              Locale.ROOT,
              "   %-8s pid %d: cpu %.1f%%, rss %.1f → %.1f MiB (max %.1f)%s%n",
              p.name(),
              p.pid(),
              p.cpuPercent(),
              p.rssStartMiB(),
              p.rssEndMiB(),
              p.rssMaxMiB(),
              d == null
                  ? ""
                  : String.format(
                      Locale.ROOT,
                      ", %.1f µs cpu/call%s",
                      d.cpuMicrosPerCall,
                      stream == null
                          ? ""
                          : String.format(
                              Locale.ROOT, ", %.2f µs cpu/token", d.cpuMicrosPerToken))));
    }
    return sb.toString();
  }
}
