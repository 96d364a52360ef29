package dev.sluice.dataplane.ratelimit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.time.Duration;
import java.util.Random;
import org.junit.jupiter.api.Test;

class SlidingWindowTest {
  private static final long MINUTE = Duration.ofMinutes(1).toNanos();
  private static final long SLOT = MINUTE / SlidingWindow.SLOTS;

  /** Starts at a slot boundary, so that tests can reason in whole slots. */
  private final FakeTicker ticker = new FakeTicker(1_000 * MINUTE);

  private final SlidingWindow window = new SlidingWindow(MINUTE, ticker.getAsLong());

  @Test
  void admitsUpToTheCapacityAndNoMore() {
    for (int i = 0; i < 10; i++) {
      assertThat(window.tryAcquire(now(), 1, 10)).isNotEqualTo(Long.MIN_VALUE);
    }

    assertThat(window.tryAcquire(now(), 1, 10)).isEqualTo(Long.MIN_VALUE);
    assertThat(window.usage(now())).isEqualTo(10);
  }

  @Test
  void refusedRequestsAreNotCharged() {
    window.tryAcquire(now(), 8, 10);

    assertThat(window.tryAcquire(now(), 3, 10)).isEqualTo(Long.MIN_VALUE);
    assertThat(window.usage(now())).isEqualTo(8);
    assertThat(window.tryAcquire(now(), 2, 10)).isNotEqualTo(Long.MIN_VALUE);
  }

  @Test
  void unitsStayCountedForOneWindowThenAgeOutGradually() {
    window.charge(now(), 20);

    ticker.advanceNanos(MINUTE - 1);
    assertThat(window.usage(now())).isEqualTo(20);

    // One slot later the charged slot is the oldest, counted in proportion to its part still
    // inside the window.
    ticker.advanceNanos(1 + SLOT / 4);
    assertThat(window.usage(now())).isCloseTo(15, within(1e-6));
    ticker.advanceNanos(SLOT / 2);
    assertThat(window.usage(now())).isCloseTo(5, within(1e-6));

    ticker.advanceNanos(SLOT / 4);
    assertThat(window.usage(now())).isZero();
    assertThat(window.isEmpty(now())).isTrue();
  }

  @Test
  void noRunOfSlotsAsLongAsTheWindowEverHoldsMoreThanTheCapacity() {
    Random random = new Random(42);
    long[] admittedPerSlot = new long[40 * SlidingWindow.SLOTS];
    long start = now();
    for (int step = 0; step < 20_000; step++) {
      ticker.advanceNanos(random.nextInt((int) (SLOT / 8)));
      long cost = 1 + random.nextInt(5);
      int slot = (int) ((now() - start) / SLOT);
      if (slot >= admittedPerSlot.length) {
        break;
      }
      if (window.tryAcquire(now(), cost, 100) != Long.MIN_VALUE) {
        admittedPerSlot[slot] += cost;
      }
    }

    long admitted = 0;
    for (int slot = 0; slot < admittedPerSlot.length; slot++) {
      admitted += admittedPerSlot[slot];
      if (slot >= SlidingWindow.SLOTS) {
        admitted -= admittedPerSlot[slot - SlidingWindow.SLOTS];
      }
      assertThat(admitted).as("units in the window ending with slot %s", slot).isLessThanOrEqualTo(100);
    }
  }

  @Test
  void underSustainedOverloadItAdmitsTheCapacityPerWindow() {
    long start = now();
    long admitted = 0;
    // One request every 10 ms for ten minutes: 6,000 a minute against a capacity of 600.
    for (long t = 0; t < 10 * MINUTE; t += 10_000_000L) {
      ticker.set(start + t);
      if (window.tryAcquire(now(), 1, 600) != Long.MIN_VALUE && t >= MINUTE) {
        admitted++;
      }
    }

    assertThat(admitted).isBetween(9 * 600L - 10, 9 * 600L);
  }

