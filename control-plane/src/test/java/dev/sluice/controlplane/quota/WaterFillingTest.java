package dev.sluice.controlplane.quota;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

class WaterFillingTest {
  @Test
  void smallDemandsAreMetAndTheRestSplitTheRemainderEqually() {
    assertThat(WaterFilling.divide(new double[] {960, 120, 120}, 600))
        .containsExactly(360, 120, 120);
    assertThat(WaterFilling.divide(new double[] {500, 50, 400}, 600))
        .containsExactly(275, 50, 275);
  }

  @Test
  void equalDemandsBeyondTheCapacitySplitItEqually() {
    assertThat(WaterFilling.divide(new double[] {1000, 1000, 1000}, 600))
        .containsExactly(200, 200, 200);
  }

  @Test
  void capacityNobodyWantsIsSplitAmongTheNodesWithDemandAndOneMorePartIsKeptBack() {
    assertThat(WaterFilling.divide(new double[] {100, 0, 200}, 600))
        .containsExactly(200, 0, 300);
  }

  @Test
  void onlyNodesThatMayGrowShareTheHeadroom() {
    assertThat(
            WaterFilling.divide(new double[] {100, 50, 200}, new boolean[] {true, false, true}, 600))
        .containsExactly(100 + 250 / 3.0, 50, 200 + 250 / 3.0);
  }

  @Test
  void noDemandGetsNothing() {
    assertThat(WaterFilling.divide(new double[] {0, 0}, 600)).containsExactly(0, 0);
    assertThat(WaterFilling.divide(new double[0], 600)).isEmpty();
  }

  @Test
  void neverHandsOutMoreThanTheCapacityAndIsMaxMinFair() {
    Random random = new Random(3);
    for (int round = 0; round < 1_000; round++) {
      double[] wants = new double[1 + random.nextInt(8)];
      for (int i = 0; i < wants.length; i++) {
        wants[i] = random.nextInt(4) == 0 ? 0 : random.nextDouble() * 500;
      }
      double capacity = random.nextDouble() * 1_000;

      double[] shares = WaterFilling.divide(wants, capacity);

      double total = Arrays.stream(shares).sum();
      assertThat(total).isLessThanOrEqualTo(capacity + 1e-9);
      double wanted = Arrays.stream(wants).sum();
      if (wanted >= capacity) {
        assertThat(total).isCloseTo(capacity, within(1e-6));
        double level = Arrays.stream(shares).max().orElse(0);
        for (int i = 0; i < wants.length; i++) {
          // Either fully served, or at the common level that nobody exceeds.
          assertThat(shares[i] >= wants[i] - 1e-9 || Math.abs(shares[i] - level) < 1e-6)
              .as("share %s of %s at level %s", shares[i], wants[i], level)
              .isTrue();
        }
      } else {
        long growing = Arrays.stream(wants).filter(w -> w > 0).count();
        for (int i = 0; i < wants.length; i++) {
          assertThat(shares[i]).isGreaterThanOrEqualTo(wants[i] - 1e-9);
        }
        assertThat(total)
            .as("one part of what nobody wants stays in the pool")
            .isCloseTo(capacity - (capacity - wanted) / (growing + 1), within(1e-6));
      }
    }
  }
}
