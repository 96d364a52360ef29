package dev.sluice.launcher;

import dev.sluice.client.SluiceException;
import java.io.PrintWriter;
import java.util.Map;

/**
 * Prints a failed call for a person at a terminal: the code, message and reason on one line, then
 * the rejected fields, quota violations and retry delay the server sent.
 */
final class ErrorReport {
  private ErrorReport() {}

  static void print(PrintWriter err, SluiceException e) {
    err.println("error: " + e.getMessage());
    for (SluiceException.FieldViolation v : e.fieldViolations()) {
      err.println("  " + v.field() + ": " + v.description());
    }
    for (SluiceException.QuotaViolation v : e.quotaViolations()) {
      err.println("  limit " + v.subject() + ": " + v.description());
    }
    for (Map.Entry<String, String> entry : e.metadata().entrySet()) {
      err.println("  " + entry.getKey() + " = " + entry.getValue());
    }
    e.retryDelay().ifPresent(delay -> err.println("  retry after " + delay.toMillis() + " ms"));
    if (!e.requestId().isEmpty()) {
      err.println("  request id " + e.requestId());
    }
    err.flush();
  }
}
