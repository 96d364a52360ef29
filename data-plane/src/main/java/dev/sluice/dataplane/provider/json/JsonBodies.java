package dev.sluice.dataplane.provider.json;

import com.fasterxml.jackson.core.JsonGenerator;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufOutputStream;
import java.io.IOException;
import java.io.OutputStream;

/** Writes JSON request bodies straight into pooled buffers. */
public final class JsonBodies {
  private JsonBodies() {}

  /** Writes one JSON document. */
  @FunctionalInterface
  public interface Writer {
    void write(JsonGenerator g) throws IOException;
  }

  /**
   * A buffer from {@code allocator} holding what {@code writer} writes; released again (and the
   * exception rethrown) if writing fails, for example because the request cannot be mapped.
   */
  public static ByteBuf write(ByteBufAllocator allocator, Writer writer) {
    ByteBuf buf = allocator.buffer(1024);
    boolean ok = false;
    try (JsonGenerator g =
        ProtoJson.FACTORY.createGenerator((OutputStream) new ByteBufOutputStream(buf))) {
      writer.write(g);
      ok = true;
    } catch (IOException e) {
      throw new IllegalStateException("writing JSON to a buffer failed", e);
    } finally {
      if (!ok) {
        buf.release();
      }
    }
    return buf;
  }
}
