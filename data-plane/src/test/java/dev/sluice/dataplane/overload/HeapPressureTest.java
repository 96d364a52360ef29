package dev.sluice.dataplane.overload;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class HeapPressureTest {
  private static final long MAX = 1_000;

  @Test
  void pressureStartsAtTheThresholdAndEndsFivePointsBelowIt() {
    HeapPressure pressure = new HeapPressure(0.9);

    pressure.afterCollection(899, MAX);
    assertThat(pressure.getAsBoolean()).isFalse();
    pressure.afterCollection(900, MAX);
    assertThat(pressure.getAsBoolean()).isTrue();
    pressure.afterCollection(851, MAX);
    assertThat(pressure.getAsBoolean()).as("within the hysteresis: still shedding").isTrue();
    pressure.afterCollection(849, MAX);
    assertThat(pressure.getAsBoolean()).isFalse();
  }

  @Test
  void aHeapWithoutAKnownSizeSaysNothing() {
    HeapPressure pressure = new HeapPressure(0.5);
    pressure.afterCollection(10, 0);
    assertThat(pressure.getAsBoolean()).isFalse();
  }

  @Test
  void followsTheGarbageCollectionsOfThisJvm() throws Exception {
    // Any live heap at all is above a millionth of the maximum.
    try (HeapPressure pressure = HeapPressure.watch(0.000_001)) {
      long deadline = System.nanoTime() + 10_000_000_000L;
      while (!pressure.getAsBoolean() && System.nanoTime() < deadline) {
        System.gc();
        Thread.sleep(50);
      }
      assertThat(pressure.getAsBoolean()).as("a collection was reported and evaluated").isTrue();
    }
  }

  @Test
  void refusesAThresholdOutsideTheHeap() {
    assertThatThrownBy(() -> new HeapPressure(0)).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> new HeapPressure(1.5)).isInstanceOf(IllegalArgumentException.class);
  }
}
