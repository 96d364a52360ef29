package dev.sluice.controlplane.snapshot;

import static java.util.Objects.requireNonNull;

import com.google.common.hash.Hashing;
import com.google.protobuf.ByteString;
import com.google.protobuf.CodedOutputStream;
import dev.sluice.config.v1.ConfigSnapshot;
import dev.sluice.config.v1.Resource;
import dev.sluice.controlplane.store.StoredConfig;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Instant;

/**
 * One validated config version as data planes receive it: the {@code ConfigSnapshot} proto (with
 * API key hashes, which data planes need and admin exports never show), its identity, and its
 * encoding, computed once so that sending it to a thousand data planes does not encode it a
 * thousand times.
 *
 * @param epoch the store epoch of the version (see {@link StoredConfig#epoch()})
 * @param proto the snapshot, its {@code digest} set
 * @param serialized {@code proto} in the protobuf wire format
 * @param builtAt when this control plane built it
 */
public record Snapshot(long epoch, ConfigSnapshot proto, ByteString serialized, Instant builtAt) {
  public Snapshot {
    requireNonNull(proto, "proto");
    requireNonNull(serialized, "serialized");
    requireNonNull(builtAt, "builtAt");
  }

  /** Builds the snapshot of {@code config}, computing its digest and encoding. */
  public static Snapshot of(StoredConfig config, Instant builtAt) {
    ConfigSnapshot.Builder builder =
        ConfigSnapshot.newBuilder()
            .setVersion(config.version())
            .addAllResources(config.resources().values());
    builder.setDigest(digest(builder.build()));
    ConfigSnapshot proto = builder.build();
    return new Snapshot(config.epoch(), proto, proto.toByteString(), builtAt);
  }

  /**
   * The hex SHA-256 of {@code snapshot}'s version and resources (its own {@code digest} field is
   * ignored), over protobuf's deterministic serialization: resources in kind and name order and
   * map entries sorted by key, so equal content gives an equal digest on every replica of the
   * same build.
   */
  public static String digest(ConfigSnapshot snapshot) {
    ConfigSnapshot content = snapshot.toBuilder().clearDigest().build();
    ByteArrayOutputStream bytes = new ByteArrayOutputStream(content.getSerializedSize());
    try {
      CodedOutputStream out = CodedOutputStream.newInstance(bytes);
      out.useDeterministicSerialization();
      content.writeTo(out);
      out.flush();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return Hashing.sha256().hashBytes(bytes.toByteArray()).toString();
  }

  /** The config version. */
  public long version() {
    return proto.getVersion();
  }

  /** The content digest, see {@link #digest(ConfigSnapshot)}. */
  public String digest() {
    return proto.getDigest();
  }

  /** The discovery {@code version_info}: {@code <epoch in lower-case hex>.<version>}. */
  public String versionInfo() {
    return VersionInfo.format(epoch, version());
  }

  /** The resources, in kind and name order. */
  public java.util.List<Resource> resources() {
    return proto.getResourcesList();
  }
}
