package dev.sluice.bench.ratelimit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.List;
import org.junit.jupiter.api.Test;

/** The window arithmetic of the accuracy report, on hand-made per-second counts. */
class AccuracyReportTest {
  @Test
  void slidingWindowsAndWholeMinutesStartAfterTheWarmupWhichIsReportedOnItsOwn() {
    // 10 s warm-up at 30 a second, then 130 s at 10 a second (600 a minute), one node 4x the other.
    AdmissionLog log = new AdmissionLog(List.of("busy", "quiet"), 140);
    for (int s = 0; s < 140; s++) {
      int perSecond = s < 10 ? 30 : 10;
      for (int i = 0; i < perSecond; i++) {
        int node = i % 5 == 0 ? 1 : 0;
        log.recordSent(node, s);
        log.recordAdmitted(node, s, 100);
      }
    }
    log.recordSent(1, 12);
    log.recordRefused(1, 12);

    AccuracyReport report = AccuracyReport.of(log, 600, 60_000, 10);

    assertThat(report.warmup().admittedRequests()).isEqualTo(300);
    assertThat(report.warmup().admittedByNode()).containsEntry("busy", 240L).containsEntry("quiet", 60L);
    // Windows starting at 10..80 s: 71 of them, each exactly 600 requests and 60,000 tokens.
    assertThat(report.requests().sliding().count()).isEqualTo(71);
    assertThat(report.requests().sliding().min()).isEqualTo(1.0);
    assertThat(report.requests().sliding().max()).isEqualTo(1.0);
    assertThat(report.tokens().sliding().mean()).isEqualTo(1.0);
    assertThat(report.requests().minuteCounts()).containsExactly(600L, 600L);
    // The window [0, 60 s) holds the warm-up: 300 + 500.
    assertThat(report.requests().maxAnyWindow()).isEqualTo(800);
    assertThat(report.requests().maxAnyWindowFraction()).isCloseTo(1.3333, within(1e-4));
    assertThat(report.tokensPerRequest()).isEqualTo(100.0);
    assertThat(report.nodes().get(1).refused()).isEqualTo(1);
    assertThat(report.nodes().get(0).admittedPerMinute()).containsExactly(480L, 480L);
  }

  @Test
  void aRunShorterThanAWindowHasNoWindowButItsTotalCountsAsTheLargest() {
    AdmissionLog log = new AdmissionLog(List.of("only"), 20);
    for (int s = 0; s < 20; s++) {
      log.recordSent(0, s);
      log.recordAdmitted(0, s, 38);
    }
    log.recordSent(0, 19);
    log.recordFailed(0, 19, "UNAVAILABLE");

    AccuracyReport report = AccuracyReport.of(log, 60, 60_000, 0);

    assertThat(report.requests().sliding().count()).isZero();
    assertThat(report.requests().wholeMinutes().count()).isZero();
    assertThat(report.requests().maxAnyWindow()).isEqualTo(20);
    assertThat(report.failures()).containsEntry("UNAVAILABLE", 1L);
    assertThat(report.render("short")).contains("requests, sliding 60 s").contains("UNAVAILABLE");
  }
}
