package dev.sluice.controlplane.discovery;

import com.google.common.collect.ImmutableList;

/**
 * The data-plane nodes as this control-plane replica sees them: connected ones, and those
 * disconnected within the last ten minutes. Thread-safe; never blocks.
 */
public interface FleetView {
  /** Every known node, ordered by node id. */
  ImmutableList<NodeReport> nodes();

  /**
   * Calls {@code listener} after any node's state may have changed (a connect, an ACK or NACK, a
   * disconnect, a new snapshot). Calls may come from several threads at once and must return
   * quickly. Returns the handle that removes it.
   */
  Registration onChange(Runnable listener);

  /** Removes a listener; idempotent. */
  interface Registration extends AutoCloseable {
    @Override
    void close();
  }
}