  @Test
  void aRefundGoesBackToTheSlotTheReservationWasChargedTo() {
    long slot = window.charge(now(), 100);
    ticker.advanceNanos(3 * SLOT);
    window.charge(now(), 10);

    window.refund(now(), slot, 60);

    assertThat(window.usage(now())).isEqualTo(50);
    // The refunded units leave with their slot, not with the later one.
    ticker.advanceNanos(MINUTE - 3 * SLOT + SLOT);
    assertThat(window.usage(now())).isEqualTo(10);
  }

  @Test
  void aRefundForASlotThatNoLongerCountsGivesNothingBack() {
    long slot = window.charge(now(), 100);
    ticker.advanceNanos(MINUTE + SLOT);
    window.charge(now(), 7);

    window.refund(now(), slot, 100);

    assertThat(window.usage(now())).isEqualTo(7);
  }

  @Test
  void aRefundNeverTakesMoreThanTheSlotHolds() {
    long slot = window.charge(now(), 5);

    window.refund(now(), slot, 50);

    assertThat(window.usage(now())).isZero();
    assertThat(window.tryAcquire(now(), 10, 10)).isNotEqualTo(Long.MIN_VALUE);
  }

  @Test
  void anExcessBeyondTheCapacityIsDebtThatLaterRequestsWaitOut() {
    window.charge(now(), 250);

    assertThat(window.tryAcquire(now(), 1, 100)).isEqualTo(Long.MIN_VALUE);
    long wait = window.nanosUntilUsageAtMost(now(), 99);

    long expected = MINUTE + SLOT - 99 * SLOT / 250;
    assertThat(wait).isBetween(expected, expected + 1);
    ticker.advanceNanos(wait);
    assertThat(window.tryAcquire(now(), 1, 100)).isNotEqualTo(Long.MIN_VALUE);
  }

  @Test
  void theWaitItPredictsIsExactlyWhenTheRequestFits() {
    Random random = new Random(7);
    for (int i = 0; i < 200; i++) {
      ticker.advanceNanos(random.nextLong(SLOT));
      window.tryAcquire(now(), 1 + random.nextInt(20), 300);
    }
    long cost = 120;
    long wait = window.nanosUntilUsageAtMost(now(), 300 - cost);
    assertThat(wait).isPositive();

    ticker.advanceNanos(wait - 1_000_000);
    assertThat(window.usage(now()) + cost).isGreaterThan(300);
    ticker.advanceNanos(1_000_000);
    assertThat(window.tryAcquire(now(), cost, 300)).isNotEqualTo(Long.MIN_VALUE);
  }

  @Test
  void aNewCapacityAppliesAtOnceWithoutResettingTheCount() {
    window.charge(now(), 80);

    assertThat(window.tryAcquire(now(), 1, 50)).isEqualTo(Long.MIN_VALUE);
    assertThat(window.tryAcquire(now(), 20, 100)).isNotEqualTo(Long.MIN_VALUE);
    assertThat(window.usage(now())).isEqualTo(100);
  }

  @Test
  void aLongIdleSpellForgetsEverything() {
    window.charge(now(), 80);

    ticker.advanceNanos(10 * MINUTE);

    assertThat(window.usage(now())).isZero();
    assertThat(window.tryAcquire(now(), 100, 100)).isNotEqualTo(Long.MIN_VALUE);
  }

  @Test
  void worksAcrossNegativeTickerValues() {
    FakeTicker negative = new FakeTicker(-3 * SLOT - 17);
    SlidingWindow w = new SlidingWindow(MINUTE, negative.getAsLong());
    long slot = w.charge(negative.getAsLong(), 5);
    negative.advanceNanos(4 * SLOT);

    w.refund(negative.getAsLong(), slot, 2);

    assertThat(w.usage(negative.getAsLong())).isEqualTo(3);
  }

  private long now() {
    return ticker.getAsLong();
  }
}
