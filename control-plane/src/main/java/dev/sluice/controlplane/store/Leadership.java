package dev.sluice.controlplane.store;

import static java.util.Objects.requireNonNull;

import io.grpc.Deadline;

/**
 * Who leads an election among the control-plane replicas (today only the quota allocator's), as
 * one replica sees it at one moment: nobody it knows of, this replica, or another one. Immutable;
 * a store delivers a new one whenever the view changes.
 *
 * <p>A term identifies one tenure: it grows with every election won on the same backend, so a
 * replica that loses and regains leadership has a new term and must rebuild whatever state it
 * kept as leader (a predecessor may have acted in between).
 */
public sealed interface Leadership
    permits Leadership.Vacant, Leadership.Leading, Leadership.Following {

  /** No leader is known: the election is under way, or the backend cannot be reached. */
  static Leadership vacant() {
    return Vacant.INSTANCE;
  }

  /** Whether this replica leads and its tenure has not run out. */
  default boolean leadsNow() {
    return this instanceof Leading leading && leading.holds();
  }

  /** No known leader. */
  final class Vacant implements Leadership {
    private static final Vacant INSTANCE = new Vacant();

    private Vacant() {}

    @Override
    public String toString() {
      return "Vacant";
    }
  }

  /**
   * This replica leads.
   *
   * @param self this replica
   * @param term the tenure (see the class documentation)
   * @param until when the tenure runs out unless renewed first: a bound taken from the backend's
   *     lease, early enough that no other replica can have been elected before it passes (the
   *     store delivers a new {@code Leading} with a later deadline at each renewal, and {@link
   *     Vacant} if renewal fails). Check {@link #holds()} right before acting as leader.
   */
  record Leading(Candidate self, long term, Deadline until) implements Leadership {
    public Leading {
      requireNonNull(self, "self");
      requireNonNull(until, "until");
    }

    /** Whether the tenure still holds now. */
    public boolean holds() {
      return !until.isExpired();
    }
  }

  /**
   * Another replica leads.
   *
   * @param leader the leader, with the address to reach it at
   * @param term its tenure
   */
  record Following(Candidate leader, long term) implements Leadership {
    public Following {
      requireNonNull(leader, "leader");
    }
  }
}
