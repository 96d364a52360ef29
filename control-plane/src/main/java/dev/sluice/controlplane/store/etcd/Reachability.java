package dev.sluice.controlplane.store.etcd;

import java.util.concurrent.atomic.AtomicReference;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Whether etcd answered the most recent call, probe or watch: what {@code isWritable()} reports.
 * Thread-safe; logs each transition once rather than each failure.
 */
final class Reachability {
  private static final Logger logger = Logger.getLogger(Reachability.class.getName());

  enum State {
    /** Nothing has been heard yet. */
    UNKNOWN,
    UP,
    DOWN
  }

  private final String endpoints;
  private final AtomicReference<State> state = new AtomicReference<>(State.UNKNOWN);

  Reachability(String endpoints) {
    this.endpoints = endpoints;
  }

  boolean isUp() {
    return state.get() == State.UP;
  }

  void up() {
    State previous = state.getAndSet(State.UP);
    if (previous == State.DOWN) {
      logger.info("etcd at " + endpoints + " is reachable again");
    } else if (previous == State.UNKNOWN) {
      logger.fine(() -> "connected to etcd at " + endpoints);
    }
  }

  void down(Throwable cause) {
    if (state.getAndSet(State.DOWN) != State.DOWN) {
      logger.log(
          Level.WARNING,
          "etcd at " + endpoints + " is unreachable; writes fail until it is back: " + cause);
    }
  }
}
