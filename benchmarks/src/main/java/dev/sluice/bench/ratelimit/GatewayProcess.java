package dev.sluice.bench.ratelimit;

import static java.nio.charset.StandardCharsets.UTF_8;
import static java.util.Objects.requireNonNull;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One child process (a Sluice server or the fake upstream), its stdout and stderr in one log
 * file, which is also how the parent learns what it serves: it waits for a log line. {@link
 * #close()} stops it (SIGTERM, then SIGKILL).
 */
final class GatewayProcess implements AutoCloseable {
  private final String name;
  private final Process process;
  private final Path log;

  private GatewayProcess(String name, Process process, Path log) {
    this.name = name;
    this.process = process;
    this.log = log;
  }

  /** Starts {@code command}, writing its output to {@code log} (replaced if present). */
  static GatewayProcess start(String name, List<String> command, Path log) throws IOException {
    requireNonNull(name, "name");
    Process process =
        new ProcessBuilder(command)
            .redirectErrorStream(true)
            .redirectOutput(log.toFile())
            .redirectInput(ProcessBuilder.Redirect.PIPE)
            .start();
    process.getOutputStream().close(); // no stdin: servers must not wait for input
    return new GatewayProcess(name, process, log);
  }

  String name() {
    return name;
  }

  long pid() {
    return process.pid();
  }

  Path log() {
    return log;
  }

  boolean isAlive() {
    return process.isAlive();
  }

  /**
   * Waits until a line of the log matches {@code pattern} and returns the match (with its
   * groups).
   *
   * @throws IllegalStateException if the process exits first or {@code timeout} passes, with the
   *     end of the log
   */
  Matcher awaitLine(Pattern pattern, Duration timeout) throws InterruptedException {
    long end = System.nanoTime() + timeout.toNanos();
    while (true) {
      for (String line : readLog().split("\n", -1)) {
        Matcher m = pattern.matcher(line);
        if (m.matches()) {
          return m;
        }
      }
      if (!process.isAlive()) {
        throw new IllegalStateException(
            name + " exited with " + process.exitValue() + " before logging /" + pattern + "/:\n"
                + tail());
      }
      if (System.nanoTime() - end > 0) {
        throw new IllegalStateException(
            name + " did not log /" + pattern + "/ within " + timeout + ":\n" + tail());
      }
      Thread.sleep(50);
    }
  }

  /** The last lines of the log, for error messages. */
  String tail() {
    String text = readLog();
    return text.length() <= 4000 ? text : "..." + text.substring(text.length() - 4000);
  }

  private String readLog() {
    try {
      return Files.readString(log, UTF_8);
    } catch (IOException e) {
      return "";
    }
  }

  /** Sends SIGTERM and waits up to {@code grace} before SIGKILL. Idempotent. */
  void stop(Duration grace) {
    if (!process.isAlive()) {
      return;
    }
    process.destroy();
    try {
      if (!process.waitFor(grace.toMillis(), TimeUnit.MILLISECONDS)) {
        process.destroyForcibly();
        process.waitFor(5, TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      process.destroyForcibly();
      Thread.currentThread().interrupt();
    }
  }

  /** {@link #stop(Duration)} with 20 s for the servers' own shutdown (drain, store close). */
  @Override
  public void close() {
    stop(Duration.ofSeconds(20));
  }

  /** SIGTERM without waiting. */
  void terminate() {
    process.destroy();
  }

  /** SIGKILL without waiting: for shutdown hooks, where there is no time to drain. */
  void kill() {
    process.destroyForcibly();
  }

  @Override
  public String toString() {
    return name + " (pid " + process.pid() + ")";
  }
}
