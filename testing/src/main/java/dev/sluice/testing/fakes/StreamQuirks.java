package dev.sluice.testing.fakes;

import static java.util.Objects.requireNonNull;

import java.time.Duration;

/**
 * How a fake streams: pacing and the awkward-but-legal (or broken) things real upstreams do. Shared
 * by the fakes' reply types; every setter returns {@code this}.
 */
abstract class StreamQuirks<T extends StreamQuirks<T>> {
  Duration tokenInterval = Duration.ZERO;
  Duration firstTokenDelay = Duration.ZERO;
  SseLineEnding lineEnding = SseLineEnding.LF;
  boolean keepAliveComments;
  boolean multiLineData;
  int splitWritesEvery;
  boolean byteOrderMark;
  int resetAfterEvents = -1;
  int closeAfterEvents = -1;
  int hangAfterEvents = -1;
  int malformedAfterEvents = -1;
  boolean omitEndMarker;

  abstract T self();

  /** Waits this long between content events (tokens). Default none. */
  public T tokenInterval(Duration interval) {
    this.tokenInterval = requireNonNull(interval, "interval");
    return self();
  }

  /** Waits this long before the first event (after the response headers). Default none. */
  public T firstTokenDelay(Duration delay) {
    this.firstTokenDelay = requireNonNull(delay, "delay");
    return self();
  }

  /** Line terminator of the event stream. Default LF. */
  public T lineEnding(SseLineEnding lineEnding) {
    this.lineEnding = requireNonNull(lineEnding, "lineEnding");
    return self();
  }

  /** Sends a {@code : keep-alive} comment (and blank line) before every event. */
  public T keepAliveComments() {
    this.keepAliveComments = true;
    return self();
  }

  /**
   * Sends each event's JSON pretty-printed over several {@code data:} lines, which SSE joins with
   * {@code \n} (JSON whitespace), so the payload stays valid.
   */
  public T multiLineData() {
    this.multiLineData = true;
    return self();
  }

  /** Writes (and flushes) every event in pieces of {@code bytes}, 1 meaning byte by byte. */
  public T splitWritesEvery(int bytes) {
    if (bytes <= 0) {
      throw new IllegalArgumentException("bytes: " + bytes + " (expected: > 0)");
    }
    this.splitWritesEvery = bytes;
    return self();
  }

  /** Starts the stream with a UTF-8 byte order mark, which SSE clients must skip. */
  public T byteOrderMark() {
    this.byteOrderMark = true;
    return self();
  }

  /** Resets the connection (TCP RST) after {@code events} events. */
  public T resetAfterEvents(int events) {
    this.resetAfterEvents = events;
    return self();
  }

  /** Closes the connection (FIN) after {@code events} events, without ending the HTTP body. */
  public T closeAfterEvents(int events) {
    this.closeAfterEvents = events;
    return self();
  }

  /** Stops sending after {@code events} events and keeps the connection open. */
  public T hangAfterEvents(int events) {
    this.hangAfterEvents = events;
    return self();
  }

  /** Sends an event whose data is not valid JSON after {@code events} events. */
  public T malformedEventAfter(int events) {
    this.malformedAfterEvents = events;
    return self();
  }

  /**
   * Ends the HTTP response properly but without the protocol's end marker (OpenAI {@code data:
   * [DONE]}, Anthropic {@code message_stop}).
   */
  public T omitEndMarker() {
    this.omitEndMarker = true;
    return self();
  }

  SseFraming framing() {
    return new SseFraming(lineEnding, keepAliveComments, splitWritesEvery, byteOrderMark);
  }
}
