package dev.sluice.launcher;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class DataPlaneCommandTest {
  @ParameterizedTest
  @CsvSource({
    "--jwt-failure-burst, -1, '--jwt-failure-burst: -1 (expected: >= 0)'",
    "--jwt-failure-rate, 0, '--jwt-failure-rate: 0.0 (expected: > 0)'",
    "--max-connection-idle, 0s, '--max-connection-idle: PT0S (expected: > 0)'",
    "--shed-at-heap, 1.5, '--shed-at-heap: 1.5 (expected: 0, or above 0.05 and at most 1)'",
    "--max-calls-in-flight, -1, '--max-calls-in-flight: -1 (expected: >= 0, 0 for no bound)'",
    "--prompt-tokens, words, '--prompt-tokens: words (expected: approximate, cl100k or o200k)'",
  })
  void aBadLimitIsRefusedWithItsFlagBeforeAnythingStarts(
      String flag, String value, String message) {
    CommandRun run =
        CommandRun.of(
            "data-plane",
            "--listen", "127.0.0.1:0",
            "--control-plane", "127.0.0.1:1",
            flag, value);

    assertThat(run.exitCode()).isEqualTo(ExitCodes.FAILED);
    assertThat(run.err()).contains(message);
  }
}
