package dev.sluice.controlplane.store;

import static java.util.Objects.requireNonNull;

import com.google.common.collect.ImmutableList;
import com.google.common.collect.ImmutableMap;
import dev.sluice.admin.v1.ChangeRecord;
import dev.sluice.config.v1.Resource;

/**
 * One validated change set to write atomically.
 *
 * @param expectedHeadVersion the config version the change was validated against; the commit
 *     fails with {@link CommitOutcome.HeadMoved} if the head moved since
 * @param upserts resources to create or replace (their {@code version} fields are ignored)
 * @param deletes resources to delete
 * @param expectedVersions per-resource optimistic concurrency: the version each named resource
 *     must have (0 = must not exist); resources not named are not checked
 * @param record who, why, which request id and which resources changed: the caller fills in
 *     {@code author}, {@code principal}, {@code reason}, {@code request_id}, {@code
 *     rollback_to_version} and {@code changes} (ordered by kind and name, one entry per upsert or
 *     delete); the store fills in {@code config_version} and {@code commit_time}
 */
public record Commit(
    long expectedHeadVersion,
    ImmutableList<Resource> upserts,
    ImmutableList<ResourceKey> deletes,
    ImmutableMap<ResourceKey, Long> expectedVersions,
    ChangeRecord record) {
  public Commit {
    requireNonNull(upserts, "upserts");
    requireNonNull(deletes, "deletes");
    requireNonNull(expectedVersions, "expectedVersions");
    requireNonNull(record, "record");
  }
}
