package dev.sluice.launcher;

import static java.nio.charset.StandardCharsets.UTF_8;

import dev.sluice.client.SluiceException;
import dev.sluice.dataplane.NettyProcessDefaults;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import picocli.CommandLine;
import picocli.CommandLine.ParseResult;

/** The entry point of the {@code sluice} command (and of {@code launcher/target/sluice.jar}). */
public final class Main {
  private Main() {}

  public static void main(String[] args) {
    NettyProcessDefaults.apply();
    PrintWriter out = new PrintWriter(System.out, true, UTF_8);
    PrintWriter err = new PrintWriter(System.err, true, UTF_8);
    int exitCode = run(out, err, args);
    out.flush();
    err.flush();
    System.exit(exitCode);
  }

  /**
   * Runs one {@code sluice} command line with the given output and error writers and returns its
   * exit code. Long-running commands ({@code dev}, {@code control-plane}, {@code data-plane})
   * return only when stopped.
   */
  public static int run(PrintWriter out, PrintWriter err, String... args) {
    CommandLine commandLine = new CommandLine(new SluiceCommand());
    commandLine.setOut(out);
    commandLine.setErr(err);
    commandLine.setCaseInsensitiveEnumValuesAllowed(true);
    commandLine.setExecutionExceptionHandler(Main::handleFailure);
    return commandLine.execute(args);
  }

  /** Turns what a command threw into a message and an exit code; a stack trace only for bugs. */
  private static int handleFailure(Exception e, CommandLine commandLine, ParseResult parsed) {
    PrintWriter err = commandLine.getErr();
    if (e instanceof SluiceException sluice) {
      ErrorReport.print(err, sluice);
    } else if (e instanceof CommandFailure
        || e instanceof IOException
        || e instanceof UncheckedIOException
        || e instanceof IllegalArgumentException
        || e instanceof IllegalStateException) {
      err.println("error: " + e.getMessage());
    } else {
      err.println("error: unexpected failure, please report it:");
      e.printStackTrace(err);
    }
    err.flush();
    return ExitCodes.FAILED;
  }
}
