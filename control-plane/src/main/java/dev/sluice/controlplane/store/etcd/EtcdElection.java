package dev.sluice.controlplane.store.etcd;

import static java.nio.charset.StandardCharsets.UTF_8;

import dev.sluice.controlplane.store.Candidate;
import dev.sluice.controlplane.store.ConfigStore;
import dev.sluice.controlplane.store.Leadership;
import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.KeyValue;
import io.etcd.jetcd.Lease;
import io.etcd.jetcd.kv.GetResponse;
import io.etcd.jetcd.kv.TxnResponse;
import io.etcd.jetcd.op.Cmp;
import io.etcd.jetcd.op.CmpTarget;
import io.etcd.jetcd.op.Op;
import io.etcd.jetcd.options.GetOption;
import io.etcd.jetcd.options.PutOption;
import io.grpc.Deadline;
import io.grpc.Status;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.jspecify.annotations.Nullable;

/**
 * One replica's part in an election held in etcd: a campaign (with a candidate) or a watch
 * (without). The leader is whoever holds one key, {@code meta/quota-allocator}, whose value is
 * {@code <control-plane id>@<advertised address>} and which lives on the leader's lease.
 *
 * <p><b>The loop.</b> Every poll interval (a quarter of the TTL, at most a second) the replica
 * makes one call, so at most one is in flight: it grants itself a lease if it holds none, renews
 * it ({@code keepAliveOnce}) when a quarter of the TTL has passed since the last renewal, and
 * otherwise runs one transaction: <em>if the key does not exist, put it on my lease; else read
 * it</em>. Creating the key wins (the term is its create revision); finding it on one's own lease
 * means leading still; finding it on another lease means following its holder. A watcher only
 * reads the key. A leader that resigns revokes its lease, which deletes the key, so the others
 * win within a poll interval; a leader that dies is replaced within the TTL plus a poll interval.
 *
 * <p><b>Why not jetcd's {@code Election} client.</b> Its {@code campaign} is one call that blocks
 * until the campaign is won, which cannot carry a deadline, and it leaves lease keeping and the
 * tenure bound to the caller anyway. One transaction on one key is all the protocol needs, and
 * each of its calls gets the store's deadline (see {@link EtcdCalls}).
 *
 * <p><b>Why renewals are our own.</b> jetcd's managed keep-alive reports responses without the
 * time their requests were sent, and a response can answer a request sent long before. Sending
 * {@code keepAliveOnce} ourselves gives the send time, from which {@link ElectionState} bounds the
 * tenure. (A {@code keepAliveOnce} stream whose answer is lost ends with the connection; our own
 * timeout has long given up on it.)
 *
 * <p><b>Why poll rather than watch.</b> One key and a few replicas: a small transaction a second
 * per replica costs etcd nothing worth saving, there is no watch state to repair after an outage,
 * and a poll interval of delay is small beside the allocator's learning period that follows every
 * takeover.
 *
 * <p><b>Threading.</b> State is confined to the store's serial executor; call completions hop
 * there. The listener runs on the store's callback pool, one call at a time, newest state only.
 */
final class EtcdElection implements ConfigStore.Subscription {
  private static final Logger logger = Logger.getLogger(EtcdElection.class.getName());
  private static final long MAX_POLL_NANOS = TimeUnit.SECONDS.toNanos(1);

  private final ByteSequence key;
  private final @Nullable Candidate self;
  private final EtcdCalls calls;
  private final Lease leases;
  private final ScheduledExecutorService serial;
  private final long ttlSeconds;
  private final long pollNanos;
  private final long renewNanos;
  private final long closeTimeoutMillis;
  private final Deadline.Ticker ticker;
  private final ElectionState state;
  private final Delivery delivery;
  private final Consumer<EtcdElection> onClosed;

  // Confined to the serial executor.
  private boolean busy;
  private boolean closed;
  private long lastRenewalSent;
  private Leadership published = Leadership.vacant();
  private @Nullable ScheduledFuture<?> poll;
  private @Nullable ScheduledFuture<?> stepDown;

  EtcdElection(
      ByteSequence key,
      @Nullable Candidate self,
      EtcdCalls calls,
      Lease leases,
      ScheduledExecutorService serial,
      Executor callbacks,
      EtcdStoreOptions options,
      Consumer<Leadership> listener,
      Consumer<EtcdElection> onClosed) {
    this.key = key;
    this.self = self;
    this.calls = calls;
    this.leases = leases;
    this.serial = serial;
    this.ttlSeconds = options.electionTtl().toSeconds();
    long ttlNanos = options.electionTtl().toNanos();
    this.pollNanos = Math.min(MAX_POLL_NANOS, ttlNanos / 4);
    this.renewNanos = ttlNanos / 4;
    this.closeTimeoutMillis = options.callTimeout().toMillis() + 1000;
    this.ticker = Deadline.getSystemTicker();
    this.state = new ElectionState(self, ticker);
    this.delivery = new Delivery(listener, callbacks);
    this.onClosed = onClosed;
  }

