package dev.sluice.testing.fakes;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * Writes SSE events as bytes the way a configurable (and sometimes awkward) server would: line
 * ending, comments before events, a leading byte order mark, and events split into several writes.
 */
final class SseFraming {
  private final SseLineEnding lineEnding;
  private final boolean commentBeforeEvents;
  private final int splitEvery;
  private boolean first = true;
  private final boolean byteOrderMark;

  SseFraming(SseLineEnding lineEnding, boolean commentBeforeEvents, int splitEvery, boolean byteOrderMark) {
    this.lineEnding = lineEnding;
    this.commentBeforeEvents = commentBeforeEvents;
    this.splitEvery = splitEvery;
    this.byteOrderMark = byteOrderMark;
  }

  /**
   * The steps that write one event.
   *
   * @param eventName the {@code event:} field, or null for none
   * @param dataLines one {@code data:} line each
   */
  List<ScriptedResponse.Step> event(@Nullable String eventName, List<String> dataLines) {
    String eol = lineEnding.text();
    StringBuilder text = new StringBuilder();
    if (commentBeforeEvents) {
      text.append(": keep-alive").append(eol).append(eol);
    }
    if (eventName != null) {
      text.append("event: ").append(eventName).append(eol);
    }
    for (String line : dataLines) {
      text.append("data: ").append(line).append(eol);
    }
    text.append(eol);
    return split(text.toString());
  }

  /** The steps that write {@code text} verbatim (still split and BOM-prefixed as configured). */
  List<ScriptedResponse.Step> raw(String text) {
    return split(text);
  }

  private List<ScriptedResponse.Step> split(String text) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    if (first && byteOrderMark) {
      out.write(0xEF);
      out.write(0xBB);
      out.write(0xBF);
    }
    first = false;
    out.writeBytes(text.getBytes(StandardCharsets.UTF_8));
    byte[] bytes = out.toByteArray();
    List<ScriptedResponse.Step> steps = new ArrayList<>();
    if (splitEvery <= 0 || bytes.length <= splitEvery) {
      steps.add(new ScriptedResponse.Step.Write(bytes));
      return steps;
    }
    for (int i = 0; i < bytes.length; i += splitEvery) {
      byte[] piece = new byte[Math.min(splitEvery, bytes.length - i)];
      System.arraycopy(bytes, i, piece, 0, piece.length);
      steps.add(new ScriptedResponse.Step.Write(piece));
    }
    return steps;
  }
}
