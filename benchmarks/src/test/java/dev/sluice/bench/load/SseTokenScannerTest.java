package dev.sluice.bench.load;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class SseTokenScannerTest {
  private static final String STREAM =
      ": keep-alive\n\n"
          + "data:"
          + " {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n"
          + "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\r\n\r\n"
          + "data:{\"choices\":[{\"index\":0,\"delta\":{\"content\": \"lo\"}}]}\n\n"
          + "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
          + "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3}}\n\n"
          + "data: [DONE]\n\n";

  @Test
  void countsNonEmptyContentAndSeesDone() {
    int[] events = new int[1];
    SseTokenScanner s = new SseTokenScanner(() -> events[0]++);
    s.feed(STREAM.getBytes(UTF_8));
    assertThat(s.tokens()).isEqualTo(2);
    assertThat(events[0]).isEqualTo(2);
    assertThat(s.done()).isTrue();
  }

  @Test
  void eventsSplitAtEveryByteGiveTheSameCount() {
    SseTokenScanner s = new SseTokenScanner(() -> {});
    for (byte b : STREAM.getBytes(UTF_8)) {
      s.feed(new byte[] {b});
    }
    assertThat(s.tokens()).isEqualTo(2);
    assertThat(s.done()).isTrue();
  }

  @Test
  void incompleteStreamIsNotDone() {
    SseTokenScanner s = new SseTokenScanner(() -> {});
    s.feed("data: {\"delta\":{\"content\":\"x\"}}\n\ndata: [DO".getBytes(UTF_8));
    assertThat(s.tokens()).isEqualTo(1);
    assertThat(s.done()).isFalse();
  }

  @Test
  void longLinesDoNotBreakTheScanner() {
    SseTokenScanner s = new SseTokenScanner(() -> {});
    String big = "data: {\"delta\":{\"content\":\"" + "a".repeat(200_000) + "\"}}\n\n";
    s.feed(big.getBytes(UTF_8));
    s.feed("data: {\"delta\":{\"content\":\"b\"}}\n\ndata: [DONE]\n\n".getBytes(UTF_8));
    assertThat(s.tokens()).isEqualTo(1); // the oversized line is skipped, not misread
    assertThat(s.done()).isTrue();
  }
}
