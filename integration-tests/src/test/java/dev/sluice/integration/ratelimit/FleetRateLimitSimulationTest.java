package dev.sluice.integration.ratelimit;

import static dev.sluice.integration.ratelimit.Fleet.REQUESTS_PER_MINUTE;
import static dev.sluice.integration.ratelimit.Fleet.TOKENS_PER_MINUTE;
import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.integration.ratelimit.Fleet.SimNode;
import dev.sluice.integration.ratelimit.Fleet.Workload;
import java.time.Duration;
import java.util.Arrays;
import java.util.DoubleSummaryStatistics;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Three data planes share a 600 requests/minute and a 60,000 tokens/minute limit through the
 * control plane's allocator, on a simulated clock: real limiters, real lease clients, the real
 * allocator, the real protocol messages; only the transport and time are simulated.
 */
class FleetRateLimitSimulationTest {
  private static final int MINUTES = 5;

  @Test
  void underSkewedOverloadTheFleetAdmitsTheRequestLimitEveryMinute() {
    Fleet fleet = new Fleet(Workload.SMALL);
    // 1,200 requests a minute, twice the limit, 80 % of them on one node.
    fleet.addNode("dp-a", 16);
    fleet.addNode("dp-b", 2);
    fleet.addNode("dp-c", 2);

    fleet.runUntil(Duration.ofMinutes(MINUTES));

    reportAll("requests", fleet, MINUTES);
    for (int minute = 0; minute < MINUTES; minute++) {
      assertThat((double) fleet.admittedRequests(minute) / REQUESTS_PER_MINUTE)
          .as("admitted requests / limit in minute %s", minute)
          .isBetween(0.95, 1.05);
      assertThat(fleet.admittedTokens(minute)).isLessThanOrEqualTo(TOKENS_PER_MINUTE);
    }
  }

  @Test
  void underSkewedOverloadTheFleetAdmitsTheTokenLimitEveryMinute() {
    Fleet fleet = new Fleet(Workload.LARGE);
    // About 300,000 tokens a minute, five times the limit, 80 % of them on one node.
    fleet.addNode("dp-a", 16);
    fleet.addNode("dp-b", 2);
    fleet.addNode("dp-c", 2);

    fleet.runUntil(Duration.ofMinutes(MINUTES));

    reportAll("tokens", fleet, MINUTES);
    for (int minute = 0; minute < MINUTES; minute++) {
      assertThat((double) fleet.admittedTokens(minute) / TOKENS_PER_MINUTE)
          .as("admitted tokens / limit in minute %s", minute)
          .isBetween(0.95, 1.05);
      assertThat(fleet.admittedRequests(minute)).isLessThanOrEqualTo(REQUESTS_PER_MINUTE);
    }
  }

  static Stream<Arguments> skewedOverloads() {
    return Stream.of(
        Arguments.of("requests", Workload.SMALL, REQUESTS_PER_MINUTE, TOKENS_PER_MINUTE, 0.98),
        // Fewer, larger calls: each node also leaves up to a call's worth of its share unused.
        Arguments.of("tokens", Workload.LARGE, TOKENS_PER_MINUTE, REQUESTS_PER_MINUTE, 0.975));
  }

  /**
   * The benchmark's shape (docs/benchmarks.md, issue 5): the allocator has learned for its 10 s
   * before traffic starts, 1,200 requests a minute arrive split 80/10/10, and every 60 s window
   * starting on a whole second after a 10 s warm-up is measured for 300 s. A sliding window that
   * holds the whole limit alone, offered the same requests, dips too (admissions made in a burst
   * come back as a burst a window later, and Poisson arrivals cannot always fill it): its lowest
   * window is the yardstick for the fleet's, not a fixed 0.95.
   */
  @ParameterizedTest(name = "{0} limit binds")
  @MethodSource("skewedOverloads")
  void underSkewedPoissonOverloadEverySlidingMinuteStaysWithinTheLimitAndNearlyAsFullAsOneLimiterWouldKeepIt(
      String what, Workload workload, long limit, long otherLimit, double ofOneLimiter) {
    SkewedRun run = SkewedRun.of(what, workload, 0, limit, otherLimit);
    DoubleSummaryStatistics windows = run.windows();
    DoubleSummaryStatistics alone = run.alone();
    DoubleSummaryStatistics other = run.other();
    boolean tokens = what.equals("tokens");
    SimNode quietB = run.quietB();
    SimNode quietC = run.quietC();

    assertThat(windows.getCount()).isEqualTo(241);
    assertThat(windows.getMax()).as("the most admitted in any window").isLessThanOrEqualTo(1.05);
    assertThat(other.getMax()).as("the other limit, which does not bind").isLessThan(1);
    assertThat(windows.getAverage() / alone.getAverage())
        .as("what the fleet admits on average, against one limiter alone")
        .isGreaterThanOrEqualTo(ofOneLimiter);
    assertThat(windows.getMin())
        .as("the fleet's emptiest window, against that of one limiter alone")
        .isGreaterThanOrEqualTo(alone.getMin() - 0.02);
    if (!tokens) {
      // The quiet nodes want 120 a minute, well under their fair share: only a burst beyond
      // three seconds of their demand within the two seconds that capacity takes to move may be
      // refused.
      for (SimNode quiet : List.of(quietB, quietC)) {
        assertThat((double) quiet.refusedBetween(20, 320) / quiet.arrivedBetween(20, 320))
            .as("share of %s's requests refused", quiet.id)
            .isLessThan(0.05);
      }
    }
  }

