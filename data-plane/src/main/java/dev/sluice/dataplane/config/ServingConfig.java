package dev.sluice.dataplane.config;

import static java.util.Objects.requireNonNull;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.jspecify.annotations.Nullable;

/**
 * The config this node serves now: one volatile reference, read lock-free by every request and
 * replaced whole when a new config is applied.
 */
public final class ServingConfig {
  private static final Logger logger = Logger.getLogger(ServingConfig.class.getName());

  private volatile @Nullable RuntimeConfig current;
  private final CompletableFuture<RuntimeConfig> first = new CompletableFuture<>();
  private final CopyOnWriteArrayList<Consumer<RuntimeConfig>> listeners =
      new CopyOnWriteArrayList<>();

  /** The config served now, or null before the first one. */
  public @Nullable RuntimeConfig current() {
    return current;
  }

  /**
   * Serves {@code config} from now on. Requests already running keep the config they started with.
   * Called on the config thread (the discovery client's), or by tests.
   */
  public void serve(RuntimeConfig config) {
    requireNonNull(config, "config");
    current = config;
    first.complete(config);
    for (Consumer<RuntimeConfig> listener : listeners) {
      try {
        listener.accept(config);
      } catch (RuntimeException e) {
        logger.log(Level.WARNING, "Config listener failed", e);
      }
    }
  }

  /**
   * Calls {@code listener} with every config served from now on, on the thread that serves it.
   * Listeners must be quick and must not block.
   */
  public void addListener(Consumer<RuntimeConfig> listener) {
    listeners.add(requireNonNull(listener, "listener"));
  }

  /** Waits up to {@code timeout} for a first config; true once one is served. */
  public boolean awaitFirst(Duration timeout) throws InterruptedException {
    try {
      first.get(timeout.toNanos(), TimeUnit.NANOSECONDS);
      return true;
    } catch (TimeoutException e) {
      return false;
    } catch (ExecutionException e) {
      throw new IllegalStateException("unreachable: the first config never fails", e);
    }
  }
}
