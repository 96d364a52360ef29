package dev.sluice.controlplane.quota;

import java.util.Arrays;
import java.util.Comparator;
import java.util.stream.IntStream;

/**
 * Max-min fair division of a capacity over demands ("water-filling"): raise a common level until
 * the capacity is spent; each demand gets the smaller of itself and the level. No one can get
 * more without taking from someone who got less. What is left when every demand is met is split
 * equally among the positive demands, as headroom for growth between reports.
 */
final class WaterFilling {
  private WaterFilling() {}

  /** The shares of {@code wants} (all >= 0) in {@code capacity} (>= 0), in the same order. */
  static double[] divide(double[] wants, double capacity) {
    int n = wants.length;
    double[] shares = new double[n];
    Integer[] order = IntStream.range(0, n).boxed().toArray(Integer[]::new);
    Arrays.sort(order, Comparator.comparingDouble(i -> wants[i]));
    double remaining = capacity;
    int positive = 0;
    for (int k = 0; k < n; k++) {
      int i = order[k];
      double level = remaining / (n - k);
      if (wants[i] > level) {
        // Everyone from here on wants more than an equal split of what is left: they all get it.
        for (int j = k; j < n; j++) {
          shares[order[j]] = level;
        }
        return shares;
      }
      shares[i] = wants[i];
      remaining -= wants[i];
      if (wants[i] > 0) {
        positive++;
      }
    }
    if (positive > 0 && remaining > 0) {
      double headroom = remaining / positive;
      for (int i = 0; i < n; i++) {
        if (wants[i] > 0) {
          shares[i] += headroom;
        }
      }
    }
    return shares;
  }
}
