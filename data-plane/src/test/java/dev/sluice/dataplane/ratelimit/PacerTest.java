package dev.sluice.dataplane.ratelimit;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class PacerTest {
  private static final long MINUTE = Duration.ofMinutes(1).toNanos();
  private static final long MILLI = Duration.ofMillis(1).toNanos();

  private final Pacer pacer = new Pacer(MINUTE);
  private long now = 1_000 * MINUTE;

  @Test
  void startsFullAndRefillsAtTheCapacityPerWindow() {
    pacer.update(now, 600, 10);
    for (int i = 0; i < 10; i++) {
      assertThat(pacer.fits(now, 1)).isTrue();
      pacer.take(now, 1);
    }
    assertThat(pacer.fits(now, 1)).isFalse();
    assertThat(pacer.nanosUntilFits(now, 1)).isEqualTo(100 * MILLI);

    now += 100 * MILLI;

    assertThat(pacer.fits(now, 1)).isTrue();
  }

  @Test
  void neverHoldsMoreThanTheBurst() {
    pacer.update(now, 600, 10);
    pacer.take(now, 10);

    now += MINUTE;

    assertThat(pacer.isFull(now)).isTrue();
    pacer.take(now, 10);
    assertThat(pacer.fits(now, 1)).isFalse();
  }

  @Test
  void aCostAboveTheBurstNeedsAFullBucketAndLeavesDebt() {
    pacer.update(now, 600, 10);
    assertThat(pacer.fits(now, 25)).isTrue();
    pacer.take(now, 25);

    // -15 after the take: 25 units of refill, 2.5 s, until the bucket is full again.
    assertThat(pacer.nanosUntilFits(now, 25)).isEqualTo(2_500 * MILLI);
    now += 2_499 * MILLI;
    assertThat(pacer.fits(now, 25)).isFalse();
    now += MILLI;
    assertThat(pacer.fits(now, 25)).isTrue();
  }

  @Test
  void givenBackUnitsCountInFullEvenAboveTheBurstButRefillStopsAtIt() {
    pacer.update(now, 600, 10);
    pacer.take(now, 8);

    pacer.giveBack(now, 5);
    assertThat(pacer.fits(now, 7)).isTrue();
    pacer.take(now, 7);
    pacer.giveBack(now, 12);
    // 0 + 12: two units above the burst, from units charged and not used.
    pacer.take(now, 10);
    assertThat(pacer.fits(now, 2)).isTrue();
    pacer.take(now, 2);
    now += MINUTE;
    pacer.take(now, 10);
    assertThat(pacer.fits(now, 1)).as("a minute of refill stopped at the burst").isFalse();
  }

  @Test
  void aSmallerShareRefillsSlowerAndCapsTheBucketAtItsBurst() {
    pacer.update(now, 600, 10);
    pacer.take(now, 10);

    pacer.update(now, 60, 1);

    assertThat(pacer.nanosUntilFits(now, 1)).isEqualTo(1_000 * MILLI);
    now += 10_000 * MILLI;
    pacer.update(now, 60, 1);
    pacer.take(now, 1);
    assertThat(pacer.fits(now, 1)).as("the bucket held at most the new burst").isFalse();
  }

  @Test
  void aBurstOfZeroTurnsPacingOff() {
    pacer.update(now, 600, 10);
    pacer.take(now, 10);

    pacer.update(now, 600, 0);

    assertThat(pacer.fits(now, 1_000)).isTrue();
    assertThat(pacer.nanosUntilFits(now, 1_000)).isZero();
    assertThat(pacer.isFull(now)).isTrue();
    pacer.update(now, 600, 10);
    assertThat(pacer.fits(now, 10)).as("turned on again, it starts full").isTrue();
  }
}
