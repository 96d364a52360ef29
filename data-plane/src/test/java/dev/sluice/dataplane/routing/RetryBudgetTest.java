package dev.sluice.dataplane.routing;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class RetryBudgetTest {
  private static final long SECOND = 1_000_000_000L;
  private final RetryBudget budget = new RetryBudget();

  @Test
  void allowsRetriesUpToThePercentageOfRequestsInFlight() {
    for (int i = 0; i < 10; i++) {
      budget.requestStarted();
    }

    assertThat(budget.tryStartRetry(20, 0, 0)).isTrue();
    assertThat(budget.tryStartRetry(20, 0, 0)).isTrue();
    assertThat(budget.tryStartRetry(20, 0, 0)).isFalse();
    budget.retryFinished();
    assertThat(budget.tryStartRetry(20, 0, 0)).isTrue();
  }

  @Test
  void alwaysAllowsTheMinimumRetriesPerSecond() {
    budget.requestStarted();

    assertThat(budget.tryStartRetry(1, 2, 0)).isTrue();
    assertThat(budget.tryStartRetry(1, 2, SECOND / 2)).isTrue();
    assertThat(budget.tryStartRetry(1, 2, SECOND - 1)).isFalse();
    assertThat(budget.tryStartRetry(1, 2, SECOND)).isTrue();
  }
}
