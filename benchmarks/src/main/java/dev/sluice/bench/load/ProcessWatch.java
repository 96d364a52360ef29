package dev.sluice.bench.load;

import dev.sluice.bench.internal.ProcStat;
import dev.sluice.bench.internal.ProcStat.Sample;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.locks.LockSupport;
import org.jspecify.annotations.Nullable;

/**
 * Samples the CPU time and RSS of named processes (the gateway, the upstream, this client) at the
 * start and end of the measurement window and every second in between, so that CPU per call and per
 * token come from exactly the window whose calls and tokens were counted.
 */
final class ProcessWatch {
  /** CPU and memory of one process over the window. Memory in MiB. */
  record Figures(
      String name,
      long pid,
      double cpuPercent,
      double cpuSeconds,
      double rssStartMiB,
      double rssEndMiB,
      double rssMaxMiB,
      double hwmMiB) {}

  private final Map<String, Long> pids;
  private final long windowStart;
  private final long windowEnd;
  private final Thread thread;
  private final Map<String, Sample> first = new LinkedHashMap<>();
  private final Map<String, Sample> last = new LinkedHashMap<>();
  private final Map<String, Long> maxRss = new LinkedHashMap<>();

  private ProcessWatch(Map<String, Long> pids, long windowStart, long windowEnd) {
    this.pids = pids;
    this.windowStart = windowStart;
    this.windowEnd = windowEnd;
    this.thread = new Thread(this::run, "process-watch");
    this.thread.setDaemon(true);
  }

  /** Starts watching {@code pids} (name to pid) plus this process as {@code client}. */
  static ProcessWatch start(Map<String, Long> pids, long windowStart, long windowEnd) {
    Map<String, Long> all = new LinkedHashMap<>(pids);
    all.putIfAbsent("client", ProcStat.selfPid());
    ProcessWatch w = new ProcessWatch(all, windowStart, windowEnd);
    // Read each process once now, unrecorded: the first read loads and runs cold code (file and
    // parsing classes), which at the window's start would stall this client for tens of ms.
    all.values().forEach(ProcStat::read);
    w.thread.start();
    return w;
  }

  private void run() {
    sleepUntil(windowStart);
    sampleAll();
    long next = windowStart;
    while (true) {
      next += 1_000_000_000L;
      if (next >= windowEnd) {
        break;
      }
      sleepUntil(next);
      sampleAll();
    }
    sleepUntil(windowEnd);
    sampleAll();
  }

  private void sampleAll() {
    pids.forEach(
        (name, pid) -> {
          Optional<Sample> s = ProcStat.read(pid);
          if (s.isEmpty()) {
            return;
          }
          synchronized (this) {
            first.putIfAbsent(name, s.get());
            last.put(name, s.get());
            maxRss.merge(name, s.get().rssBytes(), Math::max);
          }
        });
  }

  private static void sleepUntil(long nanoTime) {
    long d;
    while ((d = nanoTime - System.nanoTime()) > 0) {
      LockSupport.parkNanos(d);
    }
  }

  /** Waits for the final sample and returns the figures of every process that could be read. */
  List<Figures> finish() {
    try {
      thread.join(Math.max(1000, (windowEnd - System.nanoTime()) / 1_000_000 + 2000));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    List<Figures> out = new ArrayList<>();
    synchronized (this) {
      for (String name : pids.keySet()) {
        @Nullable Sample a = first.get(name);
        @Nullable Sample b = last.get(name);
        if (a == null || b == null) {
          continue;
        }
        out.add(
            new Figures(
                name,
                a.pid(),
                round1(b.cpuPercentSince(a)),
                round3((b.cpuNanos() - a.cpuNanos()) / 1e9),
                mib(a.rssBytes()),
                mib(b.rssBytes()),
                mib(maxRss.getOrDefault(name, b.rssBytes())),
                mib(b.hwmBytes())));
      }
    }
    return out;
  }

  private static double mib(long bytes) {
    return round1(bytes / (1024.0 * 1024.0));
  }

  private static double round1(double v) {
    return Math.round(v * 10) / 10.0;
  }

  private static double round3(double v) {
    return Math.round(v * 1000) / 1000.0;
  }
}
