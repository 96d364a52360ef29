package dev.sluice.controlplane.quota;

import java.util.Arrays;
import java.util.Comparator;
import java.util.stream.IntStream;

/**
 * Max-min fair division of a capacity over demands ("water-filling"): raise a common level until
 * the capacity is spent; each demand gets the smaller of itself and the level. No one can get
 * more without taking from someone who got less.
 *
 * <p>What is left when every demand is met is headroom for growth between reports. It is cut into
 * one part per node that may grow plus one more, and each node that may grow gets a part; the last
 * part is kept back as a pool, so that a node turning up, or one whose demand jumps, finds capacity
 * free at its first report instead of waiting for the others to let go of theirs.
 */
final class WaterFilling {
  private WaterFilling() {}

  /**
   * The shares of {@code wants} (all >= 0) in {@code capacity} (>= 0), in the same order; the nodes
   * with positive demand share the headroom.
   */
  static double[] divide(double[] wants, double capacity) {
    boolean[] grows = new boolean[wants.length];
    for (int i = 0; i < wants.length; i++) {
      grows[i] = wants[i] > 0;
    }
    return divide(wants, grows, capacity);
  }

  /**
   * The shares of {@code desires} (all >= 0) in {@code capacity} (>= 0), in the same order; only
   * the nodes marked in {@code grows} share the headroom.
   */
  static double[] divide(double[] desires, boolean[] grows, double capacity) {
    int n = desires.length;
    double[] shares = new double[n];
    Integer[] order = IntStream.range(0, n).boxed().toArray(Integer[]::new);
    Arrays.sort(order, Comparator.comparingDouble(i -> desires[i]));
    double remaining = capacity;
    for (int k = 0; k < n; k++) {
      int i = order[k];
      double level = remaining / (n - k);
      if (desires[i] > level) {
        // Everyone from here on wants more than an equal split of what is left: they all get it.
        for (int j = k; j < n; j++) {
          shares[order[j]] = level;
        }
        return shares;
      }
      shares[i] = desires[i];
      remaining -= desires[i];
    }
    int growing = 0;
    for (boolean g : grows) {
      growing += g ? 1 : 0;
    }
    if (growing > 0 && remaining > 0) {
      double headroom = remaining / (growing + 1);
      for (int i = 0; i < n; i++) {
        if (grows[i]) {
          shares[i] += headroom;
        }
      }
    }
    return shares;
  }
}
