package dev.sluice.dataplane.provider.sse;

import static java.util.Objects.requireNonNull;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import org.jspecify.annotations.Nullable;

/**
 * Decodes a {@code text/event-stream} body incrementally, as the WHATWG HTML standard ("Interpreting
 * an event stream") prescribes, from chunks that may split the stream at any byte.
 *
 * <p>Handled: lines ending in CRLF, LF or CR (also when a CRLF pair is split between chunks); a
 * leading UTF-8 byte order mark (also when split); comments ({@code : keep-alive}); the fields
 * {@code data} (several lines joined with {@code \n}), {@code event}, {@code id} (ignored when it
 * contains NUL) and {@code retry} (digits only); one space after the colon removed; unknown fields
 * ignored; an event is dispatched at a blank line, only when it has data; an incomplete event at the
 * end of the stream is never dispatched (the caller decides what a missing end means).
 *
 * <p>Cost: a chunk is scanned in place (the caller's buffer is read, not copied or retained); only
 * a line that straddles chunks is copied, into a reused buffer, and event data is copied once into
 * a reused heap buffer so that a JSON parser can read it from its backing array. Event type names
 * repeat all stream long, so the few distinct ones are decoded to {@code String}s once and reused.
 *
 * <p>Not thread-safe: one decoder per stream, driven by one thread at a time. {@link #close()}
 * releases the buffers; it may be called from a handler callback, which stops the current {@link
 * #decode} call after that callback.
 */
public final class SseDecoder implements AutoCloseable {
  /** Receives what the decoder finds. Exceptions thrown here propagate out of {@link #decode}. */
  public interface Handler {
    /**
     * One event.
     *
     * @param type the event type ({@code event} field), {@code "message"} when none was given
     * @param data the event's data with lines joined by {@code \n}: a heap buffer ({@code
     *     hasArray()} is true) owned by the decoder and valid only during this call; do not
     *     release it
     */
    void onEvent(String type, ByteBuf data);

    /**
     * A comment line (the text after the colon). Upstreams send these as keep-alives; most
     * handlers ignore them. {@code comment} is valid only during the call.
     */
    default void onComment(ByteBuf comment) {}

    /** A valid {@code retry} field: the reconnection time the server asks for. */
    default void onRetry(long millis) {}
  }

  /** Default limit of one line or one event's data: far above any real chunk, bounded memory. */
  public static final int DEFAULT_MAX_EVENT_BYTES = 8 << 20;

  private static final byte[] BOM = {(byte) 0xEF, (byte) 0xBB, (byte) 0xBF};
  private static final String MESSAGE = "message";
  private static final int TYPE_CACHE_SIZE = 8;

  private final Handler handler;
  private final int maxEventBytes;

  /** Bytes of a line that started in an earlier chunk. */
  private ByteBuf partialLine = Unpooled.EMPTY_BUFFER;
  /** The data buffer; lines after the first are preceded by {@code \n}. */
  private ByteBuf data = Unpooled.EMPTY_BUFFER;

  private boolean hasData;
  private @Nullable String eventType;
  private @Nullable String lastEventIdBuffer;
  private @Nullable String lastEventId;
  /** The previous line ended with CR: a LF that comes next belongs to it. */
  private boolean skipLineFeed;
  /** How many bytes of a leading BOM were seen; -1 once the start of the stream is past. */
  private int bomMatched;
  private boolean closed;

  private final byte[][] typeBytes = new byte[TYPE_CACHE_SIZE][];
  private final String[] typeNames = new String[TYPE_CACHE_SIZE];
  private int typeCount;

  /** A decoder with the default size limit. */
  public SseDecoder(Handler handler) {
    this(handler, DEFAULT_MAX_EVENT_BYTES);
  }

