package dev.sluice.controlplane.store;

import static java.util.Objects.requireNonNull;

import com.google.common.base.Preconditions;
import com.google.common.collect.ImmutableSortedMap;
import dev.sluice.config.v1.Resource;

/**
 * The whole config at one version: every resource keyed by kind and name, each with its own
 * {@code version} field set to the config version that last changed it.
 *
 * @param version the config version (the head); 0 for a store that was never written
 * @param resources every resource, in kind then name order
 */
public record StoredConfig(long version, ImmutableSortedMap<ResourceKey, Resource> resources) {
  public StoredConfig {
    Preconditions.checkArgument(version >= 0, "version: %s (expected: >= 0)", version);
    requireNonNull(resources, "resources");
  }

  /** The config of a fresh installation. */
  public static StoredConfig empty() {
    return new StoredConfig(0, ImmutableSortedMap.of());
  }
}
