package dev.sluice.launcher;

/**
 * A failure a command reports to the user as one clear sentence (no stack trace), for example a
 * port already in use or a config file that does not parse.
 */
final class CommandFailure extends RuntimeException {
  private static final long serialVersionUID = 1L;

  CommandFailure(String message) {
    super(message);
  }

  CommandFailure(String message, Throwable cause) {
    super(message, cause);
  }
}
