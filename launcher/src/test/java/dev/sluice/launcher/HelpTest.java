package dev.sluice.launcher;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class HelpTest {
  @ParameterizedTest
  @ValueSource(
      strings = {"dev", "control-plane", "data-plane", "apply", "get", "history", "chat", "models"})
  void everyCommandExplainsItselfWithHelp(String command) {
    CommandRun run = CommandRun.of(command, "--help");

    assertThat(run.exitCode()).isZero();
    assertThat(run.out()).startsWith("Usage: sluice " + command).contains("-h, --help");
  }

  @Test
  void theTopLevelHelpListsEveryCommand() {
    CommandRun run = CommandRun.of("--help");

    assertThat(run.exitCode()).isZero();
    assertThat(run.out())
        .contains("dev", "control-plane", "data-plane", "apply", "get", "history", "chat", "models");
  }

  @Test
  void anUnknownCommandIsAUsageError() {
    CommandRun run = CommandRun.of("bogus");

    assertThat(run.exitCode()).isEqualTo(2);
    assertThat(run.err()).contains("Unmatched argument at index 0: 'bogus'");
  }
}
