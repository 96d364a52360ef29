package dev.sluice.launcher;

import java.util.List;
import java.util.logging.ConsoleHandler;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogManager;
import java.util.logging.Logger;
import java.util.stream.Stream;
import org.jspecify.annotations.Nullable;

/**
 * Sets up java.util.logging for the command line: one handler on stderr with {@link
 * OneLineLogFormatter}. Everything logs through it: gRPC directly, jetcd and Vert.x through
 * slf4j-jdk14, Netty through slf4j.
 *
 * <p>Libraries are held at WARNING unless the chosen level is more verbose than INFO, because
 * their INFO lines (channel and connection chatter) drown the gateway's own.
 */
final class Logging {
  // Strong references: LogManager holds loggers weakly, and a collected logger forgets its level.
  private static final List<Logger> LIBRARIES =
      Stream.of("io.grpc", "io.netty", "io.vertx", "io.etcd").map(Logger::getLogger).toList();

  private Logging() {}

  /** Applies {@code level} to Sluice's loggers; {@code null} keeps {@code defaultLevel}. */
  static void configure(@Nullable Level level, Level defaultLevel) {
    Level effective = level == null ? defaultLevel : level;
    LogManager.getLogManager().reset();
    Logger root = Logger.getLogger("");
    Handler handler = new ConsoleHandler(); // writes to System.err
    handler.setFormatter(new OneLineLogFormatter());
    handler.setLevel(Level.ALL);
    root.addHandler(handler);
    root.setLevel(effective);
    Level libraries = effective.intValue() < Level.INFO.intValue() ? effective : Level.WARNING;
    for (Logger library : LIBRARIES) {
      library.setLevel(libraries);
    }
  }

  /** Parses a level name (SEVERE, WARNING, INFO, FINE, ...; case-insensitive). */
  static Level parseLevel(String name) {
    try {
      return Level.parse(name.trim().toUpperCase(java.util.Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(
          "log level: " + name + " (expected: SEVERE, WARNING, INFO, FINE, FINER, FINEST or ALL)");
    }
  }
}
