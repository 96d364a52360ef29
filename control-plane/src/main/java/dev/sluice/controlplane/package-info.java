/**
 * The Sluice control plane: {@link dev.sluice.controlplane.ControlPlane} wires the config store,
 * validation, snapshots, the discovery stream to data planes and the admin API into one gRPC
 * server.
 */
@NullMarked
package dev.sluice.controlplane;

import org.jspecify.annotations.NullMarked;
