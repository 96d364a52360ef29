package dev.sluice.launcher;

import picocli.CommandLine.Option;

/** {@code -h/--help} for the subcommands (the version option stays on {@code sluice} itself). */
final class HelpOption {
  @Option(
      names = {"-h", "--help"},
      usageHelp = true,
      description = "Show this help message and exit.")
  boolean help;
}
