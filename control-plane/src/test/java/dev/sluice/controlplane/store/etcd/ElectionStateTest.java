package dev.sluice.controlplane.store.etcd;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.controlplane.store.Candidate;
import dev.sluice.controlplane.store.Leadership;
import io.grpc.Deadline;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

/**
 * The election's decisions on a fake clock: when a replica leads, how long its tenure holds, and
 * when it must step down.
 */
class ElectionStateTest {
  private static final Candidate SELF = new Candidate("cp-a", "10.0.0.1:50052");
  private static final Candidate OTHER = new Candidate("cp-b", "10.0.0.2:50052");
  private static final long TTL_SECONDS = 10;
  private static final long LEASE = 0x51ce;

  private final FakeTicker ticker = new FakeTicker();
  private final ElectionState state = new ElectionState(SELF, ticker);

  private ElectionState.Holder ours(long term) {
    return new ElectionState.Holder(SELF, LEASE, term);
  }

  private Leadership.Leading leadAt(long term) {
    state.leaseGranted(LEASE, TTL_SECONDS, ticker.nanoTime());
    return (Leadership.Leading) state.keyRead(ours(term));
  }

  @Test
  void aReplicaWithoutALeaseNeitherLeadsNorCanClaimTheKey() {
    assertThat(state.leaseId()).isZero();
    assertThat(state.view()).isEqualTo(Leadership.vacant());
    assertThat(state.keyRead(new ElectionState.Holder(SELF, LEASE, 7)))
        .as("its own id on a lease it does not hold is a key left behind")
        .isEqualTo(Leadership.vacant());
  }

  @Test
  void creatingTheKeyOnItsLeaseMakesItLeaderForFourFifthsOfTheTtlFromWhenTheGrantWasSent() {
    long sentAt = ticker.nanoTime();
    ticker.advance(Duration.ofMillis(300)); // the grant's round trip
    state.leaseGranted(LEASE, TTL_SECONDS, sentAt);

    Leadership.Leading leading = (Leadership.Leading) state.keyRead(ours(42));

    assertThat(leading.self()).isEqualTo(SELF);
    assertThat(leading.term()).isEqualTo(42);
    assertThat(leading.until().timeRemaining(TimeUnit.MILLISECONDS))
        .as("8 s from the send, 300 ms of which have passed")
        .isEqualTo(7_700);
  }

  @Test
  void aRenewalExtendsTheTenureFromWhenItWasSentNotWhenItWasAnswered() {
    leadAt(42);
    ticker.advance(Duration.ofSeconds(3));
    long sentAt = ticker.nanoTime();
    ticker.advance(Duration.ofSeconds(2)); // a slow answer

    Leadership.Leading renewed =
        (Leadership.Leading) state.leaseRenewed(LEASE, TTL_SECONDS, sentAt);

    assertThat(renewed.term()).isEqualTo(42);
    assertThat(renewed.until().timeRemaining(TimeUnit.MILLISECONDS)).isEqualTo(6_000);
  }

  @Test
  void aLateAnswerToAnOlderRenewalNeverShortensTheTenure() {
    leadAt(42);
    long olderSend = ticker.nanoTime();
    ticker.advance(Duration.ofSeconds(2));
    state.leaseRenewed(LEASE, TTL_SECONDS, ticker.nanoTime());

    Leadership.Leading after =
        (Leadership.Leading) state.leaseRenewed(LEASE, TTL_SECONDS, olderSend);

    assertThat(after.until().timeRemaining(TimeUnit.MILLISECONDS)).isEqualTo(8_000);
  }

  @Nested
  class SteppingDown {
    @Test
    void aTenureNotRenewedInTimeEndsAndItsLeaseIsGivenUp() {
      leadAt(42);
      ticker.advance(Duration.ofMillis(7_999));
      assertThat(state.expire()).as("still within the bound").isZero();
      assertThat(state.view().leadsNow()).isTrue();

      ticker.advance(Duration.ofMillis(1));

      assertThat(state.view().leadsNow()).as("the deadline handed out has run out too").isFalse();
      assertThat(state.expire()).as("the lease to revoke").isEqualTo(LEASE);
      assertThat(state.view()).isEqualTo(Leadership.vacant());
      assertThat(state.leaseId()).isZero();
    }

    @Test
    void aTenureGivenUpIsNotClaimedBackThroughTheOldKeyWhileItLingers() {
      leadAt(42);
      ticker.advance(Duration.ofSeconds(9));
      state.expire();

      assertThat(state.keyRead(ours(42))).isEqualTo(Leadership.vacant());
      assertThat(state.leaseRenewed(LEASE, TTL_SECONDS, ticker.nanoTime()))
          .as("a renewal of the abandoned lease arriving late")
          .isEqualTo(Leadership.vacant());
    }

    @Test
    void etcdLosingTheLeaseEndsTheTenureAtOnce() {
      leadAt(42);

      assertThat(state.leaseRenewed(LEASE, 0, ticker.nanoTime())).isEqualTo(Leadership.vacant());
      assertThat(state.leaseId()).isZero();
    }

    @Test
    void winningAgainAfterSteppingDownIsANewTerm() {
      leadAt(42);
      state.leaseLost(LEASE);
      long newLease = LEASE + 1;
      state.leaseGranted(newLease, TTL_SECONDS, ticker.nanoTime());

      Leadership view = state.keyRead(new ElectionState.Holder(SELF, newLease, 57));

      assertThat(view).isInstanceOfSatisfying(
          Leadership.Leading.class, l -> assertThat(l.term()).isEqualTo(57));
    }
  }

  @Nested
  class Following {
    @Test
    void aKeyOnAnotherLeaseMeansFollowingItsHolder() {
      state.leaseGranted(LEASE, TTL_SECONDS, ticker.nanoTime());

      Leadership view = state.keyRead(new ElectionState.Holder(OTHER, 0x0bee, 7));

      assertThat(view).isEqualTo(new Leadership.Following(OTHER, 7));
    }

    @Test
    void aLeaderThatFindsTheKeyTakenByAnotherStepsDown() {
      leadAt(42);

      Leadership view = state.keyRead(new ElectionState.Holder(OTHER, 0x0bee, 50));

      assertThat(view).isEqualTo(new Leadership.Following(OTHER, 50));
    }

    @Test
    void noKeyOrAnUnreadableOneMeansNobodyToFollow() {
      assertThat(state.keyRead(null)).isEqualTo(Leadership.vacant());
      assertThat(state.keyRead(new ElectionState.Holder(null, 0x0bee, 7)))
          .isEqualTo(Leadership.vacant());
    }

    @Test
    void aWatcherFollowsButNeverLeads() {
      ElectionState watcher = new ElectionState(null, ticker);

      assertThat(watcher.keyRead(new ElectionState.Holder(OTHER, 0x0bee, 7)))
          .isEqualTo(new Leadership.Following(OTHER, 7));
      assertThat(watcher.keyRead(new ElectionState.Holder(SELF, 0, 8)))
          .isEqualTo(new Leadership.Following(SELF, 8));
    }
  }

  private static final class FakeTicker extends Deadline.Ticker {
    private long now = 1_000_000_000_000L;

    @Override
    public long nanoTime() {
      return now;
    }

    void advance(Duration d) {
      now += d.toNanos();
    }
  }
}