  /** Starts the loop; the listener hears {@link Leadership#vacant()} first. */
  void start() {
    serial.execute(
        () -> {
          if (closed) {
            return;
          }
          delivery.offer(published);
          poll = serial.scheduleWithFixedDelay(this::tick, 0, pollNanos, TimeUnit.NANOSECONDS);
        });
  }

  // ---------------------------------------------------------------- the loop

  private void tick() {
    if (closed || busy) {
      return;
    }
    expire();
    long lease = state.leaseId();
    if (self != null && lease == 0) {
      grant();
    } else if (lease != 0 && ticker.nanoTime() - lastRenewalSent >= renewNanos) {
      renew(lease);
    } else {
      campaign(lease);
    }
  }

  private void grant() {
    busy = true;
    long sentAt = ticker.nanoTime();
    calls
        .call(() -> leases.grant(ttlSeconds))
        .whenCompleteAsync(
            (response, failure) -> {
              busy = false;
              if (closed) {
                if (failure == null) {
                  revoke(response.getID());
                }
                return;
              }
              if (failure != null) {
                logger.log(Level.FINE, "granting the election lease failed; retrying", failure);
                return;
              }
              lastRenewalSent = sentAt;
              publish(state.leaseGranted(response.getID(), response.getTTL(), sentAt));
              tick();
            },
            serial);
  }

  private void renew(long lease) {
    busy = true;
    long sentAt = ticker.nanoTime();
    calls
        .call(() -> leases.keepAliveOnce(lease))
        .whenCompleteAsync(
            (response, failure) -> {
              busy = false;
              if (closed) {
                return;
              }
              if (failure == null) {
                lastRenewalSent = sentAt;
                publish(state.leaseRenewed(lease, response.getTTL(), sentAt));
                tick();
              } else if (StoreErrors.code(failure) == Status.Code.NOT_FOUND) {
                lost(lease, "etcd no longer has it");
                tick();
              } else {
                // Retried at the next tick; if renewals keep failing the tenure runs out by itself.
                logger.log(Level.FINE, "renewing the election lease failed; retrying", failure);
              }
            },
            serial);
  }

  private void campaign(long lease) {
    busy = true;
    CompletableFuture<ElectionState.@Nullable Holder> read;
    if (self == null) {
      read = calls.call(() -> calls.kv().get(key)).thenApply(this::holderOf);
    } else {
      ByteSequence value = ByteSequence.from(self.toString(), UTF_8);
      read =
          calls
              .call(
                  () ->
                      calls
                          .kv()
                          .txn()
                          .If(new Cmp(key, Cmp.Op.EQUAL, CmpTarget.createRevision(0)))
                          .Then(Op.put(key, value, PutOption.builder().withLeaseId(lease).build()))
                          .Else(Op.get(key, GetOption.DEFAULT))
                          .commit())
              .thenApply(response -> outcome(response, lease));
    }
    read.whenCompleteAsync(
        (holder, failure) -> {
          busy = false;
          if (closed) {
            return;
          }
          if (failure != null) {
            if (StoreErrors.isLeaseNotFound(failure)) {
              lost(lease, "etcd no longer has it");
              tick();
            } else {
              // Keep the last view: a follower may still reach the leader, and a leader's tenure
              // ends by itself when it cannot renew.
              logger.log(Level.FINE, "reading the election key failed; retrying", failure);
            }
            return;
          }
          expire();
          publish(state.keyRead(holder));
        },
        serial);
  }

  private ElectionState.@Nullable Holder outcome(TxnResponse response, long lease) {
    if (response.isSucceeded()) {
      return new ElectionState.Holder(self, lease, response.getHeader().getRevision());
    }
    return holderOf(response.getGetResponses().get(0));
  }

  private ElectionState.@Nullable Holder holderOf(GetResponse response) {
    if (response.getKvs().isEmpty()) {
      return null;
    }
    KeyValue kv = response.getKvs().get(0);
    return new ElectionState.Holder(
        decode(kv.getValue().toString(UTF_8)), kv.getLease(), kv.getCreateRevision());
  }

  /** The candidate a key's value names, or null for a value this build cannot read. */
  private static @Nullable Candidate decode(String value) {
    int at = value.indexOf('@');
    if (at <= 0) {
      return null;
    }
    try {
      return new Candidate(value.substring(0, at), value.substring(at + 1));
    } catch (IllegalArgumentException e) {
      return null;
    }
  }

