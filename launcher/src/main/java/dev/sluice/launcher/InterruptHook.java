package dev.sluice.launcher;

import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Runs an action when the user presses Ctrl-C (or the process gets SIGTERM) while a piece of work
 * is in progress, and lets that work finish cleanly before the JVM exits.
 *
 * <pre>{@code
 * try (InterruptHook hook = InterruptHook.install(stream::cancel, Duration.ofSeconds(2))) {
 *   ... read the stream; after Ctrl-C it ends with CANCELLED ...
 * }
 * }</pre>
 *
 * <p>The JVM turns SIGINT into its shutdown sequence; the hook runs the action (for example
 * cancelling a gRPC call, which the server sees at once) and then waits, at most {@code grace},
 * until {@link #close()} signals that the work has wound down, so its last output is not lost.
 * The process then exits with status 130 like any interrupted command.
 */
final class InterruptHook implements AutoCloseable {
  private final Thread thread;
  private final CountDownLatch workDone = new CountDownLatch(1);
  private volatile boolean fired;

  private InterruptHook(Runnable action, Duration grace) {
    this.thread =
        new Thread(
            () -> {
              fired = true;
              action.run();
              try {
                workDone.await(grace.toMillis(), TimeUnit.MILLISECONDS);
              } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
              }
            },
            "sluice-interrupt");
  }

  static InterruptHook install(Runnable action, Duration grace) {
    InterruptHook hook = new InterruptHook(action, grace);
    Runtime.getRuntime().addShutdownHook(hook.thread);
    return hook;
  }

  /** Whether the process is shutting down because of a signal. */
  boolean fired() {
    return fired;
  }

  @Override
  public void close() {
    workDone.countDown();
    try {
      Runtime.getRuntime().removeShutdownHook(thread);
    } catch (IllegalStateException shuttingDown) {
      // The hook is running or has run; it returns now that the work is done.
    }
  }
}
