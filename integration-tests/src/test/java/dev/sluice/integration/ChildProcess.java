package dev.sluice.integration;

import static java.nio.charset.StandardCharsets.UTF_8;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/**
 * A process the test started, with its stdout and stderr collected as they arrive so the test
 * can wait for a line. {@link #close()} kills it if it still runs; every test stops what it
 * starts.
 */
final class ChildProcess implements AutoCloseable {
  private final Process process;
  private final StringBuffer out = new StringBuffer();
  private final StringBuffer err = new StringBuffer();
  private final Thread outReader;
  private final Thread errReader;
  private final String description;

  private ChildProcess(Process process, String description) {
    this.process = process;
    this.description = description;
    this.outReader = pump(process.getInputStream(), out, "stdout of " + description);
    this.errReader = pump(process.getErrorStream(), err, "stderr of " + description);
  }

  /** Starts {@code command} in {@code directory} with extra environment variables. */
  static ChildProcess start(List<String> command, Path directory, Map<String, String> env) {
    ProcessBuilder builder = new ProcessBuilder(command).directory(directory.toFile());
    builder.environment().putAll(env);
    builder.redirectInput(ProcessBuilder.Redirect.PIPE);
    try {
      Process process = builder.start();
      process.getOutputStream().close(); // no stdin: the commands must not wait for input
      return new ChildProcess(process, String.join(" ", command));
    } catch (IOException e) {
      throw new UncheckedIOException("cannot start " + command, e);
    }
  }

  private static Thread pump(InputStream stream, StringBuffer sink, String name) {
    Thread thread =
        new Thread(
            () -> {
              try (BufferedReader reader = new BufferedReader(new InputStreamReader(stream, UTF_8))) {
                char[] buffer = new char[4096];
                int read;
                while ((read = reader.read(buffer)) >= 0) {
                  sink.append(buffer, 0, read);
                }
              } catch (IOException e) {
                sink.append("\n[reading failed: ").append(e).append("]\n");
              }
            },
            name);
    thread.setDaemon(true);
    thread.start();
    return thread;
  }

  /** Waits until stdout has a line matching {@code condition}; fails with both outputs if not. */
  String awaitStdoutLine(Predicate<String> condition, Duration timeout) throws InterruptedException {
    return awaitLine(out, condition, timeout);
  }

  /** Waits until stderr (where servers log) has a line matching {@code condition}. */
  String awaitStderrLine(Predicate<String> condition, Duration timeout) throws InterruptedException {
    return awaitLine(err, condition, timeout);
  }

  private String awaitLine(StringBuffer stream, Predicate<String> condition, Duration timeout)
      throws InterruptedException {
    long end = System.nanoTime() + timeout.toNanos();
    while (System.nanoTime() < end) {
      for (String line : stream.toString().split("\n", -1)) {
        if (condition.test(line)) {
          return line;
        }
      }
      if (!process.isAlive()) {
        break;
      }
      Thread.sleep(50);
    }
    throw new AssertionError(
        "no matching line from `" + description + "` within " + timeout
            + (process.isAlive() ? "" : " (exited with " + process.exitValue() + ")")
            + "\n--- stdout ---\n" + out + "\n--- stderr ---\n" + err);
  }

  /** Waits until stdout has grown beyond {@code length} characters. */
  void awaitStdoutLongerThan(int length, Duration timeout) throws InterruptedException {
    long end = System.nanoTime() + timeout.toNanos();
    while (out.length() <= length && System.nanoTime() < end && process.isAlive()) {
      Thread.sleep(20);
    }
    if (out.length() <= length) {
      throw new AssertionError("no output from `" + description + "`\n" + err);
    }
  }

  /** Waits for the exit and returns its status, after all output has been read. */
  int awaitExit(Duration timeout) throws InterruptedException {
    if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
      process.destroyForcibly();
      throw new AssertionError(
          "`" + description + "` did not exit within " + timeout
              + "\n--- stdout ---\n" + out + "\n--- stderr ---\n" + err);
    }
    outReader.join(TimeUnit.SECONDS.toMillis(10));
    errReader.join(TimeUnit.SECONDS.toMillis(10));
    return process.exitValue();
  }

  /** Sends a signal by name (INT, TERM) through {@code kill}. */
  void signal(String name) throws IOException, InterruptedException {
    Process kill = new ProcessBuilder("kill", "-" + name, Long.toString(process.pid())).start();
    if (kill.waitFor() != 0) {
      throw new AssertionError("kill -" + name + " " + process.pid() + " failed");
    }
  }

  String stdout() {
    return out.toString();
  }

  String stderr() {
    return err.toString();
  }

  boolean isAlive() {
    return process.isAlive();
  }

  @Override
  public void close() throws InterruptedException {
    if (process.isAlive()) {
      // SIGTERM through the handle: Process.destroy() would also close the pipes and lose the
      // output the process writes while it shuts down.
      process.toHandle().destroy();
      if (!process.waitFor(30, TimeUnit.SECONDS)) {
        process.destroyForcibly();
        process.waitFor(10, TimeUnit.SECONDS);
      }
    }
  }
}