  // ---------------------------------------------------------------- tenure

  private void expire() {
    long abandoned = state.expire();
    if (abandoned != 0) {
      logger.warning(
          "the quota allocator election lease "
              + Long.toHexString(abandoned)
              + " was not renewed in time; stepping down and giving it up");
      revoke(abandoned);
      publish(state.view());
    }
  }

  private void lost(long lease, String why) {
    if (lease == state.leaseId()) {
      logger.info(
          "the quota allocator election lease " + Long.toHexString(lease) + " is gone (" + why
              + "); campaigning again on a new one");
    }
    publish(state.leaseLost(lease));
  }

  /**
   * Hands {@code view} to the listener if it differs from the last one, and (re)arms the
   * step-down timer for the tenure it describes.
   */
  private void publish(Leadership view) {
    if (view.equals(published)) {
      return;
    }
    boolean wasLeading = published instanceof Leadership.Leading;
    published = view;
    if (stepDown != null) {
      stepDown.cancel(false);
      stepDown = null;
    }
    if (view instanceof Leadership.Leading leading) {
      if (!wasLeading) {
        logger.info("control plane " + leading.self() + " is the quota allocator (term "
            + leading.term() + ")");
      }
      stepDown =
          serial.schedule(this::expire, Math.max(0, state.nanosLeft()), TimeUnit.NANOSECONDS);
    } else if (wasLeading) {
      logger.info("control plane " + self + " is no longer the quota allocator");
    }
    delivery.offer(view);
  }

  private void revoke(long lease) {
    calls
        .call(() -> leases.revoke(lease))
        .whenComplete(
            (response, failure) -> {
              if (failure != null) {
                logger.log(
                    Level.FINE,
                    "revoking election lease " + Long.toHexString(lease) + " failed; it lapses"
                        + " within its TTL",
                    failure);
              }
            });
  }

  // ---------------------------------------------------------------- closing

  /**
   * Resigns: stops the loop and the listener, and revokes the lease, which deletes the key if this
   * replica held it, so that another can win at once. Waits for etcd's answer, up to the call
   * deadline.
   */
  @Override
  public void close() {
    CompletableFuture<Void> resigned = new CompletableFuture<>();
    try {
      serial.execute(
          () -> {
            if (closed) {
              resigned.complete(null);
              return;
            }
            closed = true;
            delivery.close();
            cancel(poll);
            cancel(stepDown);
            long lease = state.leaseId();
            if (lease == 0) {
              resigned.complete(null);
              return;
            }
            calls.call(() -> leases.revoke(lease)).whenComplete((r, t) -> resigned.complete(null));
          });
      resigned.get(closeTimeoutMillis, TimeUnit.MILLISECONDS);
    } catch (RejectedExecutionException e) {
      // The store is closed; its lease lapses by itself.
      delivery.close();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (ExecutionException | TimeoutException e) {
      logger.log(Level.FINE, "resigning did not finish; the election lease lapses by itself", e);
    } finally {
      onClosed.accept(this);
    }
  }

  private static void cancel(@Nullable ScheduledFuture<?> task) {
    if (task != null) {
      task.cancel(false);
    }
  }

  /** Hands views to the listener on the callback pool, one call at a time, newest only. */
  private static final class Delivery {
    private final Consumer<Leadership> listener;
    private final Executor executor;
    private final AtomicReference<@Nullable Leadership> pending = new AtomicReference<>();
    private final AtomicBoolean scheduled = new AtomicBoolean();
    private volatile boolean closed;

    Delivery(Consumer<Leadership> listener, Executor executor) {
      this.listener = listener;
      this.executor = executor;
    }

    void offer(Leadership view) {
      if (closed) {
        return;
      }
      pending.set(view);
      if (scheduled.compareAndSet(false, true)) {
        try {
          executor.execute(this::drain);
        } catch (RejectedExecutionException e) {
          // The store is closing.
        }
      }
    }

    /** Runs until nothing is pending; {@code scheduled} stays set meanwhile, so runs never overlap. */
    private void drain() {
      while (true) {
        Leadership view = pending.getAndSet(null);
        if (view != null && !closed) {
          try {
            listener.accept(view);
          } catch (RuntimeException e) {
            logger.log(Level.WARNING, "A quota allocator election listener failed", e);
          }
        }
        scheduled.set(false);
        if (pending.get() == null || !scheduled.compareAndSet(false, true)) {
          return;
        }
      }
    }

    void close() {
      closed = true;
    }
  }

  @Override
  public String toString() {
    return "EtcdElection{" + (self == null ? "watching" : self) + "}";
  }
}
