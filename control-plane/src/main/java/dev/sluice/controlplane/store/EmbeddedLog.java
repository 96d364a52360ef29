package dev.sluice.controlplane.store;

import static java.util.Objects.requireNonNull;

import com.google.common.collect.ImmutableList;
import com.google.common.collect.ImmutableSortedMap;
import com.google.protobuf.CodedInputStream;
import com.google.protobuf.CodedOutputStream;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.WireFormat;
import dev.sluice.admin.v1.ChangeRecord;
import dev.sluice.config.v1.Resource;
import dev.sluice.config.v1.ResourceRef;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.logging.Logger;
import java.util.zip.CRC32C;
import org.jspecify.annotations.Nullable;

/**
 * The on-disk format of the embedded store: one append-only file of checksummed frames.
 *
 * <pre>
 * file    := header-frame base-frame entry-frame*
 * frame   := length:u32 crc32c:u32 type:u8 payload      (big endian; crc over type and payload;
 *                                                        length counts type and payload)
 * header  := { 1: format (varint) = 1, 2: epoch (fixed64) }
 * base    := { 1: version (varint), 2: resource (bytes, sluice.config.v1.Resource)* }
 * entry   := { 1: record (bytes, sluice.admin.v1.ChangeRecord),
 *              2: upsert (bytes, Resource, with its version set)*,
 *              3: delete (bytes, sluice.config.v1.ResourceRef)* }
 * </pre>
 *
 * Payloads use the protobuf wire format, so they can be inspected with {@code protoc
 * --decode_raw}. The base frame holds the whole config at the oldest version still kept; every
 * entry frame is one committed change. An entry is appended and forced to disk before its commit
 * is acknowledged, so an acknowledged change survives a crash. A crash in the middle of an append
 * leaves a torn last frame, which {@link #read} cuts off (that commit was never acknowledged).
 * Compaction writes a new file with a later base and the remaining entries, forces it, and renames
 * it over the old one atomically.
 */
final class EmbeddedLog implements AutoCloseable {
  private static final Logger logger = Logger.getLogger(EmbeddedLog.class.getName());

  static final String FILE_NAME = "config.log";
  private static final String TEMP_FILE_NAME = "config.log.tmp";
  private static final int FORMAT = 1;
  private static final int FRAME_HEADER_BYTES = 8;
  /** Upper bound of one frame: a change set is at most 1 MiB; the base may hold the whole config. */
  private static final int MAX_FRAME_BYTES = 512 * 1024 * 1024;

  private static final byte TYPE_HEADER = 1;
  private static final byte TYPE_BASE = 2;
  private static final byte TYPE_ENTRY = 3;

  /** One committed change as stored. */
  record Entry(ChangeRecord record, ImmutableList<Resource> upserts, ImmutableList<ResourceKey> deletes) {
    Entry {
      requireNonNull(record, "record");
      requireNonNull(upserts, "upserts");
      requireNonNull(deletes, "deletes");
    }

    long version() {
      return record.getConfigVersion();
    }
  }

  /** What {@link #read} found. */
  record Contents(long epoch, StoredConfig base, ImmutableList<Entry> entries) {}

  private final Path directory;
  private FileChannel channel;

  private EmbeddedLog(Path directory, FileChannel channel) {
    this.directory = directory;
    this.channel = channel;
  }

  /** Whether {@code directory} holds a log. */
  static boolean exists(Path directory) {
    return Files.exists(directory.resolve(FILE_NAME));
  }

  /** Creates a new log with an empty base at version 0. */
  static EmbeddedLog create(Path directory, long epoch) throws IOException {
    Path file = directory.resolve(FILE_NAME);
    writeAtomically(directory, epoch, StoredConfig.empty(), List.of());
    return new EmbeddedLog(directory, appendChannel(file));
  }

  /** Opens the existing log for appending; {@link #read} it first. */
  static EmbeddedLog openForAppend(Path directory) throws IOException {
    return new EmbeddedLog(directory, appendChannel(directory.resolve(FILE_NAME)));
  }

  /** Appends {@code entry} and forces it to disk. */
  void append(Entry entry) throws IOException {
    ByteBuffer frame = frame(TYPE_ENTRY, encodeEntry(entry));
    while (frame.hasRemaining()) {
      channel.write(frame);
    }
    channel.force(false);
  }

  /** Replaces the log by one holding {@code base} and {@code entries}, atomically. */
  void rewrite(long epoch, StoredConfig base, List<Entry> entries) throws IOException {
    writeAtomically(directory, epoch, base, entries);
    FileChannel old = channel;
    channel = appendChannel(directory.resolve(FILE_NAME));
    old.close();
  }

