package dev.sluice.bench.load;

import static java.nio.charset.StandardCharsets.US_ASCII;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.OptionalLong;
import org.jspecify.annotations.Nullable;

/**
 * Lowers the Linux timer slack of the calling thread, the up to 50 µs by which the kernel may delay
 * its timed waits to batch wake-ups: left alone, it shows as lateness of the open loop's sends, a
 * large part of a 0.1 ms latency. Best effort: it needs Linux and CAP_SYS_NICE (root has it);
 * otherwise the slack stays as it was and {@link #current()} says so.
 */
final class TimerSlack {
  private TimerSlack() {}

  /** Sets the calling thread's slack to 1 ns; returns its slack afterwards, empty if unknown. */
  static OptionalLong minimize() {
    Path file = file();
    if (file == null) {
      return OptionalLong.empty();
    }
    try {
      Files.writeString(file, "1", US_ASCII); // 0 would mean "the default", not zero
    } catch (IOException | RuntimeException e) {
      // no permission: keep the default
    }
    return current();
  }

  /** The calling thread's timer slack in nanoseconds, empty where it cannot be read. */
  static OptionalLong current() {
    Path file = file();
    if (file == null) {
      return OptionalLong.empty();
    }
    try {
      return OptionalLong.of(Long.parseLong(Files.readString(file, US_ASCII).trim()));
    } catch (IOException | RuntimeException e) {
      return OptionalLong.empty();
    }
  }

  /** {@code /proc/<tid>/timerslack_ns} of the calling thread (only there, not under task/). */
  private static @Nullable Path file() {
    try {
      Path self = Files.readSymbolicLink(Path.of("/proc/thread-self")); // "<pid>/task/<tid>"
      Path f = Path.of("/proc", self.getFileName().toString(), "timerslack_ns");
      return Files.exists(f) ? f : null;
    } catch (IOException | RuntimeException e) {
      return null;
    }
  }
}
