package dev.sluice.controlplane.snapshot;

import static java.util.Objects.requireNonNull;

import com.google.common.base.Preconditions;
import com.google.common.collect.ImmutableList;
import com.google.common.util.concurrent.ThreadFactoryBuilder;
import dev.sluice.controlplane.store.ConfigStore;
import dev.sluice.controlplane.store.StoredConfig;
import dev.sluice.controlplane.validation.ConfigValidator;
import dev.sluice.controlplane.validation.Violation;
import java.time.Clock;
import java.time.Duration;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;
import java.util.logging.Level;
import java.util.logging.Logger;
import java.util.stream.Collectors;
import org.jspecify.annotations.Nullable;

/**
 * Mirrors the store into validated {@link Snapshot}s: watches {@link ConfigStore#watch}, waits for
 * a burst of changes to settle, validates the newest config with the same {@link ConfigValidator}
 * as admin writes, and publishes the result through an {@link AtomicReference} that readers poll
 * without locks.
 *
 * <p><b>Debouncing</b> (Istio's algorithm): a change starts a timer; the snapshot is built once
 * no change arrived for {@link Debounce#quiet()}, and at the latest {@link Debounce#max()} after
 * the first change of the burst, so a bulk import yields one version for data planes rather than
 * hundreds, while a lone change still propagates within the quiet period. The very first config
 * is built at once, so a starting control plane gets ready quickly.
 *
 * <p><b>A failed build never reaches data planes.</b> A config the validator rejects (only
 * possible when someone bypassed the admin API, or when two control-plane builds disagree during
 * an upgrade) is logged and counted, and the previous snapshot stays published; the next change
 * is tried again.
 *
 * <p><b>Threading.</b> Builds and debounce state live on one thread of the cache; listeners are
 * called on it after each publish.
 */
public final class SnapshotCache implements SnapshotSource, AutoCloseable {
  private static final Logger logger = Logger.getLogger(SnapshotCache.class.getName());

  /**
   * Debounce bounds.
   *
   * @param quiet how long the store must be quiet before a build
   * @param max the longest a change waits for a build, however busy the store
   */
  public record Debounce(Duration quiet, Duration max) {
    /**
     * 10 ms quiet, 250 ms at most. Every admin change arrives as one store transaction, so
     * debouncing only saves builds during bursts of back-to-back changes; a short quiet period
     * keeps it out of the time from apply to a fleet serving the change (measured in
     * docs/benchmarks.md: a 100 ms quiet period was half of the 100-node budget).
     */
    public static final Debounce DEFAULT =
        new Debounce(Duration.ofMillis(10), Duration.ofMillis(250));

    public Debounce {
      Preconditions.checkArgument(!quiet.isNegative(), "quiet: %s (expected: >= 0)", quiet);
      Preconditions.checkArgument(
          max.compareTo(quiet) >= 0, "max: %s (expected: >= quiet %s)", max, quiet);
    }
  }

  private final ConfigValidator validator;
  private final Debounce debounce;
  private final Clock clock;
  private final ScheduledExecutorService thread;
  private final AtomicReference<@Nullable Snapshot> current = new AtomicReference<>();
  private final CopyOnWriteArrayList<Consumer<Snapshot>> listeners = new CopyOnWriteArrayList<>();
  private final CountDownLatch firstPublished = new CountDownLatch(1);
  private final AtomicLong failedBuilds = new AtomicLong();
  private final AtomicReference<ImmutableList<Violation>> lastFailure =
      new AtomicReference<>(ImmutableList.of());
  private final ConfigStore.Subscription subscription;

  // Confined to thread.
  private @Nullable StoredConfig pending;
  private long firstChangeNanos;
  private long lastChangeNanos;
  private @Nullable ScheduledFuture<?> timer;
  private boolean builtOnce;

  private SnapshotCache(
      ConfigStore store, ConfigValidator validator, Debounce debounce, Clock clock) {
    this.validator = validator;
    this.debounce = debounce;
    this.clock = clock;
    this.thread =
        java.util.concurrent.Executors.newSingleThreadScheduledExecutor(
            new ThreadFactoryBuilder().setNameFormat("sluice-snapshots-%d").setDaemon(true).build());
    this.subscription = store.watch(this::onStoreChange);
  }