  /**
   * @param maxEventBytes the largest line and the largest event data accepted; larger ones make
   *     {@link #decode} throw {@link SseFormatException}
   */
  public SseDecoder(Handler handler, int maxEventBytes) {
    this.handler = requireNonNull(handler, "handler");
    if (maxEventBytes <= 0) {
      throw new IllegalArgumentException("maxEventBytes: " + maxEventBytes + " (expected: > 0)");
    }
    this.maxEventBytes = maxEventBytes;
  }

  /**
   * Decodes all readable bytes of {@code chunk}, dispatching every event completed by them.
   * Advances the chunk's reader index; does not release it.
   *
   * @throws SseFormatException when a line or an event exceeds the size limit
   */
  public void decode(ByteBuf chunk) {
    if (closed) {
      chunk.skipBytes(chunk.readableBytes());
      return;
    }
    if (bomMatched >= 0 && !skipBom(chunk)) {
      return;
    }
    while (chunk.isReadable() && !closed) {
      int start = chunk.readerIndex();
      if (skipLineFeed) {
        skipLineFeed = false;
        if (chunk.getByte(start) == '\n') {
          chunk.readerIndex(start + 1);
          continue;
        }
      }
      int end = lineEnd(chunk, start, chunk.writerIndex());
      if (end < 0) {
        appendPartialLine(chunk, start, chunk.writerIndex() - start);
        chunk.readerIndex(chunk.writerIndex());
        return;
      }
      skipLineFeed = chunk.getByte(end) == '\r';
      chunk.readerIndex(end + 1);
      if (partialLine.isReadable()) {
        appendPartialLine(chunk, start, end - start);
        ByteBuf line = partialLine;
        line(line, line.readerIndex(), line.readableBytes());
        if (!closed) {
          line.clear();
        }
      } else {
        line(chunk, start, end - start);
      }
    }
  }

  /**
   * The index of the first CR or LF in {@code buf[from, to)}, or -1. Two {@link ByteBuf#indexOf}
   * scans, which Netty runs eight bytes at a time, cost less than one byte-at-a-time {@code
   * forEachByte(FIND_CRLF)}: every streamed token is a line of a few hundred bytes, and lines end
   * in LF nearly always, so the CR scan stops at the LF.
   */
  private static int lineEnd(ByteBuf buf, int from, int to) {
    int lf = buf.indexOf(from, to, (byte) '\n');
    int cr = buf.indexOf(from, lf < 0 ? to : lf, (byte) '\r');
    return cr >= 0 ? cr : lf;
  }

  /**
   * The last event id the stream set (the {@code id} field as of the last dispatch), or null
   * when it set none.
   */
  public @Nullable String lastEventId() {
    return lastEventId;
  }

  /**
   * Whether bytes of an event that was not dispatched are pending: the stream so far ends inside
   * an event. Useful to tell a clean end of stream from a cut one.
   */
  public boolean hasPartialEvent() {
    return hasData || eventType != null || partialLine.isReadable();
  }

