package dev.sluice.controlplane.snapshot;

import java.util.function.Consumer;
import org.jspecify.annotations.Nullable;

/** Where the newest published {@link Snapshot} comes from. Thread-safe. */
public interface SnapshotSource {
  /** The newest good snapshot, or null before the first one is built. Never blocks. */
  @Nullable Snapshot current();

  /**
   * Calls {@code listener} after every newly published snapshot, serially, on the source's own
   * thread; the listener must return quickly. Returns the handle that removes it.
   */
  Registration addListener(Consumer<Snapshot> listener);

  /** Removes a listener; idempotent. */
  interface Registration extends AutoCloseable {
    @Override
    void close();
  }
}
