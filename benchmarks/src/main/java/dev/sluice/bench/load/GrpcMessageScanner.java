package dev.sluice.bench.load;

import dev.sluice.inference.v1.ContentDelta;
import dev.sluice.inference.v1.StreamChatResponse;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import org.jspecify.annotations.Nullable;

/**
 * Splits the DATA of one gRPC response into its length-prefixed messages (1 flag byte, 4 length
 * bytes, the message), however the messages fall across DATA frames, without decoding them.
 *
 * <p>Without a listener it only counts messages and skips their bytes; with one, it hands each
 * message over as a slice of the frame, or, for the rare message split across frames, as a copy.
 * {@link #isContentToken} then tells a stream's token events apart by reading the protobuf wire
 * format in place. Not thread-safe: one scanner per call, fed by one thread at a time.
 */
final class GrpcMessageScanner {
  /** Receives each complete message; {@code message} is valid only during the call. */
  interface Listener {
    void onMessage(ByteBuf message, boolean compressed);
  }

  private static final int PREFIX = 5;

  private final @Nullable Listener listener;
  private final int maxMessageBytes;
  private int prefixRead;
  private boolean compressed;
  private long length;
  private long remaining;
  private @Nullable ByteBuf partial;
  private int messages;
  private boolean malformed;

  GrpcMessageScanner(@Nullable Listener listener, int maxMessageBytes) {
    this.listener = listener;
    this.maxMessageBytes = maxMessageBytes;
  }

  /** Reads {@code data} (its readable bytes; indices are left alone, nothing is released). */
  void feed(ByteBuf data) {
    int i = data.readerIndex();
    int end = data.writerIndex();
    while (i < end && !malformed) {
      if (prefixRead < PREFIX) {
        int b = data.getUnsignedByte(i++);
        if (prefixRead == 0) {
          if (b > 1) {
            fail(); // flags other than "compressed" are reserved
            return;
          }
          compressed = b == 1;
          length = 0;
        } else {
          length = (length << 8) | b;
        }
        if (++prefixRead == PREFIX) {
          if (length > maxMessageBytes) {
            fail();
            return;
          }
          remaining = length;
          if (remaining == 0) {
            complete(Unpooled.EMPTY_BUFFER);
          }
        }
        continue;
      }
      int n = (int) Math.min(remaining, end - i);
      if (listener != null) {
        if (partial == null && n == remaining) {
          remaining = 0;
          complete(data.slice(i, n));
          i += n;
          continue;
        }
        if (partial == null) {
          partial = Unpooled.buffer((int) length);
        }
        partial.writeBytes(data, i, n);
      }
      i += n;
      remaining -= n;
      if (remaining == 0) {
        ByteBuf whole = partial;
        partial = null;
        try {
          complete(whole != null ? whole : Unpooled.EMPTY_BUFFER);
        } finally {
          if (whole != null) {
            whole.release();
          }
        }
      }
    }
  }

  private void complete(ByteBuf message) {
    messages++;
    prefixRead = 0;
    if (listener != null) {
      listener.onMessage(message, compressed);
    }
  }

  private void fail() {
    malformed = true;
    release();
  }

  /** Complete messages seen so far. */
  int messages() {
    return messages;
  }

  /** Whether the bytes seen so far end inside a message (a truncated response if the call ends). */
  boolean midMessage() {
    return prefixRead > 0;
  }

  /** Whether a reserved flag or an oversized length was seen; nothing is read after that. */
  boolean malformed() {
    return malformed;
  }

  /** Frees the copy of a split message, if the call ends in the middle of one. */
  void release() {
    if (partial != null) {
      partial.release();
      partial = null;
    }
  }

  /**
   * Whether {@code message}, a serialized {@code StreamChatResponse}, is a content delta carrying
   * non-empty text, reasoning text or refusal: what {@code GrpcTarget} counts as a token, read from
   * the wire format without building the message.
   */
  static boolean isContentToken(ByteBuf message) {
    WireReader top = new WireReader(message, message.readerIndex(), message.writerIndex());
    while (top.more()) {
      long tag = top.varint();
      if (tag < 0) {
        return false;
      }
      int field = (int) (tag >>> 3);
      int type = (int) (tag & 7);
      if (field == StreamChatResponse.CONTENT_DELTA_FIELD_NUMBER && type == 2) {
        long len = top.varint();
        if (len < 0 || len > top.left()) {
          return false;
        }
        int start = top.pos;
        top.pos += (int) len;
        if (deltaHasText(new WireReader(message, start, start + (int) len))) {
          return true;
        }
      } else if (!top.skip(type)) {
        return false;
      }
    }
    return false;
  }

  private static boolean deltaHasText(WireReader r) {
    while (r.more()) {
      long tag = r.varint();
      if (tag < 0) {
        return false;
      }
      int field = (int) (tag >>> 3);
      int type = (int) (tag & 7);
      if (type == 2
          && (field == ContentDelta.TEXT_FIELD_NUMBER
              || field == ContentDelta.REASONING_TEXT_FIELD_NUMBER
              || field == ContentDelta.REFUSAL_FIELD_NUMBER)) {
        long len = r.varint();
        if (len > 0 && len <= r.left()) {
          return true;
        }
        if (len < 0 || len > r.left()) {
          return false;
        }
      } else if (!r.skip(type)) {
        return false;
      }
    }
    return false;
  }

  /** A cursor over protobuf wire format; malformed input reads as -1 or false. */
  private static final class WireReader {
    private final ByteBuf buf;
    private final int end;
    int pos;

    WireReader(ByteBuf buf, int pos, int end) {
      this.buf = buf;
      this.pos = pos;
      this.end = end;
    }

    boolean more() {
      return pos < end;
    }

    int left() {
      return end - pos;
    }

    /** A tag or a length: -1 when malformed or beyond {@code Integer.MAX_VALUE}. */
    long varint() {
      long v = 0;
      for (int shift = 0; shift < 64 && pos < end; shift += 7) {
        int b = buf.getUnsignedByte(pos++);
        v |= (long) (b & 0x7f) << shift;
        if (b < 0x80) {
          return v < 0 || v > Integer.MAX_VALUE ? -1 : v;
        }
      }
      return -1;
    }

    /** Skips a varint of any value (negative int32s take ten bytes). */
    private boolean skipVarint() {
      for (int n = 0; n < 10 && pos < end; n++) {
        if (buf.getUnsignedByte(pos++) < 0x80) {
          return true;
        }
      }
      return false;
    }

    boolean skip(int type) {
      switch (type) {
        case 0 -> {
          return skipVarint();
        }
        case 1 -> pos += 8;
        case 2 -> {
          long len = varint();
          if (len < 0 || len > left()) {
            return false;
          }
          pos += (int) len;
        }
        case 5 -> pos += 4;
        default -> {
          return false; // groups are not used by these messages
        }
      }
      return pos <= end;
    }
  }
}
