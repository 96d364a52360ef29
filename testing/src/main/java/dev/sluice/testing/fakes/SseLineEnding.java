package dev.sluice.testing.fakes;

/** The line terminator a fake uses in its event stream; all three are valid SSE. */
public enum SseLineEnding {
  /** {@code \n}, what OpenAI, Anthropic and Gemini send. */
  LF("\n"),
  /** {@code \r\n}, what some proxies and servers on Windows send. */
  CRLF("\r\n"),
  /** A bare {@code \r}: rare, legal, and a classic parser bug. */
  CR("\r");

  private final String text;

  SseLineEnding(String text) {
    this.text = text;
  }

  /** The terminator itself. */
  public String text() {
    return text;
  }
}