  /** Releases the buffers. Further input is ignored. Idempotent. */
  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    partialLine.release();
    data.release();
    partialLine = Unpooled.EMPTY_BUFFER;
    data = Unpooled.EMPTY_BUFFER;
  }

  /** Consumes a leading BOM, possibly split. Returns false when the chunk is used up. */
  private boolean skipBom(ByteBuf chunk) {
    while (chunk.isReadable()) {
      if (chunk.getByte(chunk.readerIndex()) != BOM[bomMatched]) {
        // Not a BOM after all: what was taken for one is ordinary line content.
        if (bomMatched > 0) {
          appendPartialLine(Unpooled.wrappedBuffer(BOM), 0, bomMatched);
        }
        bomMatched = -1;
        return true;
      }
      chunk.skipBytes(1);
      if (++bomMatched == BOM.length) {
        bomMatched = -1;
        return true;
      }
    }
    return false;
  }

  private void appendPartialLine(ByteBuf source, int index, int length) {
    if (partialLine.readableBytes() + length > maxEventBytes) {
      throw new SseFormatException("event stream line exceeds " + maxEventBytes + " bytes");
    }
    if (partialLine == Unpooled.EMPTY_BUFFER) {
      partialLine = Unpooled.buffer(Math.max(256, length));
    }
    partialLine.writeBytes(source, index, length);
  }

  /** Interprets one line (without its terminator) at {@code buf[index, index + length)}. */
  private void line(ByteBuf buf, int index, int length) {
    if (length == 0) {
      dispatch();
      return;
    }
    if (buf.getByte(index) == ':') {
      handler.onComment(buf.slice(index + 1, length - 1));
      return;
    }
    int colon = buf.indexOf(index, index + length, (byte) ':');
    int nameLength = colon < 0 ? length : colon - index;
    int valueIndex = colon < 0 ? index + length : colon + 1;
    if (colon >= 0 && valueIndex < index + length && buf.getByte(valueIndex) == ' ') {
      valueIndex++;
    }
    int valueLength = index + length - valueIndex;
    if (isField(buf, index, nameLength, "data")) {
      appendData(buf, valueIndex, valueLength);
    } else if (isField(buf, index, nameLength, "event")) {
      eventType = typeName(buf, valueIndex, valueLength);
    } else if (isField(buf, index, nameLength, "id")) {
      if (buf.indexOf(valueIndex, valueIndex + valueLength, (byte) 0) < 0) {
        lastEventIdBuffer = buf.toString(valueIndex, valueLength, StandardCharsets.UTF_8);
      }
    } else if (isField(buf, index, nameLength, "retry")) {
      retry(buf, valueIndex, valueLength);
    }
    // Any other field is ignored, as the standard says.
  }

  private void appendData(ByteBuf buf, int index, int length) {
    int needed = length + (hasData ? 1 : 0);
    if (data.readableBytes() + needed > maxEventBytes) {
      throw new SseFormatException("event stream event exceeds " + maxEventBytes + " bytes");
    }
    if (data == Unpooled.EMPTY_BUFFER) {
      data = Unpooled.buffer(Math.max(512, needed));
    }
    if (hasData) {
      data.writeByte('\n');
    }
    data.writeBytes(buf, index, length);
    hasData = true;
  }

  private void retry(ByteBuf buf, int index, int length) {
    if (length == 0 || length > 18) {
      return;
    }
    long millis = 0;
    for (int i = index; i < index + length; i++) {
      byte b = buf.getByte(i);
      if (b < '0' || b > '9') {
        return;
      }
      millis = millis * 10 + (b - '0');
    }
    handler.onRetry(millis);
  }

  private void dispatch() {
    lastEventId = lastEventIdBuffer;
    String type = eventType;
    eventType = null;
    if (!hasData) {
      return;
    }
    hasData = false;
    try {
      handler.onEvent(type == null || type.isEmpty() ? MESSAGE : type, data);
    } finally {
      if (!closed) {
        data.clear();
      }
    }
  }

  private static boolean isField(ByteBuf buf, int index, int length, String name) {
    if (length != name.length()) {
      return false;
    }
    for (int i = 0; i < length; i++) {
      if (buf.getByte(index + i) != name.charAt(i)) {
        return false;
      }
    }
    return true;
  }

  /** The event type as a String, reusing the instance decoded for the same bytes before. */
  private String typeName(ByteBuf buf, int index, int length) {
    for (int i = 0; i < typeCount; i++) {
      byte[] known = typeBytes[i];
      if (known.length == length && matches(buf, index, known)) {
        return typeNames[i];
      }
    }
    String name = buf.toString(index, length, StandardCharsets.UTF_8);
    if (typeCount < TYPE_CACHE_SIZE && length <= 64) {
      byte[] bytes = new byte[length];
      buf.getBytes(index, bytes);
      typeBytes[typeCount] = bytes;
      typeNames[typeCount] = name;
      typeCount++;
    }
    return name;
  }

  private static boolean matches(ByteBuf buf, int index, byte[] bytes) {
    for (int i = 0; i < bytes.length; i++) {
      if (buf.getByte(index + i) != bytes[i]) {
        return false;
      }
    }
    return true;
  }
}
