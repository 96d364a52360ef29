package dev.sluice.bench.load;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.inference.v1.ChatStarted;
import dev.sluice.inference.v1.ChoiceFinished;
import dev.sluice.inference.v1.ContentDelta;
import dev.sluice.inference.v1.StreamChatResponse;
import dev.sluice.inference.v1.Usage;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class GrpcMessageScannerTest {
  private static final List<StreamChatResponse> EVENTS =
      List.of(
          StreamChatResponse.newBuilder()
              .setStarted(ChatStarted.newBuilder().setId("c1").setModel("m"))
              .build(),
          delta(ContentDelta.newBuilder().setChoiceIndex(0).setPartIndex(0).setText("Hello")),
          delta(ContentDelta.newBuilder().setText("")), // empty: not a token
          delta(ContentDelta.newBuilder().setReasoningText("hmm")),
          delta(ContentDelta.newBuilder().setRefusal("no")),
          delta(ContentDelta.newBuilder().setChoiceIndex(-1).setText(" world".repeat(100))),
          StreamChatResponse.newBuilder()
              .setChoiceFinished(ChoiceFinished.newBuilder().setChoiceIndex(0))
              .build(),
          StreamChatResponse.newBuilder()
              .setUsage(Usage.newBuilder().setInputTokens(3).setOutputTokens(4))
              .build());
  private static final int TOKENS = 4;

  private static StreamChatResponse delta(ContentDelta.Builder d) {
    return StreamChatResponse.newBuilder().setContentDelta(d).build();
  }

  private static byte[] wire(List<StreamChatResponse> events) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (StreamChatResponse e : events) {
      out.writeBytes(RawGrpcTarget.frame(e.toByteArray()));
    }
    return out.toByteArray();
  }

  /** Feeds {@code bytes} in frames of {@code size} bytes; returns the tokens seen. */
  private static int tokens(GrpcMessageScanner[] holder, byte[] bytes, int size) {
    int[] tokens = {0};
    GrpcMessageScanner s =
        new GrpcMessageScanner(
            (m, compressed) -> {
              if (GrpcMessageScanner.isContentToken(m)) {
                tokens[0]++;
              }
            },
            1 << 20);
    holder[0] = s;
    for (int i = 0; i < bytes.length; i += size) {
      ByteBuf frame = Unpooled.wrappedBuffer(bytes, i, Math.min(size, bytes.length - i));
      s.feed(frame);
      assertThat(frame.readerIndex()).isZero();
    }
    return tokens[0];
  }

  @Test
  void findsTheContentTokensOfAStreamHoweverItIsSplitIntoFrames() {
    byte[] bytes = wire(EVENTS);
    List<Integer> sizes = new ArrayList<>(List.of(1, 2, 3, 5, 7, 64, 1000, bytes.length));
    for (int size : sizes) {
      GrpcMessageScanner[] s = new GrpcMessageScanner[1];
      assertThat(tokens(s, bytes, size)).as("frames of %d bytes", size).isEqualTo(TOKENS);
      assertThat(s[0].messages()).isEqualTo(EVENTS.size());
      assertThat(s[0].midMessage()).isFalse();
      assertThat(s[0].malformed()).isFalse();
    }
  }

  @Test
  void countsMessagesWithoutAListener() {
    byte[] bytes = wire(EVENTS);
    GrpcMessageScanner s = new GrpcMessageScanner(null, 1 << 20);
    s.feed(Unpooled.wrappedBuffer(bytes, 0, 20));
    assertThat(s.midMessage()).isTrue();
    s.feed(Unpooled.wrappedBuffer(bytes, 20, bytes.length - 20));
    assertThat(s.messages()).isEqualTo(EVENTS.size());
    assertThat(s.midMessage()).isFalse();
  }

  @Test
  void aTruncatedResponseEndsMidMessage() {
    byte[] bytes = wire(EVENTS.subList(0, 2));
    GrpcMessageScanner s = new GrpcMessageScanner(null, 1 << 20);
    s.feed(Unpooled.wrappedBuffer(bytes, 0, bytes.length - 1));
    assertThat(s.messages()).isEqualTo(1);
    assertThat(s.midMessage()).isTrue();
  }

  @Test
  void reservedFlagsAndOversizedMessagesAreMalformed() {
    GrpcMessageScanner flags = new GrpcMessageScanner(null, 1 << 20);
    flags.feed(Unpooled.wrappedBuffer(new byte[] {2, 0, 0, 0, 0}));
    GrpcMessageScanner big = new GrpcMessageScanner(null, 100);
    big.feed(Unpooled.wrappedBuffer(new byte[] {0, 0, 0, 0, 101}));

    assertThat(flags.malformed()).isTrue();
    assertThat(big.malformed()).isTrue();
    assertThat(flags.messages() + big.messages()).isZero();
  }

  @Test
  void onlyContentDeltasWithTextAreTokens() {
    List<Boolean> got = new ArrayList<>();
    for (StreamChatResponse e : EVENTS) {
      got.add(GrpcMessageScanner.isContentToken(Unpooled.wrappedBuffer(e.toByteArray())));
    }
    assertThat(got).containsExactly(false, true, false, true, true, true, false, false);
  }
}