  /** Starts watching {@code store}. Close the cache to stop. */
  public static SnapshotCache watching(
      ConfigStore store, ConfigValidator validator, Debounce debounce, Clock clock) {
    return new SnapshotCache(
        requireNonNull(store, "store"),
        requireNonNull(validator, "validator"),
        requireNonNull(debounce, "debounce"),
        requireNonNull(clock, "clock"));
  }

  @Override
  public @Nullable Snapshot current() {
    return current.get();
  }

  @Override
  public Registration addListener(Consumer<Snapshot> listener) {
    requireNonNull(listener, "listener");
    listeners.add(listener);
    return () -> listeners.remove(listener);
  }

  /** Waits up to {@code timeout} for the first snapshot; returns whether one exists. */
  public boolean awaitFirst(Duration timeout) throws InterruptedException {
    return firstPublished.await(timeout.toNanos(), TimeUnit.NANOSECONDS);
  }

  /** How many builds the validator rejected since start. */
  public long failedBuilds() {
    return failedBuilds.get();
  }

  /** The violations of the last rejected build; empty if the last build succeeded. */
  public ImmutableList<Violation> lastFailure() {
    return lastFailure.get();
  }

  @Override
  public void close() {
    subscription.close();
    thread.shutdownNow();
  }

  private void onStoreChange(StoredConfig config) {
    try {
      thread.execute(() -> changed(config));
    } catch (RejectedExecutionException e) {
      // Closed.
    }
  }

  private void changed(StoredConfig config) {
    pending = config;
    long now = System.nanoTime();
    if (!builtOnce) {
      build();
      return;
    }
    lastChangeNanos = now;
    if (firstChangeNanos == 0) {
      firstChangeNanos = now;
    }
    if (timer == null) {
      timer = thread.schedule(this::timerFired, debounce.quiet().toNanos(), TimeUnit.NANOSECONDS);
    }
  }

  private void timerFired() {
    timer = null;
    long now = System.nanoTime();
    long deadline =
        Math.min(
            lastChangeNanos + debounce.quiet().toNanos(), firstChangeNanos + debounce.max().toNanos());
    if (now - deadline < 0) {
      timer = thread.schedule(this::timerFired, deadline - now, TimeUnit.NANOSECONDS);
      return;
    }
    build();
  }

  private void build() {
    StoredConfig config = pending;
    pending = null;
    firstChangeNanos = 0;
    builtOnce = true;
    if (config == null) {
      return;
    }
    Snapshot previous = current.get();
    if (previous != null
        && previous.epoch() == config.epoch()
        && previous.version() >= config.version()) {
      return;
    }
    ImmutableList<Violation> violations;
    try {
      violations = validator.validate(config.resources());
    } catch (RuntimeException e) {
      logger.log(Level.SEVERE, "Validating config version " + config.version() + " failed", e);
      violations = ImmutableList.of(new Violation(null, "", "validation failed: " + e));
    }
    if (!violations.isEmpty()) {
      failedBuilds.incrementAndGet();
      lastFailure.set(violations);
      ImmutableList<Violation> shown = violations;
      logger.warning(
          () ->
              "Config version "
                  + config.version()
                  + " is invalid; data planes keep "
                  + (previous == null ? "no config" : "version " + previous.version())
                  + ". "
                  + shown.size()
                  + " violation(s): "
                  + shown.stream().limit(10).map(Violation::toString).collect(Collectors.joining("; ")));
      return;
    }
    lastFailure.set(ImmutableList.of());
    Snapshot snapshot = Snapshot.of(config, clock.instant());
    current.set(snapshot);
    for (Consumer<Snapshot> listener : listeners) {
      try {
        listener.accept(snapshot);
      } catch (RuntimeException e) {
        logger.log(Level.WARNING, "A snapshot listener failed", e);
      }
    }
    firstPublished.countDown();
  }
}