  @Override
  public void close() throws IOException {
    channel.close();
  }

  private static FileChannel appendChannel(Path file) throws IOException {
    FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE);
    ch.position(ch.size());
    return ch;
  }

  private static void writeAtomically(
      Path directory, long epoch, StoredConfig base, List<Entry> entries) throws IOException {
    Path temp = directory.resolve(TEMP_FILE_NAME);
    try (FileChannel out =
        FileChannel.open(
            temp,
            StandardOpenOption.CREATE,
            StandardOpenOption.TRUNCATE_EXISTING,
            StandardOpenOption.WRITE)) {
      writeFully(out, frame(TYPE_HEADER, encodeHeader(epoch)));
      writeFully(out, frame(TYPE_BASE, encodeBase(base)));
      for (Entry entry : entries) {
        writeFully(out, frame(TYPE_ENTRY, encodeEntry(entry)));
      }
      out.force(true);
    }
    Files.move(
        temp,
        directory.resolve(FILE_NAME),
        StandardCopyOption.ATOMIC_MOVE,
        StandardCopyOption.REPLACE_EXISTING);
    forceDirectory(directory);
  }

  /** Makes a rename or file creation in {@code directory} durable (Linux semantics). */
  static void forceDirectory(Path directory) throws IOException {
    try (FileChannel dir = FileChannel.open(directory, StandardOpenOption.READ)) {
      dir.force(true);
    } catch (IOException e) {
      // Some platforms cannot open a directory for reading; the rename is still atomic there.
      logger.fine(() -> "Cannot force directory " + directory + ": " + e);
    }
  }

  private static void writeFully(FileChannel out, ByteBuffer buffer) throws IOException {
    while (buffer.hasRemaining()) {
      out.write(buffer);
    }
  }

  private static ByteBuffer frame(byte type, byte[] payload) {
    CRC32C crc = new CRC32C();
    crc.update(type);
    crc.update(payload);
    ByteBuffer buffer = ByteBuffer.allocate(FRAME_HEADER_BYTES + 1 + payload.length);
    buffer.putInt(1 + payload.length).putInt((int) crc.getValue()).put(type).put(payload).flip();
    return buffer;
  }

  // ---- reading

  /** Reads the log in {@code directory}, cutting off a torn last frame. */
  static Contents read(Path directory) throws IOException {
    Path file = directory.resolve(FILE_NAME);
    byte[] bytes = Files.readAllBytes(file);
    ByteBuffer buffer = ByteBuffer.wrap(bytes);
    long epoch = 0;
    StoredConfig base = null;
    ImmutableList.Builder<Entry> entries = ImmutableList.builder();
    for (int index = 0; buffer.hasRemaining(); index++) {
      int offset = buffer.position();
      Frame frame = readFrame(buffer, file);
      if (frame == null) {
        logger.warning(
            () ->
                "Cutting off a torn last frame of "
                    + file
                    + " at byte offset "
                    + offset
                    + "; that change was never acknowledged");
        truncate(file, offset);
        break;
      }
      switch (index) {
        case 0 -> {
          expectType(frame, TYPE_HEADER, file);
          epoch = decodeHeader(frame.payload, file);
        }
        case 1 -> {
          expectType(frame, TYPE_BASE, file);
          base = decodeBase(frame.payload, epoch);
        }
        default -> {
          expectType(frame, TYPE_ENTRY, file);
          entries.add(decodeEntry(frame.payload));
        }
      }
    }
    if (base == null) {
      throw new IOException(file + " is damaged: it lacks its header or base frame");
    }
    return new Contents(epoch, base, entries.build());
  }

  private record Frame(byte type, byte[] payload) {}

  /**
   * Reads the frame at the buffer's position. Returns null for a torn frame that ends the file
   * (an append interrupted by a crash: cut short, zero-filled, or failing its checksum as the very
   * last frame); throws for damage anywhere else, because cutting there would lose acknowledged
   * changes.
   */
  private static @Nullable Frame readFrame(ByteBuffer buffer, Path file)
      throws IOException {
    int offset = buffer.position();
    int remaining = buffer.remaining();
    if (remaining < FRAME_HEADER_BYTES + 1) {
      return null;
    }
    int length = buffer.getInt();
    int crc = buffer.getInt();
    if (length < 1 || length > MAX_FRAME_BYTES) {
      if (allZero(buffer)) {
        return null;
      }
      throw new IOException(
          file + " is damaged: frame length " + length + " at byte offset " + offset);
    }
    if (length > buffer.remaining()) {
      return null;
    }
    byte[] body = new byte[length];
    buffer.get(body);
    CRC32C check = new CRC32C();
    check.update(body);
    if ((int) check.getValue() != crc) {
      if (!buffer.hasRemaining()) {
        return null;
      }
      throw new IOException(file + " is damaged: checksum mismatch at byte offset " + offset);
    }
    byte[] payload = new byte[length - 1];
    System.arraycopy(body, 1, payload, 0, payload.length);
    return new Frame(body[0], payload);
  }

  private static boolean allZero(ByteBuffer buffer) {
    while (buffer.hasRemaining()) {
      if (buffer.get() != 0) {
        return false;
      }
    }
    return true;
  }

  private static void truncate(Path file, long length) throws IOException {
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
      ch.truncate(length);
      ch.force(true);
    }
  }

  private static void expectType(Frame frame, byte type, Path file) throws IOException {
    if (frame.type != type) {
      throw new IOException(
          file + " is damaged: frame type " + frame.type + " (expected: " + type + ")");
    }
  }

  // ---- payload encoding

  private static byte[] encodeHeader(long epoch) throws IOException {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    CodedOutputStream out = CodedOutputStream.newInstance(bytes);
    out.writeInt32(1, FORMAT);
    out.writeFixed64(2, epoch);
    out.flush();
    return bytes.toByteArray();
  }

  private static long decodeHeader(byte[] payload, Path file) throws IOException {
    CodedInputStream in = CodedInputStream.newInstance(payload);
    int format = 0;
    long epoch = 0;
    for (int tag = in.readTag(); tag != 0; tag = in.readTag()) {
      switch (WireFormat.getTagFieldNumber(tag)) {
        case 1 -> format = in.readInt32();
        case 2 -> epoch = in.readFixed64();
        default -> in.skipField(tag);
      }
    }
    if (format != FORMAT) {
      throw new IOException(file + " has format " + format + " (expected: " + FORMAT + ")");
    }
    return epoch;
  }

  private static byte[] encodeBase(StoredConfig base) throws IOException {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    CodedOutputStream out = CodedOutputStream.newInstance(bytes);
    out.writeInt64(1, base.version());
    for (Resource resource : base.resources().values()) {
      out.writeMessage(2, resource);
    }
    out.flush();
    return bytes.toByteArray();
  }

  private static StoredConfig decodeBase(byte[] payload, long epoch) throws IOException {
    CodedInputStream in = CodedInputStream.newInstance(payload);
    in.setRecursionLimit(200);
    long version = 0;
    ImmutableSortedMap.Builder<ResourceKey, Resource> resources = ImmutableSortedMap.naturalOrder();
    for (int tag = in.readTag(); tag != 0; tag = in.readTag()) {
      switch (WireFormat.getTagFieldNumber(tag)) {
        case 1 -> version = in.readInt64();
        case 2 -> {
          Resource resource = Resource.parseFrom(in.readBytes());
          resources.put(ResourceKey.of(resource), resource);
        }
        default -> in.skipField(tag);
      }
    }
    return new StoredConfig(epoch, version, resources.buildOrThrow());
  }

  private static byte[] encodeEntry(Entry entry) throws IOException {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    CodedOutputStream out = CodedOutputStream.newInstance(bytes);
    out.writeMessage(1, entry.record());
    for (Resource resource : entry.upserts()) {
      out.writeMessage(2, resource);
    }
    for (ResourceKey key : entry.deletes()) {
      out.writeMessage(3, key.toRef());
    }
    out.flush();
    return bytes.toByteArray();
  }

  private static Entry decodeEntry(byte[] payload) throws InvalidProtocolBufferException {
    try {
      CodedInputStream in = CodedInputStream.newInstance(payload);
      ChangeRecord record = ChangeRecord.getDefaultInstance();
      List<Resource> upserts = new ArrayList<>();
      List<ResourceKey> deletes = new ArrayList<>();
      for (int tag = in.readTag(); tag != 0; tag = in.readTag()) {
        switch (WireFormat.getTagFieldNumber(tag)) {
          case 1 -> record = ChangeRecord.parseFrom(in.readBytes());
          case 2 -> upserts.add(Resource.parseFrom(in.readBytes()));
          case 3 -> deletes.add(ResourceKey.of(ResourceRef.parseFrom(in.readBytes())));
          default -> in.skipField(tag);
        }
      }
      return new Entry(record, ImmutableList.copyOf(upserts), ImmutableList.copyOf(deletes));
    } catch (InvalidProtocolBufferException e) {
      throw e;
    } catch (IOException e) {
      throw new InvalidProtocolBufferException(e);
    }
  }
}
