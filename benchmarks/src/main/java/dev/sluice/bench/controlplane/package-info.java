/**
 * The control-plane fan-out benchmark: how long an admin apply takes, and how long until every
 * connected data plane has acknowledged the new version, with 10, 100 and 1,000 discovery streams
 * over a config of 1,000 resources; and what each stream costs the control plane in heap.
 *
 * <p>The control plane under test runs in a child JVM ({@link ControlPlaneHost}, pinned to its own
 * core by the script), so that its heap is measured alone; the simulated data planes run in the
 * driver ({@link ControlPlaneBench}). Each simulated data plane acknowledges every response at
 * once, like a data plane that applied it, and skips the snapshot bytes instead of parsing them, so
 * that a thousand of them in one process stay cheap.
 */
@NullMarked
package dev.sluice.bench.controlplane;

import org.jspecify.annotations.NullMarked;
