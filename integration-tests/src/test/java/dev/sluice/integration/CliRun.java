package dev.sluice.integration;

import dev.sluice.launcher.Main;
import java.io.PrintWriter;
import java.io.StringWriter;

/** One in-process run of the {@code sluice} command: its exit code and what it printed. */
record CliRun(int exitCode, String out, String err) {
  static CliRun of(String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    int exitCode = Main.run(new PrintWriter(out, true), new PrintWriter(err, true), args);
    return new CliRun(exitCode, out.toString(), err.toString());
  }

  @Override
  public String toString() {
    return "exit " + exitCode + "\n--- stdout ---\n" + out + "\n--- stderr ---\n" + err;
  }
}