  static Stream<Arguments> pacedSkewedOverloads() {
    return Stream.of(
        Arguments.of("requests", Workload.SMALL, REQUESTS_PER_MINUTE, TOKENS_PER_MINUTE),
        Arguments.of("tokens", Workload.LARGE, TOKENS_PER_MINUTE, REQUESTS_PER_MINUTE));
  }

  /**
   * The same shape with limits that pace ({@code RateLimit.burst} at 2 % of the amount): the
   * fleet then holds the floor in every window, not only on average. Each node admits at
   * the rate of its share from a bucket of the whole burst, so admissions no longer come in the
   * bursts a sliding window repeats one window later; and the allocator divides paced limits by
   * demand rates. The bound above is the limit plus one burst per node (here 1.06), of which a
   * fleet under steady overload spends little.
   */
  @ParameterizedTest(name = "{0} limit binds")
  @MethodSource("pacedSkewedOverloads")
  void withPacingUnderSkewedPoissonOverloadEverySlidingMinuteAdmitsBetween95And105PercentOfTheLimit(
      String what, Workload workload, long limit, long otherLimit) {
    SkewedRun run = SkewedRun.of(what, workload, 0.02, limit, otherLimit);
    DoubleSummaryStatistics windows = run.windows();
    DoubleSummaryStatistics alone = run.alone();
    DoubleSummaryStatistics other = run.other();

    assertThat(windows.getCount()).isEqualTo(241);
    assertThat(windows.getMax()).as("the most admitted in any window").isLessThanOrEqualTo(1.05);
    assertThat(windows.getMin()).as("the least admitted in any window").isGreaterThanOrEqualTo(0.95);
    assertThat(alone.getMin()).as("one paced limiter's emptiest window").isGreaterThanOrEqualTo(0.97);
    assertThat(other.getMax()).as("the other limit, which does not bind").isLessThan(1);
  }

  /**
   * The benchmark's shape on a simulated fleet: the allocator learns for 10 s, then 1,200 Poisson
   * requests a minute arrive split 80/10/10 until 320 s; every 60 s window from 20 s on is
   * measured, for the fleet and for one limiter offered the same requests. Prints the figures.
   */
  private record SkewedRun(
      DoubleSummaryStatistics windows,
      DoubleSummaryStatistics alone,
      DoubleSummaryStatistics other,
      SimNode quietB,
      SimNode quietC) {
    static SkewedRun of(
        String what, Workload workload, double burstFraction, long limit, long otherLimit) {
      Fleet fleet = new Fleet(workload, burstFraction);
      fleet.runUntil(Duration.ofSeconds(10));
      fleet.addNode("dp-a", 16);
      SimNode quietB = fleet.addNode("dp-b", 2);
      SimNode quietC = fleet.addNode("dp-c", 2);
      fleet.runUntil(Duration.ofSeconds(320));

      boolean tokens = what.equals("tokens");
      SkewedRun run =
          new SkewedRun(
              stats(fleet.slidingWindows(20, 320, tokens, limit)),
              stats(fleet.centralSlidingWindows(20, 320, tokens, limit)),
              stats(fleet.slidingWindows(20, 320, !tokens, otherLimit)),
              quietB,
              quietC);
      System.out.printf(
          "%s%s: admitted / limit over %d sliding windows: fleet min %.3f max %.3f mean %.3f;"
              + " one limiter alone min %.3f max %.3f mean %.3f; quiet nodes refused %d and %d%n",
          burstFraction > 0 ? "paced " : "",
          what,
          run.windows.getCount(),
          run.windows.getMin(),
          run.windows.getMax(),
          run.windows.getAverage(),
          run.alone.getMin(),
          run.alone.getMax(),
          run.alone.getAverage(),
          quietB.refusedBetween(20, 320),
          quietC.refusedBetween(20, 320));
      return run;
    }
  }

