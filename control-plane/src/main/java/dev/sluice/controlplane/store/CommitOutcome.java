package dev.sluice.controlplane.store;

import static java.util.Objects.requireNonNull;

import com.google.common.collect.ImmutableMap;
import dev.sluice.admin.v1.ChangeRecord;

/** What became of a {@link Commit}. */
public sealed interface CommitOutcome {
  /** Written; {@code record} carries the new config version and commit time. */
  record Committed(ChangeRecord record) implements CommitOutcome {
    public Committed {
      requireNonNull(record, "record");
    }
  }

  /**
   * Nothing written: another change committed after the one validated against. The caller
   * re-validates against the new head and tries again.
   */
  record HeadMoved(long currentHeadVersion) implements CommitOutcome {}

  /**
   * Nothing written: some resources are not at their expected versions (the lost-update case).
   * {@code currentVersions} has the actual version (0 = does not exist) of each resource whose
   * expectation failed, and only of those.
   */
  record Conflict(long currentHeadVersion, ImmutableMap<ResourceKey, Long> currentVersions)
      implements CommitOutcome {
    public Conflict {
      requireNonNull(currentVersions, "currentVersions");
    }
  }
}
