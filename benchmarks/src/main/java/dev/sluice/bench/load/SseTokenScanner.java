package dev.sluice.bench.load;

import io.netty.buffer.ByteBuf;
import io.netty.util.ByteProcessor;
import java.util.Arrays;

/**
 * Counts tokens in an OpenAI chat-completions SSE stream as its bytes arrive, without building
 * strings or parsing JSON: the client must stay much cheaper than the servers it measures.
 *
 * <p>A token is a {@code data:} line whose {@code "content"} is a non-empty string (the role chunk
 * carries {@code "content":""}, the finish and usage chunks none). {@code data: [DONE]} marks a
 * complete stream. Lines may end in LF or CRLF and may be split across reads at any byte. Not
 * thread-safe: one scanner per stream, fed from its connection's event loop.
 */
final class SseTokenScanner implements ByteProcessor {
  /** Receives what the scanner finds. */
  interface Listener {
    /** A token arrived. */
    void onToken();
  }

  private static final byte[] DATA = "data:".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
  private static final byte[] DONE = "[DONE]".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
  private static final byte[] CONTENT =
      "\"content\":".getBytes(java.nio.charset.StandardCharsets.US_ASCII);

  /** Longest line kept; the rest of a longer line is ignored (our events are ~150 bytes). */
  private static final int MAX_LINE = 1 << 16;

  private final Listener listener;
  private byte[] line = new byte[512];
  private int length;
  private boolean overflow;
  private boolean done;
  private long tokens;

  SseTokenScanner(Listener listener) {
    this.listener = listener;
  }

  /** Scans the readable bytes of {@code buf} without consuming them. */
  void feed(ByteBuf buf) {
    buf.forEachByte(this);
  }

  /** Scans {@code bytes}; for tests. */
  void feed(byte[] bytes) {
    for (byte b : bytes) {
      process(b);
    }
  }

  /** Whether {@code data: [DONE]} was seen. */
  boolean done() {
    return done;
  }

  /** Tokens seen so far. */
  long tokens() {
    return tokens;
  }

  @Override
  public boolean process(byte b) {
    if (b == '\n') {
      int end = length > 0 && line[length - 1] == '\r' ? length - 1 : length;
      if (!overflow) {
        onLine(end);
      }
      length = 0;
      overflow = false;
    } else if (length < line.length) {
      line[length++] = b;
    } else if (line.length < MAX_LINE) {
      line = Arrays.copyOf(line, Math.min(MAX_LINE, line.length * 2));
      line[length++] = b;
    } else {
      overflow = true;
    }
    return true;
  }

  private void onLine(int end) {
    if (!startsWith(0, end, DATA)) {
      return; // blank separator, comment (": keep-alive"), event:, id:, retry:
    }
    int p = DATA.length;
    if (p < end && line[p] == ' ') {
      p++;
    }
    if (end - p == DONE.length && startsWith(p, end, DONE)) {
      done = true;
      return;
    }
    int at = indexOf(p, end, CONTENT);
    if (at < 0) {
      return;
    }
    int v = at + CONTENT.length;
    while (v < end && line[v] == ' ') {
      v++;
    }
    if (v + 1 < end && line[v] == '"' && line[v + 1] != '"') {
      tokens++;
      listener.onToken();
    }
  }

  private boolean startsWith(int from, int end, byte[] prefix) {
    if (end - from < prefix.length) {
      return false;
    }
    for (int i = 0; i < prefix.length; i++) {
      if (line[from + i] != prefix[i]) {
        return false;
      }
    }
    return true;
  }

  private int indexOf(int from, int end, byte[] needle) {
    outer:
    for (int i = from; i + needle.length <= end; i++) {
      for (int j = 0; j < needle.length; j++) {
        if (line[i + j] != needle[j]) {
          continue outer;
        }
      }
      return i;
    }
    return -1;
  }
}
