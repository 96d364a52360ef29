package dev.sluice.launcher;

import java.io.PrintWriter;
import java.io.StringWriter;

/** One in-process run of the {@code sluice} command: its exit code and what it printed. */
record CommandRun(int exitCode, String out, String err) {
  static CommandRun of(String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    int exitCode = Main.run(new PrintWriter(out, true), new PrintWriter(err, true), args);
    return new CommandRun(exitCode, out.toString(), err.toString());
  }
}
