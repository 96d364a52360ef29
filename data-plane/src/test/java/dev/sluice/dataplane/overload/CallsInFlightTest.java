package dev.sluice.dataplane.overload;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class CallsInFlightTest {
  @Test
  void admitsUpToItsCeilingAndAgainOnceAPlaceIsGivenBack() {
    CallsInFlight calls = CallsInFlight.atMost(2);

    assertThat(calls.tryAcquire()).isTrue();
    assertThat(calls.tryAcquire()).isTrue();
    assertThat(calls.tryAcquire()).isFalse();
    assertThat(calls.current()).isEqualTo(2);

    calls.release();

    assertThat(calls.tryAcquire()).isTrue();
    assertThat(calls.tryAcquire()).isFalse();
  }

  @Test
  void manyThreadsNeverHoldMoreThanTheCeiling() throws Exception {
    CallsInFlight calls = CallsInFlight.atMost(3);
    AtomicInteger held = new AtomicInteger();
    AtomicInteger most = new AtomicInteger();
    CountDownLatch go = new CountDownLatch(1);
    Thread[] threads = new Thread[8];
    for (int t = 0; t < threads.length; t++) {
      threads[t] =
          new Thread(
              () -> {
                try {
                  go.await();
                } catch (InterruptedException e) {
                  return;
                }
                for (int i = 0; i < 20_000; i++) {
                  if (calls.tryAcquire()) {
                    most.accumulateAndGet(held.incrementAndGet(), Math::max);
                    held.decrementAndGet();
                    calls.release();
                  }
                }
              });
      threads[t].start();
    }
    go.countDown();
    for (Thread t : threads) {
      t.join();
    }

    assertThat(most.get()).isBetween(1, 3);
    assertThat(calls.current()).isZero();
  }

  @Test
  void unlimitedHasNoCeiling() {
    CallsInFlight calls = CallsInFlight.unlimited();

    assertThat(calls.bounded()).isFalse();
    assertThat(CallsInFlight.atMost(5).bounded()).isTrue();
  }

  @Test
  void aCeilingBelowOneIsRefused() {
    assertThatThrownBy(() -> CallsInFlight.atMost(0))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("max: 0");
  }
}
