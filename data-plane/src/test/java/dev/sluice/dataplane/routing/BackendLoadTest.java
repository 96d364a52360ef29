package dev.sluice.dataplane.routing;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.util.Durations;
import dev.sluice.config.v1.OutlierDetection;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class BackendLoadTest {
  private static final long SECOND = TimeUnit.SECONDS.toNanos(1);
  private final OutlierDetection settings =
      OutlierDetection.newBuilder()
          .setConsecutiveFailures(3)
          .setBaseEjectionTime(Durations.fromSeconds(10))
          .setMaxEjectionTime(Durations.fromSeconds(25))
          .build();
  private final BackendLoad load = new BackendLoad();

  @Test
  void ejectsAfterTheConfiguredNumberOfConsecutiveFailures() {
    assertThat(load.recordFailure(settings, 0)).isFalse();
    assertThat(load.recordFailure(settings, 0)).isFalse();
    assertThat(load.recordFailure(settings, 0)).isTrue();

    assertThat(load.isEjected(9 * SECOND)).isTrue();
    assertThat(load.isEjected(10 * SECOND)).isFalse();
  }

  @Test
  void aSuccessEndsTheFailureStreak() {
    load.recordFailure(settings, 0);
    load.recordFailure(settings, 0);
    load.recordSuccess(settings, 0);

    assertThat(load.recordFailure(settings, 0)).isFalse();
    assertThat(load.isEjected(1)).isFalse();
  }

  @Test
  void doublesTheEjectionTimeForConsecutiveEjectionsUpToTheMaximum() {
    eject(0);
    eject(11 * SECOND); // second ejection: 20 s
    assertThat(load.isEjected(30 * SECOND)).isTrue();
    assertThat(load.isEjected(31 * SECOND)).isFalse();

    eject(32 * SECOND); // third: 40 s, capped at 25 s
    assertThat(load.isEjected(56 * SECOND)).isTrue();
    assertThat(load.isEjected(57 * SECOND)).isFalse();
  }

  @Test
  void forgetsOldEjectionsAfterStayingHealthyForLong() {
    eject(0);
    load.recordSuccess(settings, 100 * SECOND);

    eject(101 * SECOND);

    assertThat(load.isEjected(110 * SECOND)).isTrue();
    assertThat(load.isEjected(111 * SECOND)).isFalse();
  }

  @Test
  void neverEjectsWhenOutlierDetectionIsDisabled() {
    OutlierDetection off = settings.toBuilder().setDisabled(true).build();
    for (int i = 0; i < 10; i++) {
      assertThat(load.recordFailure(off, 0)).isFalse();
    }
  }

  @Test
  void countsRequestsInFlightAgainstTheLimit() {
    assertThat(load.tryAcquire(2)).isTrue();
    assertThat(load.tryAcquire(2)).isTrue();
    assertThat(load.tryAcquire(2)).isFalse();
    load.release();
    assertThat(load.tryAcquire(2)).isTrue();
    assertThat(load.inFlight()).isEqualTo(2);
  }

  private void eject(long now) {
    for (int i = 0; i < 3; i++) {
      load.recordFailure(settings, now);
    }
    assertThat(load.isEjected(now)).isTrue();
  }
}
