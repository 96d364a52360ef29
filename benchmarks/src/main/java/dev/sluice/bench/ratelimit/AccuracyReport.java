package dev.sluice.bench.ratelimit;

import static com.google.common.base.Preconditions.checkArgument;

import dev.sluice.bench.internal.TextTable;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.IntToLongFunction;

/**
 * What the fleet admitted as a fraction of each limit, from an {@link AdmissionLog}.
 *
 * <p>The first {@code warmupSeconds} are the warm-up (new buckets start on their static shares
 * and get their first leases; the lease duration is 10 s) and are reported on their own. Over the
 * rest, the measured part, two views of "admitted per minute":
 *
 * <ul>
 *   <li><b>sliding</b>: every 60 s window that starts on a whole second inside the measured part
 *       and ends inside it, which includes the windows least favourable to the limiter;
 *   <li><b>whole minutes</b>: consecutive minutes from the end of the warm-up.
 * </ul>
 *
 * <p>{@code maxAnyWindow} is the largest count in any window of 60 s (or the whole run, if
 * shorter) including the warm-up: the figure a limit of "at most N per minute" promises to bound.
 */
record AccuracyReport(
    int seconds,
    int warmupSeconds,
    double tokensPerRequest,
    Warmup warmup,
    MetricAccuracy requests,
    MetricAccuracy tokens,
    List<NodeSummary> nodes,
    Map<String, Long> failures) {
  static final int WINDOW_SECONDS = 60;

  /** Minimum, maximum and mean of fractions of a limit; NaN (as null in JSON) when count is 0. */
  record Stats(int count, double min, double max, double mean) {
    static Stats of(List<Double> values) {
      if (values.isEmpty()) {
        return new Stats(0, Double.NaN, Double.NaN, Double.NaN);
      }
      double min = Double.POSITIVE_INFINITY;
      double max = Double.NEGATIVE_INFINITY;
      double sum = 0;
      for (double v : values) {
        min = Math.min(min, v);
        max = Math.max(max, v);
        sum += v;
      }
      return new Stats(values.size(), round(min), round(max), round(sum / values.size()));
    }
  }

  /**
   * One limit: sliding and whole-minute admitted / limit over the measured part, the count of
   * each whole minute, and the largest window anywhere in the run.
   */
  record MetricAccuracy(
      long limit,
      Stats sliding,
      Stats wholeMinutes,
      List<Long> minuteCounts,
      long maxAnyWindow,
      double maxAnyWindowFraction) {}

  /** The warm-up: what was admitted and refused before the measured part. */
  record Warmup(
      int seconds,
      long admittedRequests,
      long admittedTokens,
      long refused,
      Map<String, Long> admittedByNode) {}

  /** One data plane over the whole run, and its admitted requests per measured whole minute. */
  record NodeSummary(
      String node,
      long sent,
      long admitted,
      long refused,
      long failed,
      long admittedTokens,
      List<Long> admittedPerMinute) {}

  static AccuracyReport of(
      AdmissionLog log, long requestLimit, long tokenLimit, int warmupSeconds) {
    int seconds = log.seconds();
    checkArgument(
        warmupSeconds >= 0 && warmupSeconds < seconds,
        "warmupSeconds: %s (expected: 0 to %s)",
        warmupSeconds,
        seconds - 1);
    int nodes = log.nodes().size();
    long[] requests = new long[seconds];
    long[] tokens = new long[seconds];
    for (int s = 0; s < seconds; s++) {
      for (int node = 0; node < nodes; node++) {
        requests[s] += log.admitted(node, s);
        tokens[s] += log.admittedTokens(node, s);
      }
    }
    long totalRequests = sum(requests, 0, seconds);
    long totalTokens = sum(tokens, 0, seconds);
    Map<String, Long> warmupByNode = new LinkedHashMap<>();
    long warmupRefused = 0;
    for (int node = 0; node < nodes; node++) {
      int n = node;
      warmupByNode.put(log.nodes().get(node), sum(s -> log.admitted(n, s), 0, warmupSeconds));
      warmupRefused += sum(s -> log.refused(n, s), 0, warmupSeconds);
    }
    Warmup warmup =
        new Warmup(
            warmupSeconds,
            sum(requests, 0, warmupSeconds),
            sum(tokens, 0, warmupSeconds),
            warmupRefused,
            warmupByNode);
    List<NodeSummary> perNode = new ArrayList<>();
    for (int node = 0; node < nodes; node++) {
      int n = node;
      perNode.add(
          new NodeSummary(
              log.nodes().get(node),
              log.sentTotal(node),
              log.admittedTotal(node),
              log.refusedTotal(node),
              log.failedTotal(node),
              log.admittedTokensTotal(node),
              minuteCounts(s -> log.admitted(n, s), warmupSeconds, seconds)));
    }
    return new AccuracyReport(
        seconds,
        warmupSeconds,
        totalRequests == 0 ? 0 : round((double) totalTokens / totalRequests),
        warmup,
        accuracy(requests, requestLimit, warmupSeconds),
        accuracy(tokens, tokenLimit, warmupSeconds),
        perNode,
        log.failuresByCode());
  }

  static MetricAccuracy accuracy(long[] perSecond, long limit, int warmupSeconds) {
    int seconds = perSecond.length;
    List<Double> sliding = new ArrayList<>();
    for (int s = warmupSeconds; s + WINDOW_SECONDS <= seconds; s++) {
      sliding.add((double) sum(perSecond, s, s + WINDOW_SECONDS) / limit);
    }
    List<Long> minutes = minuteCounts(s -> perSecond[s], warmupSeconds, seconds);
    List<Double> minuteFractions = minutes.stream().map(m -> (double) m / limit).toList();
    long maxAny = 0;
    for (int s = 0; s == 0 || s + WINDOW_SECONDS <= seconds; s++) {
      maxAny = Math.max(maxAny, sum(perSecond, s, Math.min(seconds, s + WINDOW_SECONDS)));
    }
    return new MetricAccuracy(
        limit,
        Stats.of(sliding),
        Stats.of(minuteFractions),
        minutes,
        maxAny,
        round((double) maxAny / limit));
  }

  private static List<Long> minuteCounts(IntToLongFunction perSecond, int from, int seconds) {
    List<Long> minutes = new ArrayList<>();
    for (int s = from; s + WINDOW_SECONDS <= seconds; s += WINDOW_SECONDS) {
      minutes.add(sum(perSecond, s, s + WINDOW_SECONDS));
    }
    return minutes;
  }

  private static long sum(long[] values, int from, int to) {
    return sum(s -> values[s], from, to);
  }

  private static long sum(IntToLongFunction values, int from, int to) {
    long sum = 0;
    for (int s = from; s < to; s++) {
      sum += values.applyAsLong(s);
    }
    return sum;
  }

  private static double round(double v) {
    return Double.isFinite(v) ? Math.round(v * 10_000) / 10_000.0 : v;
  }

  /** The report as text: a table per view, the warm-up, the nodes. */
  String render(String title) {
    StringBuilder out = new StringBuilder(title).append('\n');
    TextTable fractions =
        TextTable.of("admitted / limit", "limit", "windows", "min", "max", "mean", "max anywhere");
    addRows(fractions, "requests", requests);
    addRows(fractions, "tokens", tokens);
    out.append(fractions.render());
    out.append(
        String.format(
            Locale.ROOT,
            "sliding: every 60 s window starting at a whole second after the %d s warm-up;"
                + " whole: consecutive minutes from the end of the warm-up; max anywhere: the"
                + " largest 60 s window of the run, warm-up included%n",
            warmupSeconds));
    out.append(
        String.format(
            Locale.ROOT,
            "whole minutes, requests: %s; tokens: %s%n",
            requests.minuteCounts(),
            tokens.minuteCounts()));
    out.append(
        String.format(
            Locale.ROOT,
            "warm-up (first %d s): %d requests, %d tokens admitted, %d refused; by node %s%n",
            warmup.seconds(),
            warmup.admittedRequests(),
            warmup.admittedTokens(),
            warmup.refused(),
            warmup.admittedByNode()));
    out.append(String.format(Locale.ROOT, "tokens per admitted request: %.1f%n", tokensPerRequest));
    TextTable byNode =
        TextTable.of(
            "node", "sent", "admitted", "refused", "failed", "tokens", "admitted per minute");
    for (NodeSummary n : nodes) {
      byNode.row(
          n.node(), n.sent(), n.admitted(), n.refused(), n.failed(), n.admittedTokens(),
          n.admittedPerMinute());
    }
    out.append(byNode.render());
    if (!failures.isEmpty()) {
      out.append("failures other than RESOURCE_EXHAUSTED: ").append(failures).append('\n');
    }
    return out.toString();
  }

  private static void addRows(TextTable table, String metric, MetricAccuracy a) {
    table.row(
        metric + ", sliding 60 s",
        a.limit(),
        a.sliding().count(),
        f3(a.sliding().min()),
        f3(a.sliding().max()),
        f3(a.sliding().mean()),
        f3(a.maxAnyWindowFraction()));
    table.row(
        metric + ", whole minutes",
        a.limit(),
        a.wholeMinutes().count(),
        f3(a.wholeMinutes().min()),
        f3(a.wholeMinutes().max()),
        f3(a.wholeMinutes().mean()),
        "");
  }

  private static String f3(double v) {
    return Double.isNaN(v) ? "-" : String.format(Locale.ROOT, "%.3f", v);
  }
}
