package dev.sluice.bench.internal;

import org.HdrHistogram.Histogram;

/**
 * Percentiles of an HdrHistogram of nanosecond values, in milliseconds (three decimals keep
 * microseconds). {@code count} is the number of recorded values.
 */
public record LatencySummary(
    long count, double mean, double p50, double p90, double p99, double p999, double max) {

  /** The summary of {@code h}, whose values are nanoseconds. */
  public static LatencySummary ofNanos(Histogram h) {
    if (h.getTotalCount() == 0) {
      return new LatencySummary(0, 0, 0, 0, 0, 0, 0);
    }
    return new LatencySummary(
        h.getTotalCount(),
        ms(h.getMean()),
        ms(h.getValueAtPercentile(50)),
        ms(h.getValueAtPercentile(90)),
        ms(h.getValueAtPercentile(99)),
        ms(h.getValueAtPercentile(99.9)),
        ms(h.getMaxValue()));
  }

  private static double ms(double nanos) {
    return Math.round(nanos / 1_000.0) / 1_000.0;
  }

  /** {@code "p50 / p90 / p99 / p99.9 / max"} in ms, for text output. */
  public String brief() {
    return String.format(
        java.util.Locale.ROOT, "%.3f / %.3f / %.3f / %.3f / %.3f", p50, p90, p99, p999, max);
  }
}
