package dev.sluice.bench.load;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The raw gRPC client against a real Sluice gateway (in this JVM, MOCK models): its calls succeed,
 * errors count under the same status code as grpc-java reports them, stream tokens are counted, and
 * calls beyond the server's MAX_CONCURRENT_STREAMS wait instead of being dropped. Counts only,
 * never timings.
 */
class RawGrpcTargetTest {
  /** The gateway's MAX_CONCURRENT_STREAMS per connection. */
  private static final int MAX_STREAMS = 4;

  @TempDir static Path dir;
  private static GatewayFixture gateway;

  @BeforeAll
  static void start() throws Exception {
    gateway = new GatewayFixture(dir, MAX_STREAMS);
  }

  @AfterAll
  static void stop() throws Exception {
    gateway.close();
  }

  private static RawGrpcTarget raw(
      CallKind kind, String model, int connections, Map<String, String> headers) {
    return new RawGrpcTarget(
        gateway.address(), connections, 1, kind, model, 16, headers, Duration.ofSeconds(30));
  }

  private static GrpcTarget grpcJava(CallKind kind, String model, Map<String, String> headers) {
    return new GrpcTarget(
        gateway.address(), 2, 1, kind, model, 16, headers, Duration.ofSeconds(30));
  }

  private static LoadRun.Plan closed(int workers) {
    return new LoadRun.Plan(
        false,
        0,
        workers,
        Duration.ofMillis(100),
        Duration.ofMillis(300),
        Duration.ofSeconds(5),
        Duration.ZERO,
        100);
  }

  @Test
  void openLoopUnaryChatCallsAllSucceed() {
    LoadRun.Plan plan =
        new LoadRun.Plan(
            true,
            200,
            0,
            Duration.ofMillis(100),
            Duration.ofMillis(500),
            Duration.ofSeconds(5),
            Duration.ZERO,
            100);
    LoadRun.Outcome o =
        LoadRun.run(plan, raw(CallKind.CHAT, "mock", 2, Map.of()), System.nanoTime());
    // 200/s for 0.5 s: exactly 100 slots in the window, each sent once and answered with status 0
    assertThat(o.measurement().outcomes()).isEqualTo(Map.of("OK", 100L));
    assertThat(o.unfinished()).isZero();
  }

  @ParameterizedTest(name = "{0} / {1}")
  @CsvSource({
    "no-such-model, '', NOT_FOUND",
    "mock, Bearer sk-not-a-key, UNAUTHENTICATED",
  })
  void errorStatusIsCountedUnderItsCodeAsGrpcJavaCountsIt(
      String model, String authorization, String code) {
    Map<String, String> headers =
        authorization.isEmpty() ? Map.of() : Map.of("authorization", authorization);
    Map<String, Long> rawOutcomes =
        LoadRun.run(closed(2), raw(CallKind.CHAT, model, 1, headers), System.nanoTime())
            .measurement()
            .outcomes();
    Map<String, Long> grpcJavaOutcomes =
        LoadRun.run(closed(2), grpcJava(CallKind.CHAT, model, headers), System.nanoTime())
            .measurement()
            .outcomes();

    assertThat(rawOutcomes).containsOnlyKeys(code);
    assertThat(grpcJavaOutcomes).containsOnlyKeys(code);
  }

  @Test
  void streamTokensAreCountedAsGrpcJavaCountsThem() {
    Measurement raw =
        LoadRun.run(closed(2), raw(CallKind.STREAM, "mock", 1, Map.of()), System.nanoTime())
            .measurement();
    Measurement grpcJava =
        LoadRun.run(closed(2), grpcJava(CallKind.STREAM, "mock", Map.of()), System.nanoTime())
            .measurement();

    for (Measurement m : List.of(raw, grpcJava)) {
      assertThat(m.outcomes()).containsOnlyKeys("OK");
      long streams = m.outcomes().get("OK");
      assertThat(Measurement.snapshot(m.ttft).getTotalCount()).isEqualTo(streams);
      assertThat(Measurement.snapshot(m.interTokenGap).getTotalCount())
          .isEqualTo(streams * (GatewayFixture.TOKENS - 1));
    }
  }

  @Test
  void callsBeyondMaxConcurrentStreamsWaitAndAllSucceed() throws Exception {
    int calls = MAX_STREAMS + 6;
    BlockingQueue<String> outcomes = new LinkedBlockingQueue<>();
    List<Long> sent = new ArrayList<>();
    try (RawGrpcTarget target = raw(CallKind.CHAT, "mock-slow", 1, Map.of())) {
      for (int i = 0; i < calls; i++) {
        target.start(
            new LoadTarget.CallSink() {
              @Override
              public void onSent(long nanoTime) {
                synchronized (sent) {
                  sent.add(nanoTime);
                }
              }

              @Override
              public void onToken(long nanoTime) {}

              @Override
              public void onClose(long nanoTime, String outcome) {
                outcomes.add(outcome);
              }
            });
      }
      List<String> got = new ArrayList<>();
      for (int i = 0; i < calls; i++) {
        String o = outcomes.poll(20, TimeUnit.SECONDS);
        assertThat(o).as("outcome of call %d", i).isNotNull();
        got.add(o);
      }

      // Each mock-slow call is held 300 ms: only MAX_STREAMS fit at once, the rest waited.
      assertThat(got).containsOnly("OK");
      assertThat(target.queuedCalls()).isEqualTo(calls - MAX_STREAMS);
      synchronized (sent) {
        assertThat(sent).hasSize(calls);
      }
    }
  }

  @Test
  void requestTimeoutIsGrpcTimeoutValue() {
    assertThat(RawGrpcTarget.grpcTimeout(Duration.ofSeconds(120))).isEqualTo("120000m");
    assertThat(RawGrpcTarget.grpcTimeout(Duration.ofDays(2000))).isEqualTo("99999999S");
  }
}
