package dev.sluice.launcher;

import java.util.ArrayList;
import java.util.Collections;
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
   * Registers the shutdown sequence before a server command starts anything, so that a stop
   * that arrives while it starts (a supervisor's SIGTERM, an impatient Ctrl-C) still closes what
   * has started, instead of failing with "Shutdown in progress" when the hook would otherwise be
   * registered after the fact.
   */
  static Stopper install() {
    Stopper stopper = new Stopper();
    Runtime.getRuntime().addShutdownHook(new Thread(stopper::stop, "sluice-shutdown"));
    return stopper;
  }

  /** What a server command has started, closed in reverse order when the process stops. */
  static final class Stopper {
    private final CountDownLatch never = new CountDownLatch(1);
    private final List<AutoCloseable> parts = new ArrayList<>();
    private boolean stopping;

    private Stopper() {}

    /**
     * Hands over a started part; closed with the others on shutdown, or at once if the
     * shutdown has already begun.
     */
    void add(AutoCloseable part) {
      synchronized (this) {
        if (!stopping) {
          parts.add(part);
          return;
        }
      }
      closeAll(List.of(part));
    }

    /** Blocks until the process stops. Never returns normally: the process exits meanwhile. */
    void awaitShutdown() {
      try {
        never.await(); // the shutdown sequence ends the process
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        stop();
      }
    }

    private void stop() {
      List<AutoCloseable> toClose;
      synchronized (this) {
        if (stopping) {
          return;
        }
        stopping = true;
        toClose = new ArrayList<>(parts);
      }
      Collections.reverse(toClose);
      report("Stopping");
      closeAll(toClose);
      report("Stopped");
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
