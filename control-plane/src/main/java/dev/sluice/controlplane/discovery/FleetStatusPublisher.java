package dev.sluice.controlplane.discovery;

import static java.util.Objects.requireNonNull;

import com.google.common.collect.ImmutableList;
import com.google.protobuf.util.Timestamps;
import dev.sluice.admin.v1.FleetStatusRecord;
import dev.sluice.controlplane.store.ConfigStore;
import java.time.Clock;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.jspecify.annotations.Nullable;

/**
 * Publishes this replica's first-hand fleet status (the nodes of its {@link FleetRegistry}) through
 * the config store as a {@link FleetStatusRecord}, so that the other replicas can report these
 * nodes too: GetFleetStatus and WaitForFleetVersion answer for the whole fleet on any replica (see
 * {@link MergedFleetView}).
 *
 * <p><b>Rate.</b> Every write is an etcd revision kept until compaction, and a fleet changes in
 * bursts (a rollout is ACKed by every node within moments), so the record is rebuilt at most once
 * per {@link #MIN_INTERVAL} after a change and written only when its content (everything but {@code
 * update_time}) differs from the last one written. Nothing is written while nothing changes: a
 * node's {@code last_seen_time} moves only with its ACKs and NACKs. A re-check every {@link
 * #RECHECK_INTERVAL} drops nodes that aged out of the registry's disconnected retention, which no
 * event announces.
 *
 * <p><b>Size.</b> A record holds at most {@link #MAX_ENTRIES} nodes, connected ones first, so it
 * stays far below etcd's request size limit (a node is a few hundred bytes); a replica holding more
 * streams than that reports the excess only to callers of its own admin API.
 *
 * <p><b>Threading.</b> Fleet changes arrive from many threads and only schedule a flush; every
 * flush runs on the given single-threaded scheduler and never blocks (the store returns at once and
 * retries failed writes by itself), so the scheduler's other work is not held up.
 */
public final class FleetStatusPublisher implements AutoCloseable {
  private static final Logger logger = Logger.getLogger(FleetStatusPublisher.class.getName());

  /** At most one write per interval. */
  public static final Duration MIN_INTERVAL = Duration.ofSeconds(1);

  /** How often the record is rebuilt without a change, to drop nodes that aged out. */
  public static final Duration RECHECK_INTERVAL = Duration.ofSeconds(30);

  /** The most nodes one record holds. */
  public static final int MAX_ENTRIES = 2000;

  /** How long {@link #close()} waits for the store to remove the record. */
  static final Duration WITHDRAW_TIMEOUT = Duration.ofSeconds(3);

  private static final Comparator<NodeReport> CONNECTED_FIRST =
      Comparator.comparing((NodeReport n) -> !n.connected()).thenComparing(NodeReport::nodeId);

  private final ConfigStore store;
  private final String controlPlaneId;
  private final FleetView fleet;
  private final ScheduledExecutorService scheduler;
  private final Clock clock;
  private final AtomicBoolean flushScheduled = new AtomicBoolean();
  private final AtomicBoolean closing = new AtomicBoolean();
  private final FleetView.Registration registration;
  private final ScheduledFuture<?> recheck;

  /** Set on the scheduler thread, so no flush runs after the record was withdrawn. */
  private volatile boolean closed;

  // Confined to the scheduler thread.
  private long nextWriteNanos = System.nanoTime();
  private @Nullable List<FleetStatusRecord.Entry> lastWritten;
  private boolean warnedTruncated;

  private FleetStatusPublisher(
      ConfigStore store,
      String controlPlaneId,
      FleetView fleet,
      ScheduledExecutorService scheduler,
      Clock clock) {
    this.store = store;
    this.controlPlaneId = controlPlaneId;
    this.fleet = fleet;
    this.scheduler = scheduler;
    this.clock = clock;
    this.registration = fleet.onChange(this::changed);
    long recheckNanos = RECHECK_INTERVAL.toNanos();
    this.recheck =
        scheduler.scheduleWithFixedDelay(
            this::changed, recheckNanos, recheckNanos, TimeUnit.NANOSECONDS);
  }

