/**
 * Immutable, validated config snapshots built from the store and published to data planes: the
 * store is watched, bursts of changes are debounced, each build is validated with the same rules
 * as admin writes, and the newest good snapshot is swapped in atomically.
 */
@NullMarked
package dev.sluice.controlplane.snapshot;

import org.jspecify.annotations.NullMarked;
