package dev.sluice.launcher;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.logging.Formatter;
import java.util.logging.LogRecord;

/**
 * Formats a log record as one line: {@code 09:15:02.114 INFO  ControlPlane: message}. The logger
 * name is cut to its simple class name because the package adds nothing for an operator reading
 * a terminal. A throwable adds its stack trace below the line.
 */
final class OneLineLogFormatter extends Formatter {
  private static final DateTimeFormatter TIME =
      DateTimeFormatter.ofPattern("HH:mm:ss.SSS").withZone(ZoneId.systemDefault());

  @Override
  public String format(LogRecord record) {
    StringBuilder line = new StringBuilder(128);
    line.append(TIME.format(record.getInstant()))
        .append(' ')
        .append(String.format("%-7s", record.getLevel().getName()))
        .append(' ')
        .append(simpleName(record.getLoggerName()))
        .append(": ")
        .append(formatMessage(record))
        .append(System.lineSeparator());
    if (record.getThrown() != null) {
      StringWriter trace = new StringWriter();
      record.getThrown().printStackTrace(new PrintWriter(trace));
      line.append(trace);
    }
    return line.toString();
  }

  private static String simpleName(String loggerName) {
    if (loggerName == null || loggerName.isEmpty()) {
      return "root";
    }
    return loggerName.substring(loggerName.lastIndexOf('.') + 1);
  }
}