  /**
   * Starts publishing {@code fleet} as replica {@code controlPlaneId}'s record, the current state
   * at once.
   *
   * @param scheduler single-threaded; runs every flush
   */
  public static FleetStatusPublisher start(
      ConfigStore store,
      String controlPlaneId,
      FleetView fleet,
      ScheduledExecutorService scheduler,
      Clock clock) {
    FleetStatusPublisher publisher =
        new FleetStatusPublisher(
            requireNonNull(store, "store"),
            requireNonNull(controlPlaneId, "controlPlaneId"),
            requireNonNull(fleet, "fleet"),
            requireNonNull(scheduler, "scheduler"),
            requireNonNull(clock, "clock"));
    publisher.changed();
    return publisher;
  }

  /** Something in the fleet may have changed. Any thread; returns at once. */
  private void changed() {
    if (closed || !flushScheduled.compareAndSet(false, true)) {
      return;
    }
    try {
      scheduler.execute(this::flush);
    } catch (RejectedExecutionException e) {
      // Shutting down.
    }
  }

  /** Writes the record if it changed, or comes back when the rate allows. Scheduler thread. */
  private void flush() {
    if (closed) {
      return;
    }
    long wait = nextWriteNanos - System.nanoTime();
    if (wait > 0) {
      // flushScheduled stays set: changes until then are picked up by this later flush.
      try {
        scheduler.schedule(this::flush, wait, TimeUnit.NANOSECONDS);
      } catch (RejectedExecutionException e) {
        // Shutting down.
      }
      return;
    }
    flushScheduled.set(false);
    List<FleetStatusRecord.Entry> entries = entries(fleet.nodes());
    if (entries.equals(lastWritten)) {
      return;
    }
    lastWritten = entries;
    nextWriteNanos = System.nanoTime() + MIN_INTERVAL.toNanos();
    FleetStatusRecord record =
        FleetStatusRecord.newBuilder()
            .setUpdateTime(Timestamps.fromMillis(clock.millis()))
            .addAllEntries(entries)
            .build();
    store
        .publishFleetStatus(controlPlaneId, record)
        .whenComplete(
            (ok, failure) -> {
              if (failure != null) {
                // The store keeps the record and writes it once its backend is back.
                logger.log(Level.FINE, "publishing the fleet status failed for now", failure);
              }
            });
  }

  private List<FleetStatusRecord.Entry> entries(List<NodeReport> nodes) {
    if (nodes.size() > MAX_ENTRIES && !warnedTruncated) {
      warnedTruncated = true;
      logger.warning(
          "Replica "
              + controlPlaneId
              + " holds "
              + nodes.size()
              + " nodes; its published fleet status lists only "
              + MAX_ENTRIES
              + " (connected first), the others show on its own admin API only");
    }
    return nodes.stream()
        .sorted(CONNECTED_FIRST)
        .limit(MAX_ENTRIES)
        .map(
            n ->
                FleetStatusRecord.Entry.newBuilder()
                    .setStatus(n.status())
                    .setAppliedVersionInfo(n.served() == null ? "" : n.served().toString())
                    .setRejectedVersionInfo(n.rejected() == null ? "" : n.rejected().toString())
                    .build())
        .collect(ImmutableList.toImmutableList());
  }

  /**
   * Stops publishing and removes the record from the store, waiting up to {@link
   * #WITHDRAW_TIMEOUT}; the store's own lease removes it later if the store cannot. Idempotent.
   */
  @Override
  public void close() {
    if (!closing.compareAndSet(false, true)) {
      return;
    }
    registration.close();
    recheck.cancel(false);
    CompletableFuture<Void> withdrawn;
    try {
      // On the scheduler, after any flush in progress: no write can follow the withdrawal.
      withdrawn =
          CompletableFuture.supplyAsync(
                  () -> {
                    closed = true;
                    return store.withdrawFleetStatus(controlPlaneId);
                  },
                  scheduler)
              .thenCompose(f -> f);
    } catch (RejectedExecutionException e) {
      closed = true;
      withdrawn = store.withdrawFleetStatus(controlPlaneId);
    }
    try {
      withdrawn.get(WITHDRAW_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (TimeoutException | java.util.concurrent.ExecutionException e) {
      logger.log(Level.FINE, "withdrawing the fleet status of " + controlPlaneId + " failed", e);
    }
  }
}
