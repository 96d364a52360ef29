package dev.sluice.bench.controlplane;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class ConvergenceTest {
  @Test
  void acksBeforeTheTargetIsKnownCountOnce() throws InterruptedException {
    Convergence c = new Convergence(3);
    c.reset();
    c.acked(0, 5, 100); // pushed and ACKed before ApplyChanges returned
    c.target(5);
    c.acked(1, 5, 200);
    c.acked(0, 6, 250); // a later, newer ACK must not count stream 0 twice
    assertThat(c.lagging()).isEqualTo(1);
    c.acked(2, 7, 300);
    assertThat(c.await(0)).isEqualTo(300);
  }

  @Test
  void oldVersionsDoNotCount() throws InterruptedException {
    Convergence c = new Convergence(2);
    c.reset();
    c.target(9);
    c.acked(0, 8, 10);
    c.acked(1, 9, 20);
    assertThat(c.await(0)).isEqualTo(-1);
    assertThat(c.lagging()).isEqualTo(1);
  }
}
