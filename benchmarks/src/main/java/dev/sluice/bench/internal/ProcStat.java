package dev.sluice.bench.internal;

import static java.nio.charset.StandardCharsets.US_ASCII;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * CPU time and resident memory of a process, read from Linux {@code /proc}.
 *
 * <p>CPU time is {@code utime + stime} of all threads from {@code /proc/PID/stat}, in clock ticks
 * (usually 10 ms). Benchmarks read it at the start and end of a measurement window of several
 * seconds, so the tick resolution costs well under 1 %. This is what {@code top} and {@code ps}
 * show; it includes GC and JIT threads, which is what a gateway really costs.
 */
public final class ProcStat {
  /**
   * {@code sysconf(_SC_CLK_TCK)}. Java cannot ask the kernel; every Linux architecture we run on
   * uses 100 (USER_HZ is fixed at 100 for the ABI, independent of the kernel's HZ).
   */
  private static final long NANOS_PER_TICK = 10_000_000L;

  private ProcStat() {}

  /** One reading of a process. */
  public record Sample(long pid, long nanoTime, long cpuNanos, long rssBytes, long hwmBytes) {
    /** CPU used between {@code earlier} and this sample, as a percentage of one core. */
    public double cpuPercentSince(Sample earlier) {
      long wall = nanoTime - earlier.nanoTime;
      return wall <= 0 ? 0 : 100.0 * (cpuNanos - earlier.cpuNanos) / wall;
    }
  }

  /** Reads a process, or empty if it does not exist (or this is not Linux). */
  public static Optional<Sample> read(long pid) {
    try {
      long now = System.nanoTime();
      String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"), US_ASCII);
      // The command name (field 2) is in parentheses and may contain spaces: split after it.
      String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
      // Fields after ")": state(3) ppid(4) ... utime(14) stime(15) → indexes 11 and 12 here.
      long ticks = Long.parseLong(f[11]) + Long.parseLong(f[12]);
      long rss = 0;
      long hwm = 0;
      List<String> status =
          Files.readAllLines(Path.of("/proc", Long.toString(pid), "status"), US_ASCII);
      for (String line : status) {
        if (line.startsWith("VmRSS:")) {
          rss = kib(line) * 1024;
        } else if (line.startsWith("VmHWM:")) {
          hwm = kib(line) * 1024;
        }
      }
      return Optional.of(new Sample(pid, now, ticks * NANOS_PER_TICK, rss, hwm));
    } catch (IOException | RuntimeException e) {
      return Optional.empty();
    }
  }

  /** This JVM's process id. */
  public static long selfPid() {
    return ProcessHandle.current().pid();
  }

  private static long kib(String line) {
    String[] parts = line.trim().split("\\s+");
    return Long.parseLong(parts[1]);
  }
}
