package dev.sluice.controlplane.store.etcd;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Which head revision each config version this store handed out stands on, for the versions where
 * the two differ.
 *
 * <p>They differ only after someone wrote config keys behind the store's back (unsupported, but it
 * happens): such a write moves the config version to its revision without moving the head. A caller
 * then validates against that version, and its commit must compare the head with the revision the
 * head had at that version, not with the version itself, or no commit could ever succeed again. An
 * exact compare (rather than "the head is not newer than the version") keeps a version from another
 * lineage, such as one from before etcd was restored from a backup, from ever passing for the
 * current one.
 *
 * <p>Thread-safe; remembers the most recent {@value #CAPACITY} such versions, which covers every
 * version a caller can still be validating against.
 */
final class HeadIndex {
  private static final int CAPACITY = 256;

  private final Map<Long, Long> headByVersion =
      new LinkedHashMap<>() {
        @Override
        protected boolean removeEldestEntry(Map.Entry<Long, Long> eldest) {
          return size() > CAPACITY;
        }
      };

  /** Notes that config {@code version} stands on a head written at {@code headRevision}. */
  synchronized void record(long version, long headRevision) {
    if (version != headRevision) {
      headByVersion.put(version, headRevision);
    }
  }

  /** The head revision a commit validated against {@code version} must find. */
  synchronized long headAt(long version) {
    return headByVersion.getOrDefault(version, version);
  }
}
