package dev.sluice.dataplane.provider.sse;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class SseDecoderTest {
  /** What a handler saw, in order, as comparable strings. */
  private static final class Recorder implements SseDecoder.Handler {
    final List<String> events = new ArrayList<>();
    final List<String> comments = new ArrayList<>();
    final List<Long> retries = new ArrayList<>();

    @Override
    public void onEvent(String type, ByteBuf data) {
      assertThat(data.hasArray()).as("event data is a heap buffer").isTrue();
      events.add(type + "|" + data.toString(StandardCharsets.UTF_8));
    }

    @Override
    public void onComment(ByteBuf comment) {
      comments.add(comment.toString(StandardCharsets.UTF_8));
    }

    @Override
    public void onRetry(long millis) {
      retries.add(millis);
    }
  }

  private static List<String> decodeWhole(byte[] stream) {
    Recorder r = new Recorder();
    SseDecoder d = new SseDecoder(r);
    d.decode(Unpooled.wrappedBuffer(stream));
    d.close();
    return r.events;
  }

  private static byte[] bytes(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  /** Decodes {@code stream} fed in the given pieces, as direct buffers like Netty's reads. */
  private static Recorder decodeInPieces(byte[] stream, int... cuts) {
    Recorder r = new Recorder();
    SseDecoder d = new SseDecoder(r);
    int start = 0;
    for (int i = 0; i <= cuts.length; i++) {
      int end = i < cuts.length ? cuts[i] : stream.length;
      ByteBuf piece = Unpooled.directBuffer(Math.max(1, end - start));
      piece.writeBytes(stream, start, end - start);
      d.decode(piece);
      assertThat(piece.isReadable()).as("decode consumes every byte").isFalse();
      piece.release();
      start = end;
    }
    d.close();
    return r;
  }

  @Test
  void dispatchesEventsAtBlankLines() {
    assertThat(decodeWhole(bytes("data: one\n\ndata: two\n\n")))
        .containsExactly("message|one", "message|two");
  }

  @Test
  void joinsMultiLineDataWithLineFeeds() {
    assertThat(decodeWhole(bytes("data: {\ndata:   \"a\": 1\ndata: }\n\n")))
        .containsExactly("message|{\n  \"a\": 1\n}");
  }

  @Test
  void acceptsCrLfCrAndLfLineEndingsMixed() {
    assertThat(decodeWhole(bytes("data: a\r\n\r\ndata: b\r\rdata: c\n\ndata: d\r\n\n")))
        .containsExactly("message|a", "message|b", "message|c", "message|d");
  }

  @Test
  void namesEventsAndResetsTheTypeAfterEachDispatch() {
    assertThat(decodeWhole(bytes("event: ping\ndata: {}\n\ndata: plain\n\nevent:\ndata: x\n\n")))
        .containsExactly("ping|{}", "message|plain", "message|x");
  }

  @Test
  void passesCommentsAsideWithoutDispatching() {
    Recorder r = decodeInPieces(bytes(": keep-alive\n\n:\ndata: x\n\n"));

    assertThat(r.events).containsExactly("message|x");
    assertThat(r.comments).containsExactly(" keep-alive", "");
  }

  @Test
  void removesExactlyOneSpaceAfterTheColon() {
    assertThat(decodeWhole(bytes("data:no-space\n\ndata:  two-spaces\n\n")))
        .containsExactly("message|no-space", "message| two-spaces");
  }

  @Test
  void aFieldWithoutColonHasAnEmptyValue() {
    assertThat(decodeWhole(bytes("data\n\ndata\ndata\n\n")))
        .containsExactly("message|", "message|\n");
  }

  @Test
  void anEventWithoutDataIsNotDispatched() {
    assertThat(decodeWhole(bytes("event: lonely\n\nid: 7\n\n\n\ndata: real\n\n")))
        .containsExactly("message|real");
  }

  @Test
  void ignoresUnknownFields() {
    assertThat(decodeWhole(bytes("foo: bar\ndata: x\nDATA: shouted\n\n")))
        .containsExactly("message|x");
  }

  @Test
  void tracksTheLastEventIdAndIgnoresIdsContainingNul() {
    Recorder r = new Recorder();
    SseDecoder d = new SseDecoder(r);
    d.decode(Unpooled.wrappedBuffer(bytes("id: 41\ndata: a\n\n")));
    assertThat(d.lastEventId()).isEqualTo("41");
    d.decode(Unpooled.wrappedBuffer(bytes("id: 4\u00002\ndata: b\n\n")));
    assertThat(d.lastEventId()).as("an id with NUL is ignored").isEqualTo("41");
    d.close();
  }

  @Test
  void reportsRetryOnlyWhenItIsAllDigits() {
    Recorder r = decodeInPieces(bytes("retry: 3000\nretry: 12a\nretry: -1\nretry:\ndata: x\n\n"));

    assertThat(r.retries).containsExactly(3000L);
  }

  @Test
  void skipsALeadingByteOrderMarkOnly() {
    byte[] bom = {(byte) 0xEF, (byte) 0xBB, (byte) 0xBF};
    byte[] stream = concat(bom, bytes("data: a\n\n"), bom, bytes("data: b\n\n"));

    // The second BOM is not at the start: it belongs to the line, making an unknown field.
    assertThat(decodeWhole(stream)).containsExactly("message|a");
  }

  @Test
  void bytesThatOnlyBeginLikeAByteOrderMarkAreKept() {
    byte[] stream = concat(new byte[] {(byte) 0xEF, (byte) 0xBB}, bytes("data: x\n\ndata: y\n\n"));

    // EF BB then 'd' is not a BOM; the bytes are part of the first line (an unknown field).
    assertThat(decodeWhole(stream)).containsExactly("message|y");
    assertThat(decodeInPieces(stream, 1, 2, 3).events).containsExactly("message|y");
  }

  @Test
  void anIncompleteEventAtTheEndIsNotDispatched() {
    Recorder r = new Recorder();
    SseDecoder d = new SseDecoder(r);
    d.decode(Unpooled.wrappedBuffer(bytes("data: complete\n\ndata: cut")));

    assertThat(r.events).containsExactly("message|complete");
    assertThat(d.hasPartialEvent()).isTrue();
    d.decode(Unpooled.wrappedBuffer(bytes(" here\n")));
    assertThat(d.hasPartialEvent()).isTrue();
    d.decode(Unpooled.wrappedBuffer(bytes("\n")));
    assertThat(r.events).containsExactly("message|complete", "message|cut here");
    assertThat(d.hasPartialEvent()).isFalse();
    d.close();
  }

  @Test
  void aCrAtTheEndOfAChunkAndALfAtTheStartOfTheNextAreOneLineBreak() {
    Recorder r = decodeInPieces(bytes("data: a\r\n\r\ndata: b\r\n\r\n"), 8, 9, 10);

    assertThat(r.events).containsExactly("message|a", "message|b");
  }

  /** A stream with every feature the decoder handles, to cut up in every way. */
  private static byte[] richStream() {
    byte[] bom = {(byte) 0xEF, (byte) 0xBB, (byte) 0xBF};
    String body =
        ": keep-alive\r\n\r\n"
            + "data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"delta\":{\"content\":\"Hé\"}}]}\n\n"
            + "event: content_block_delta\r\n"
            + "data: {\"text\":\"multi\r"
            + "data: line\"}\r\r"
            + "id: 9\n"
            + "retry: 10\n"
            + "data\n"
            + "data:  spaced\n\n"
            + ":\n"
            + "data: ✓ unicode ✓\r\n\r\n"
            + "data: [DONE]\n\n";
    return concat(bom, bytes(body));
  }

  private static final List<String> RICH_EVENTS =
      List.of(
          "message|{\"id\":\"chatcmpl-1\",\"choices\":[{\"delta\":{\"content\":\"Hé\"}}]}",
          "content_block_delta|{\"text\":\"multi\nline\"}",
          "message|\n spaced",
          "message|✓ unicode ✓",
          "message|[DONE]");

  @Test
  void decodesTheRichStreamInOnePiece() {
    assertThat(decodeWhole(richStream())).containsExactlyElementsOf(RICH_EVENTS);
  }

  @Test
  void givesTheSameEventsWhenTheStreamIsSplitAtAnyBytePosition() {
    byte[] stream = richStream();
    for (int cut = 0; cut <= stream.length; cut++) {
      assertThat(decodeInPieces(stream, cut).events)
          .as("split at byte %d", cut)
          .containsExactlyElementsOf(RICH_EVENTS);
    }
  }

  @Test
  void givesTheSameEventsWhenTheStreamIsSplitAtEveryPairOfPositions() {
    byte[] stream = richStream();
    for (int first = 0; first <= stream.length; first++) {
      for (int second = first; second <= stream.length; second++) {
        assertThat(decodeInPieces(stream, first, second).events)
            .as("split at bytes %d and %d", first, second)
            .containsExactlyElementsOf(RICH_EVENTS);
      }
    }
  }

  @Test
  void givesTheSameEventsWhenFedOneByteAtATime() {
    byte[] stream = richStream();
    int[] cuts = new int[stream.length - 1];
    for (int i = 0; i < cuts.length; i++) {
      cuts[i] = i + 1;
    }
    assertThat(decodeInPieces(stream, cuts).events).containsExactlyElementsOf(RICH_EVENTS);
  }

  @ParameterizedTest
  @ValueSource(longs = {1, 2, 3, 42, 2026})
  void givesTheSameEventsForRandomChunkings(long seed) {
    byte[] stream = richStream();
    SplittableRandom random = new SplittableRandom(seed);
    List<Integer> cuts = new ArrayList<>();
    int at = 0;
    while (true) {
      at += 1 + random.nextInt(12);
      if (at >= stream.length) {
        break;
      }
      cuts.add(at);
    }
    assertThat(decodeInPieces(stream, cuts.stream().mapToInt(Integer::intValue).toArray()).events)
        .containsExactlyElementsOf(RICH_EVENTS);
  }

  @Test
  void closingFromAHandlerStopsDecoding() {
    List<String> seen = new ArrayList<>();
    SseDecoder[] decoder = new SseDecoder[1];
    decoder[0] =
        new SseDecoder(
            (type, data) -> {
              seen.add(data.toString(StandardCharsets.UTF_8));
              decoder[0].close();
            });
    ByteBuf input = Unpooled.wrappedBuffer(bytes("data: first\n\ndata: second\n\n"));
    decoder[0].decode(input);

    assertThat(seen).containsExactly("first");
    decoder[0].decode(Unpooled.wrappedBuffer(bytes("data: later\n\n")));
    assertThat(seen).containsExactly("first");
  }

  @Test
  void rejectsLinesAndEventsOverTheLimit() {
    SseDecoder lines = new SseDecoder((t, d) -> {}, 16);
    assertThatThrownBy(() -> lines.decode(Unpooled.wrappedBuffer(bytes("data: " + "x".repeat(32)))))
        .isInstanceOf(SseFormatException.class)
        .hasMessageContaining("16 bytes");

    SseDecoder events = new SseDecoder((t, d) -> {}, 16);
    assertThatThrownBy(
            () -> events.decode(Unpooled.wrappedBuffer(bytes("data: 0123456789\ndata: 0123456789\n"))))
        .isInstanceOf(SseFormatException.class);
  }

  private static byte[] concat(byte[]... parts) {
    int n = 0;
    for (byte[] p : parts) {
      n += p.length;
    }
    byte[] all = new byte[n];
    int at = 0;
    for (byte[] p : parts) {
      System.arraycopy(p, 0, all, at, p.length);
      at += p.length;
    }
    return all;
  }
}
