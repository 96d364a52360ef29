package dev.sluice.dataplane.config;

import org.jspecify.annotations.Nullable;

/**
 * A discovery {@code version_info}, {@code <epoch>.<version>}: versions of one epoch are ordered,
 * versions of different epochs are not comparable.
 */
record ConfigVersion(String epoch, long version) {
  /** Parses {@code versionInfo}, or returns null when it does not have the documented form. */
  static @Nullable ConfigVersion parse(String versionInfo) {
    int dot = versionInfo.lastIndexOf('.');
    if (dot <= 0 || dot == versionInfo.length() - 1) {
      return null;
    }
    try {
      return new ConfigVersion(
          versionInfo.substring(0, dot), Long.parseLong(versionInfo.substring(dot + 1)));
    } catch (NumberFormatException e) {
      return null;
    }
  }

  /** Whether this version is older than {@code other} of the same epoch. */
  boolean olderThan(ConfigVersion other) {
    return epoch.equals(other.epoch) && version < other.version;
  }
}
