/**
 * The config stream to data planes ({@code sluice.discovery.v1.DiscoveryService}) and the fleet
 * status it yields: per-stream xDS-style state (version, nonce, ACK/NACK), fan-out of new
 * snapshots, and per-node sync state for the admin API.
 */
@NullMarked
package dev.sluice.controlplane.discovery;

import org.jspecify.annotations.NullMarked;
