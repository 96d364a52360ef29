package dev.sluice.bench.load;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.bench.upstream.FakeUpstream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Checks that the harness works end to end on loopback: calls complete and are counted, stream
 * tokens are seen. It asserts counts only, never timings: figures come from the benchmark runs.
 */
class LoopbackRunTest {
  private static FakeUpstream upstream;

  @BeforeAll
  static void start() {
    upstream = FakeUpstream.builder().start();
  }

  @AfterAll
  static void stop() {
    upstream.close();
  }

  private static LoadRun.Plan closed(int workers) {
    return new LoadRun.Plan(
        false,
        0,
        workers,
        Duration.ofMillis(100),
        Duration.ofMillis(400),
        Duration.ofSeconds(2),
        Duration.ZERO,
        100);
  }

  private static HttpTarget target(CallKind kind, int maxTokens) {
    return new HttpTarget(
        new InetSocketAddress("127.0.0.1", upstream.port()),
        "/v1",
        2,
        1,
        kind,
        "m",
        maxTokens,
        Map.of());
  }

  @Test
  void closedLoopUnaryChatCompletesCallsWithoutErrors() {
    LoadRun.Outcome o = LoadRun.run(closed(4), target(CallKind.CHAT, 16), System.nanoTime());
    Measurement m = o.measurement();
    assertThat(m.outcomes()).containsOnlyKeys("OK");
    assertThat(m.okInWindow.sum()).isPositive();
    assertThat(o.unfinished()).isZero();
  }

  @Test
  void aConnectionTheServerClosesAfterEachResponseIsDialledAgainAndCallsGoOn() throws Exception {
    try (ClosingServer server = new ClosingServer()) {
      HttpTarget oneConnection =
          new HttpTarget(
              new InetSocketAddress("127.0.0.1", server.port()),
              "/v1",
              1,
              1,
              CallKind.CHAT,
              "m",
              16,
              Map.of());

      LoadRun.Outcome o = LoadRun.run(closed(1), oneConnection, System.nanoTime());

      assertThat(o.measurement().outcomes()).containsOnlyKeys("OK");
      assertThat(o.measurement().okInWindow.sum()).isGreaterThanOrEqualTo(3);
      // One connection per call (plus the first): each was a new dial of the same handler.
      assertThat((long) server.accepted.get()).isGreaterThan(o.measurement().okInWindow.sum());
    }
  }

  /** Answers each connection's one request with a small JSON body, then closes it. */
  private static final class ClosingServer implements AutoCloseable {
    private static final byte[] RESPONSE =
        ("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n"
                + "connection: close\r\n\r\n{}")
            .getBytes(StandardCharsets.US_ASCII);

    final AtomicInteger accepted = new AtomicInteger();
    private final ServerSocket socket;
    private final Thread thread;

    ClosingServer() throws IOException {
      socket = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
      thread = new Thread(this::serve, "closing-server");
      thread.setDaemon(true);
      thread.start();
    }

    int port() {
      return socket.getLocalPort();
    }

    private void serve() {
      while (!socket.isClosed()) {
        try (Socket s = socket.accept()) {
          accepted.incrementAndGet();
          readRequest(s.getInputStream());
          s.getOutputStream().write(RESPONSE);
        } catch (IOException e) {
          // closed, or the client went away: take the next connection
        }
      }
    }

    /** Reads the headers and the content-length body of one request. */
    private static void readRequest(InputStream in) throws IOException {
      StringBuilder head = new StringBuilder();
      while (!head.toString().endsWith("\r\n\r\n")) {
        int b = in.read();
        if (b < 0) {
          throw new IOException("closed before the request ended");
        }
        head.append((char) b);
      }
      Matcher length =
          Pattern.compile("(?im)^content-length:\\s*(\\d+)").matcher(head.toString());
      if (length.find()) {
        in.readNBytes(Integer.parseInt(length.group(1)));
      }
    }

    @Override
    public void close() throws Exception {
      socket.close();
      thread.join(5_000);
    }
  }

  @Test
  void streamTokensAreCountedPerEvent() {
    LoadRun.Outcome o = LoadRun.run(closed(2), target(CallKind.STREAM, 50), System.nanoTime());
    Measurement m = o.measurement();
    assertThat(m.outcomes()).containsOnlyKeys("OK");
    long streams = m.outcomes().get("OK");
    assertThat(Measurement.snapshot(m.ttft).getTotalCount()).isEqualTo(streams);
    // 49 gaps per 50-token stream
    assertThat(Measurement.snapshot(m.interTokenGap).getTotalCount()).isEqualTo(streams * 49);
  }

  @Test
  void openLoopSendsAtTheScheduledRate() {
    LoadRun.Plan plan =
        new LoadRun.Plan(
            true,
            200,
            0,
            Duration.ZERO,
            Duration.ofMillis(500),
            Duration.ofSeconds(2),
            Duration.ZERO,
            100);
    LoadRun.Outcome o = LoadRun.run(plan, target(CallKind.EMBED, 1), System.nanoTime());
    // 200/s for 0.5 s: exactly 100 slots in the window, each sent once
    assertThat(o.measurement().measured.sum()).isEqualTo(100);
    assertThat(o.measurement().outcomes()).containsEntry("OK", 100L);
  }

  @Test
  void theTimelineCountsEveryMeasuredCallInTheSlotOfItsScheduledStart(@TempDir Path dir)
      throws Exception {
    LoadRun.Plan plan =
        new LoadRun.Plan(
            true,
            200,
            0,
            Duration.ofMillis(200),
            Duration.ofMillis(500),
            Duration.ofSeconds(2),
            Duration.ZERO,
            100);
    LoadRun.Outcome o = LoadRun.run(plan, target(CallKind.EMBED, 1), System.nanoTime());
    Path csv = dir.resolve("timeline.csv");

    LoadGen.writeTimeline(csv, o.measurement());

    List<String> lines = Files.readAllLines(csv);
    assertThat(lines.get(0)).isEqualTo("slot_ms,calls,calls_over_1ms,max_latency_us");
    // 0.5 s of 100 ms slots at 200/s: 20 calls in each of 5 slots; warm-up calls in none.
    assertThat(lines.subList(1, lines.size()))
        .hasSize(5)
        .allSatisfy(line -> assertThat(line.split(",")[1]).isEqualTo("20"));
    assertThat(lines.get(1)).startsWith("0,");
    assertThat(lines.get(5)).startsWith("400,");
  }

  @Test
  void refusesNonLoopbackTargets() {
    assertThatThrownBy(() -> LoadGen.loopback(URI.create("http://192.0.2.1:80/v1")))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("loopback");
  }
}
