package dev.sluice.integration.ratelimit;

import static dev.sluice.integration.ratelimit.Fleet.REQUESTS_PER_MINUTE;
import static dev.sluice.integration.ratelimit.Fleet.TOKENS_PER_MINUTE;
import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.integration.ratelimit.Fleet.SimNode;
import dev.sluice.integration.ratelimit.Fleet.Workload;
import java.time.Duration;
import org.junit.jupiter.api.Test;

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
