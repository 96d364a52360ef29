package dev.sluice.controlplane.snapshot;

import java.util.Optional;

/**
 * A discovery {@code version_info}, {@code <epoch>.<version>}: the store epoch in lower-case hex
 * and the config version in decimal. Versions compare only within one epoch.
 *
 * @param epoch the store epoch, an unsigned 64-bit number
 * @param version the config version, {@code >= 0}
 */
public record VersionInfo(long epoch, long version) {
  /** Formats a version_info. */
  public static String format(long epoch, long version) {
    return Long.toHexString(epoch) + "." + version;
  }

  /** Parses a version_info; empty for the empty string or anything malformed. */
  public static Optional<VersionInfo> parse(String versionInfo) {
    int dot = versionInfo.indexOf('.');
    if (dot <= 0 || dot == versionInfo.length() - 1 || dot > 16) {
      return Optional.empty();
    }
    try {
      long epoch = Long.parseUnsignedLong(versionInfo.substring(0, dot), 16);
      long version = Long.parseLong(versionInfo.substring(dot + 1));
      if (version < 0 || !versionInfo.substring(0, dot).equals(Long.toHexString(epoch))) {
        return Optional.empty();
      }
      return Optional.of(new VersionInfo(epoch, version));
    } catch (NumberFormatException e) {
      return Optional.empty();
    }
  }

  /** Whether this is in {@code epoch} and at or above {@code version}. */
  public boolean atLeast(long epoch, long version) {
    return this.epoch == epoch && this.version >= version;
  }

  @Override
  public String toString() {
    return format(epoch, version);
  }
}
