package dev.sluice.dataplane.config;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.InvalidProtocolBufferException;
import dev.sluice.config.v1.ConfigSnapshot;
import dev.sluice.discovery.v1.StreamConfigResponse;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import org.jspecify.annotations.Nullable;

/**
 * The node's local copy of its last applied config, so it can boot and serve without a control
 * plane.
 *
 * <p>Layout: an 8-byte magic, the payload length (4 bytes, big-endian), the payload (a {@link
 * StreamConfigResponse} holding {@code version_info} and the snapshot), and the SHA-256 of the
 * payload, so a torn or corrupted file is detected instead of served. Writes go to a temporary file
 * in the same directory, which is fsynced and then renamed over the old one atomically, and the
 * directory is fsynced: after a crash the file holds either the old or the new config, whole.
 *
 * <p>Not thread-safe: used on the config thread only.
 */
final class SnapshotFile {
  private static final byte[] MAGIC = "SLUICEC1".getBytes(StandardCharsets.US_ASCII);
  private static final int DIGEST_BYTES = 32;

  /** Bigger than any snapshot the control plane may send. */
  private static final int MAX_PAYLOAD_BYTES = 256 << 20;

  private final Path path;

  SnapshotFile(Path path) {
    this.path = requireNonNull(path, "path").toAbsolutePath();
  }

  Path path() {
    return path;
  }

  /** Replaces the file's content with {@code snapshot} at {@code versionInfo}, durably. */
  void write(String versionInfo, ConfigSnapshot snapshot) throws IOException {
    byte[] payload =
        StreamConfigResponse.newBuilder()
            .setVersionInfo(versionInfo)
            .setSnapshot(snapshot)
            .build()
            .toByteArray();
    ByteBuffer buffer = ByteBuffer.allocate(MAGIC.length + 4 + payload.length + DIGEST_BYTES);
    buffer.put(MAGIC).putInt(payload.length).put(payload).put(sha256(payload)).flip();

    Path dir = path.getParent();
    Files.createDirectories(dir);
    Path temp = Files.createTempFile(dir, path.getFileName().toString(), ".tmp");
    try {
      try (FileChannel out = FileChannel.open(temp, StandardOpenOption.WRITE)) {
        while (buffer.hasRemaining()) {
          out.write(buffer);
        }
        out.force(true);
      }
      try {
        Files.move(temp, path, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
      } catch (AtomicMoveNotSupportedException e) {
        Files.move(temp, path, StandardCopyOption.REPLACE_EXISTING);
      }
    } finally {
      Files.deleteIfExists(temp);
    }
    fsyncDirectory(dir);
  }

  /**
   * Reads the file: null when there is none.
   *
   * @throws IOException when it cannot be read or fails its integrity check
   */
  @Nullable StreamConfigResponse read() throws IOException {
    byte[] bytes;
    try {
      bytes = Files.readAllBytes(path);
    } catch (NoSuchFileException e) {
      return null;
    }
    ByteBuffer buffer = ByteBuffer.wrap(bytes);
    if (bytes.length < MAGIC.length + 4 + DIGEST_BYTES
        || !Arrays.equals(Arrays.copyOf(bytes, MAGIC.length), MAGIC)) {
      throw new IOException(path + ": not a Sluice config cache file");
    }
    buffer.position(MAGIC.length);
    int length = buffer.getInt();
    if (length < 0
        || length > MAX_PAYLOAD_BYTES
        || bytes.length != MAGIC.length + 4 + length + DIGEST_BYTES) {
      throw new IOException(path + ": truncated or oversized (payload length " + length + ")");
    }
    byte[] payload = new byte[length];
    buffer.get(payload);
    byte[] digest = new byte[DIGEST_BYTES];
    buffer.get(digest);
    if (!MessageDigest.isEqual(digest, sha256(payload))) {
      throw new IOException(path + ": checksum mismatch");
    }
    try {
      return StreamConfigResponse.parseFrom(payload);
    } catch (InvalidProtocolBufferException e) {
      throw new IOException(path + ": unreadable payload", e);
    }
  }

  private static void fsyncDirectory(Path dir) {
    try (FileChannel channel = FileChannel.open(dir, StandardOpenOption.READ)) {
      channel.force(true);
    } catch (IOException | UnsupportedOperationException e) {
      // Some platforms cannot open directories; the rename is still atomic there.
    }
  }

  private static byte[] sha256(byte[] bytes) {
    try {
      return MessageDigest.getInstance("SHA-256").digest(bytes);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-256 is required of every JVM", e);
    }
  }
}
