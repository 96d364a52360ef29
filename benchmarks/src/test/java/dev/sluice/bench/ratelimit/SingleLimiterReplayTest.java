package dev.sluice.bench.ratelimit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.sluice.bench.ratelimit.OpenLoopDriver.Arrivals;
import java.time.Duration;
import org.junit.jupiter.api.Test;

class SingleLimiterReplayTest {
  @Test
  void plannedSendsAreEveryNodesScheduleMergedInOrder() {
    long[] sends =
        OpenLoopDriver.plannedSends(
            new double[] {10, 0, 5}, Duration.ofSeconds(10), Arrivals.UNIFORM, 5);

    assertThat(sends).hasSize(150).isSorted();
    assertThat(sends[sends.length - 1]).isLessThan(Duration.ofSeconds(10).toNanos());
  }

  @Test
  void oneLimiterOfferedTwiceItsLimitEvenlyAdmitsTheLimitInEveryWindow() {
    long[] sends =
        OpenLoopDriver.plannedSends(new double[] {20}, Duration.ofSeconds(130), Arrivals.UNIFORM, 5);

    SingleLimiterReplay.Yardstick alone = SingleLimiterReplay.replay(sends, 600, 60_000, 0, 38, 130, 10);

    assertThat(alone.requests().sliding().count()).isEqualTo(61);
    assertThat(alone.requests().sliding().min()).isGreaterThanOrEqualTo(0.99);
    assertThat(alone.requests().sliding().max()).isLessThanOrEqualTo(1.01);
    assertThat(alone.tokens().sliding().max()).isCloseTo(0.38, within(0.01));
  }
}
