package dev.sluice.launcher;

/** The exit codes of the {@code sluice} command. */
final class ExitCodes {
  /** Success. */
  static final int OK = 0;
  /** The command failed: the server refused or failed the call, or a file was bad. */
  static final int FAILED = 1;
  /** The command line was wrong (picocli's convention). */
  static final int USAGE = 2;
  /** Ctrl-C (128 + SIGINT), as shells report it. */
  static final int INTERRUPTED = 130;

  private ExitCodes() {}
}
