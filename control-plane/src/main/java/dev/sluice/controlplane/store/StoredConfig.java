package dev.sluice.controlplane.store;

import static java.util.Objects.requireNonNull;

import com.google.common.base.Preconditions;
import com.google.common.collect.ImmutableSortedMap;
import dev.sluice.config.v1.Resource;
import java.util.Optional;

/**
 * The whole config at one version: every resource keyed by kind and name, each with its own
 * {@code version} field set to the config version that last changed it.
 *
 * @param epoch identifies the store's version lineage: versions are comparable only within one
 *     epoch. A store keeps its epoch for life and changes it only when its versions could repeat
 *     (an embedded store whose directory was recreated, an etcd cluster restored from a backup
 *     whose revisions went backwards). Data planes see it as the {@code <epoch>} part of {@code
 *     version_info}; a node reporting another epoch always gets a full snapshot. A store without
 *     a notion of epochs uses 0.
 * @param version the config version (the head); 0 for a store that was never written
 * @param resources every resource, in kind then name order
 */
public record StoredConfig(
    long epoch, long version, ImmutableSortedMap<ResourceKey, Resource> resources) {
  public StoredConfig {
    Preconditions.checkArgument(version >= 0, "version: %s (expected: >= 0)", version);
    requireNonNull(resources, "resources");
  }

  /** A config in epoch 0. */
  public StoredConfig(long version, ImmutableSortedMap<ResourceKey, Resource> resources) {
    this(0, version, resources);
  }

  /** The config of a fresh installation. */
  public static StoredConfig empty() {
    return new StoredConfig(0, ImmutableSortedMap.of());
  }

  /** The resource with this key, if present. */
  public Optional<Resource> get(ResourceKey key) {
    return Optional.ofNullable(resources.get(key));
  }
}
