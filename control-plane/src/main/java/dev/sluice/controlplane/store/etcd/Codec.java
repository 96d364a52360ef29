package dev.sluice.controlplane.store.etcd;

import static java.nio.charset.StandardCharsets.UTF_8;

import com.google.common.collect.ImmutableSortedMap;
import com.google.protobuf.InvalidProtocolBufferException;
import dev.sluice.admin.v1.ChangeRecord;
import dev.sluice.admin.v1.FleetStatusRecord;
import dev.sluice.config.v1.Resource;
import dev.sluice.controlplane.store.ResourceKey;
import dev.sluice.controlplane.store.Resources;
import dev.sluice.controlplane.store.StoredConfig;
import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.KeyValue;
import java.security.SecureRandom;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.jspecify.annotations.Nullable;

/**
 * Values in and out of etcd. Versions never travel inside values: they are set from each key's
 * {@code mod_revision} on the way out, so the stored bytes and the version cannot disagree.
 */
final class Codec {
  private static final Logger logger = Logger.getLogger(Codec.class.getName());
  private static final SecureRandom RANDOM = new SecureRandom();

  private Codec() {}

  static ByteSequence encode(Resource resource) {
    return ByteSequence.from(Resources.withVersion(resource, 0).toByteString());
  }

  /** The stored form of a change record: no config version (that is the key's revision). */
  static ByteSequence encode(ChangeRecord record) {
    return ByteSequence.from(record.toBuilder().clearConfigVersion().build().toByteString());
  }

  /**
   * The resource stored at {@code kv}, with its version set, or null (logged) when the value is not
   * a resource of the kind and name its key says: something other than this store wrote it, or a
   * newer Sluice wrote a kind this one does not know. Skipping it keeps one bad key from taking the
   * whole config down.
   */
  static @Nullable Resource decodeResource(KeyLayout layout, KeyValue kv) {
    String key = KeyLayout.string(kv.getKey());
    ResourceKey expected = layout.parseConfig(key);
    if (expected == null) {
      logger.warning("ignoring config key of an unknown kind: " + key);
      return null;
    }
    try {
      Resource resource = Resource.parseFrom(kv.getValue().getBytes());
      if (resource.getKindCase() == Resource.KindCase.KIND_NOT_SET
          || !ResourceKey.of(resource).equals(expected)) {
        logger.warning("ignoring config key whose value is not the resource it names: " + key);
        return null;
      }
      return Resources.withVersion(resource, kv.getModRevision());
    } catch (InvalidProtocolBufferException | IllegalArgumentException e) {
      logger.log(Level.WARNING, "ignoring undecodable config key " + key, e);
      return null;
    }
  }

  /** The change record stored at {@code kv}, its config version being the key's revision. */
  static ChangeRecord decodeRecord(KeyValue kv) {
    try {
      return ChangeRecord.parseFrom(kv.getValue().getBytes()).toBuilder()
          .setConfigVersion(kv.getModRevision())
          .build();
    } catch (InvalidProtocolBufferException e) {
      throw new IllegalStateException(
          "undecodable change record at " + KeyLayout.string(kv.getKey()), e);
    }
  }

  static ByteSequence encode(FleetStatusRecord record) {
    return ByteSequence.from(record.toByteString());
  }

  /**
   * The fleet-status record stored at {@code kv}, or null (logged) when it does not decode: one
   * replica's bad record must not hide the others'.
   */
  static @Nullable FleetStatusRecord decodeStatus(KeyValue kv) {
    try {
      return FleetStatusRecord.parseFrom(kv.getValue().getBytes());
    } catch (InvalidProtocolBufferException e) {
      logger.log(
          Level.WARNING,
          "ignoring undecodable fleet status at " + KeyLayout.string(kv.getKey()),
          e);
      return null;
    }
  }

  /** The stored form of an epoch: decimal text, so {@code etcdctl get} shows it as it is. */
  static ByteSequence encodeEpoch(long epoch) {
    return ByteSequence.from(Long.toUnsignedString(epoch), UTF_8);
  }

  /** The epoch stored at {@code kv}; 0 (the epoch of a store never written) when absent or bad. */
  static long decodeEpoch(@Nullable KeyValue kv) {
    if (kv == null || kv.getValue().isEmpty()) {
      return 0;
    }
    try {
      return Long.parseUnsignedLong(kv.getValue().toString(UTF_8));
    } catch (NumberFormatException e) {
      logger.warning("ignoring an undecodable epoch at " + KeyLayout.string(kv.getKey()));
      return 0;
    }
  }

  /** A new random epoch: non-zero, so it differs from that of a store never written. */
  static long newEpoch() {
    long epoch;
    do {
      epoch = RANDOM.nextLong() & Long.MAX_VALUE;
    } while (epoch == 0);
    return epoch;
  }

  /**
   * The whole config of a listing. Its version is the head's revision, or a later config key's when
   * something wrote config without going through the store (unsupported, but then every reader
   * still sees a version that moved with the content).
   */
  static StoredConfig toStoredConfig(KeyLayout layout, EtcdCalls.Listing listing) {
    ImmutableSortedMap.Builder<ResourceKey, Resource> resources = ImmutableSortedMap.naturalOrder();
    long version = listing.head() == null ? 0 : listing.head().getModRevision();
    for (KeyValue kv : listing.config()) {
      version = Math.max(version, kv.getModRevision());
      Resource resource = decodeResource(layout, kv);
      if (resource != null) {
        resources.put(ResourceKey.of(resource), resource);
      }
    }
    return new StoredConfig(decodeEpoch(listing.epoch()), version, resources.buildOrThrow());
  }
}
