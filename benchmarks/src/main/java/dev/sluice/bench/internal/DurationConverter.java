package dev.sluice.bench.internal;

import java.time.Duration;
import java.util.Locale;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

/**
 * Parses durations for command-line options: {@code 250ms}, {@code 10s}, {@code 2m}, {@code 1h}, or
 * a bare number of seconds ({@code 10}, {@code 0.5}). Benchmarks are always bounded in time, so
 * every tool takes durations in this one form.
 */
public final class DurationConverter implements ITypeConverter<Duration> {
  @Override
  public Duration convert(String value) {
    return parse(value);
  }

  /** Parses {@code value} as described in the class docs. */
  public static Duration parse(String value) {
    String v = value.trim().toLowerCase(Locale.ROOT);
    try {
      if (v.endsWith("ms")) {
        return Duration.ofMillis(Long.parseLong(v.substring(0, v.length() - 2)));
      }
      if (v.endsWith("us")) {
        return Duration.ofNanos(Long.parseLong(v.substring(0, v.length() - 2)) * 1000);
      }
      if (v.endsWith("h")) {
        return seconds(Double.parseDouble(v.substring(0, v.length() - 1)) * 3600);
      }
      if (v.endsWith("m")) {
        return seconds(Double.parseDouble(v.substring(0, v.length() - 1)) * 60);
      }
      if (v.endsWith("s")) {
        return seconds(Double.parseDouble(v.substring(0, v.length() - 1)));
      }
      return seconds(Double.parseDouble(v));
    } catch (NumberFormatException e) {
      throw new TypeConversionException(
          "duration: " + value + " (expected: e.g. 500ms, 10s, 2m, 1h or a number of seconds)");
    }
  }

  private static Duration seconds(double s) {
    if (s < 0 || Double.isNaN(s) || Double.isInfinite(s)) {
      throw new NumberFormatException();
    }
    return Duration.ofNanos(Math.round(s * 1e9));
  }
}