  private static DoubleSummaryStatistics stats(double[] values) {
    return Arrays.stream(values).summaryStatistics();
  }

  @Test
  void theBusyNodeGetsTheCapacityTheQuietOnesDoNotUse() {
    Fleet fleet = new Fleet(Workload.SMALL);
    SimNode busy = fleet.addNode("dp-a", 16);
    SimNode quiet = fleet.addNode("dp-b", 2);
    fleet.addNode("dp-c", 2);

    fleet.runUntil(Duration.ofMinutes(3));
    reportAll("requests", fleet, 3);

    // Max-min fair: the quiet nodes get their ~120 a minute, the busy one the remaining ~360.
    assertThat(busy.requests(2)).isBetween(330L, 400L);
    assertThat(quiet.requests(2)).isBetween(90L, 150L);
  }

  @Test
  void aNodeCutOffFromTheControlPlaneKeepsItsShareUntilTheLeaseEndsThenFallsBackToItsStaticShare() {
    Fleet fleet = new Fleet(Workload.SMALL);
    SimNode busy = fleet.addNode("dp-a", 16);
    fleet.addNode("dp-b", 2);
    fleet.addNode("dp-c", 2);
    fleet.runUntil(Duration.ofMinutes(2));

    fleet.controlPlaneReachable = false;
    fleet.runUntil(Duration.ofMinutes(4));
    fleet.controlPlaneReachable = true;
    fleet.runUntil(Duration.ofMinutes(6));
    reportAll("requests", fleet, 6);
    System.out.println("busy node per 5 s around the cut: " + busy.perFiveSeconds(110, 160));

    // Cut off at 2:00, the busy node keeps its lease (about 360 a minute) for 10 s: it holds more
    // than its static share, 600 / 3 = 200, in the window ending then.
    assertThat(busy.admittedBetween(70, 130)).isGreaterThan(250);
    // Once the lease lapses, the static share: at most 200 in any window (of whole 3 s slots).
    for (int from = 132; from <= 180; from += 3) {
      assertThat(busy.admittedBetween(from, from + 60)).isLessThanOrEqualTo(200);
    }
    for (int minute = 0; minute < 6; minute++) {
      assertThat(fleet.admittedRequests(minute))
          .as("never above the limit, minute %s", minute)
          .isLessThanOrEqualTo(REQUESTS_PER_MINUTE);
    }
    assertThat((double) fleet.admittedRequests(5) / REQUESTS_PER_MINUTE)
        .as("back to full use once the control plane returns")
        .isBetween(0.95, 1.05);
  }

  @Test
  void aNodeThatLeavesFreesItsShareForTheOthers() {
    Fleet fleet = new Fleet(Workload.SMALL);
    SimNode a = fleet.addNode("dp-a", 10);
    SimNode b = fleet.addNode("dp-b", 10);
    SimNode c = fleet.addNode("dp-c", 10);
    fleet.runUntil(Duration.ofMinutes(2));
    assertThat(c.requests(1)).isBetween(190L, 210L);

    c.leave();
    fleet.runUntil(Duration.ofMinutes(5));

    for (int minute = 3; minute < 5; minute++) {
      assertThat(a.requests(minute)).isBetween(285L, 315L);
      assertThat(b.requests(minute)).isBetween(285L, 315L);
    }
    reportAll("requests", fleet, 5);
    for (int minute = 0; minute < 5; minute++) {
      assertThat((double) fleet.admittedRequests(minute) / REQUESTS_PER_MINUTE)
          .as("minute %s", minute)
          .isBetween(0.95, 1.05);
    }
  }

  private static void reportAll(String what, Fleet fleet, int minutes) {
    for (int minute = 0; minute < minutes; minute++) {
      if (what.equals("tokens")) {
        report(what, fleet, minute, fleet.admittedTokens(minute), TOKENS_PER_MINUTE);
      } else {
        report(what, fleet, minute, fleet.admittedRequests(minute), REQUESTS_PER_MINUTE);
      }
    }
  }

  private static void report(String what, Fleet fleet, int minute, long admitted, long limit) {
    StringBuilder line =
        new StringBuilder(
            String.format(
                "minute %d: %d %s admitted, %.3f of the limit;", minute, admitted, what, (double) admitted / limit));
    for (SimNode node : fleet.nodes) {
      line.append(' ').append(node.id).append('=').append(node.requests(minute));
    }
    System.out.println(line);
  }
}
