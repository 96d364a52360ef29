package dev.sluice.launcher;

import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import org.jspecify.annotations.Nullable;

/**
 * Keeps a server command running until the process is told to stop (Ctrl-C, SIGTERM), then
 * closes its parts in order so that connections drain and files are flushed.
 */
final class ShutdownHooks {
  private ShutdownHooks() {}

  /**
   * Closes {@code parts}, in the given order, when the JVM shuts down, and blocks the calling
   * thread until then. Never returns normally: the process exits once the parts are closed.
   */
  static void closeOnShutdownAndWait(List<? extends AutoCloseable> parts) {
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  report("Stopping");
                  closeAll(parts);
                  report("Stopped");
                },
                "sluice-shutdown"));
    try {
      new CountDownLatch(1).await(); // the shutdown sequence ends the process
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      closeAll(parts);
    }
  }

  /**
   * Writes a log line straight to stderr. java.util.logging cannot be trusted here: its own
   * shutdown hook resets (closes) the handlers while ours runs.
   */
  private static void report(String message) {
    report(Level.INFO, message, null);
  }

  private static void report(Level level, String message, @Nullable Throwable thrown) {
    LogRecord record = new LogRecord(level, message);
    record.setLoggerName(ShutdownHooks.class.getName());
    record.setThrown(thrown);
    System.err.print(new OneLineLogFormatter().format(record));
    System.err.flush();
  }

  /** Closes each part, logging (not throwing) failures so that the others still close. */
  static void closeAll(List<? extends AutoCloseable> parts) {
    for (AutoCloseable part : parts) {
      try {
        part.close();
      } catch (Exception e) {
        report(Level.WARNING, "Failed to stop " + part, e);
      }
    }
  }
}
