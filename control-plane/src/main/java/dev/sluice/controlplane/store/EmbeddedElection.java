package dev.sluice.controlplane.store;

import static java.util.Objects.requireNonNull;

import io.grpc.Deadline;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.jspecify.annotations.Nullable;

/**
 * The quota-allocator election of the embedded store. Every replica that can reach an embedded
 * store runs in its process, so no lease is needed: the earliest campaign still open leads, with a
 * tenure that never runs out, and when it resigns the next one in campaign order takes over with
 * a new term.
 *
 * <p>State is confined to the store thread, so elections are ordered with everything else the
 * store does; listeners run on the store's notify thread, newest state only, as watch listeners
 * do.
 */
final class EmbeddedElection {
  private static final Logger logger = Logger.getLogger(EmbeddedElection.class.getName());

  /** A tenure in a single process ends only by resigning. */
  private static final long FOREVER_DAYS = 365L * 100;

  private final ExecutorService storeThread;
  private final ExecutorService notifyThread;

  // Confined to the store thread.
  private final List<Member> members = new ArrayList<>();
  private @Nullable Member leader;
  private long term;

  EmbeddedElection(ExecutorService storeThread, ExecutorService notifyThread) {
    this.storeThread = storeThread;
    this.notifyThread = notifyThread;
  }

  /** Joins as a candidate ({@code self} set) or as an observer. */
  ConfigStore.Subscription join(@Nullable Candidate self, Consumer<Leadership> listener) {
    Member member = new Member(self, requireNonNull(listener, "listener"));
    storeThread.execute(
        () -> {
          members.add(member);
          if (leader == null && self != null) {
            elect(member);
          } else {
            member.offer(viewOf(member));
          }
        });
    return member;
  }

  private void elect(@Nullable Member next) {
    leader = next;
    if (next != null) {
      term++;
      logger.info("control plane " + next.self + " is the quota allocator (term " + term + ")");
    }
    for (Member member : members) {
      member.offer(viewOf(member));
    }
  }

  private Leadership viewOf(Member member) {
    Member current = leader;
    if (current == null || current.self == null) {
      return Leadership.vacant();
    }
    if (current == member) {
      return new Leadership.Leading(
          current.self, term, Deadline.after(FOREVER_DAYS, TimeUnit.DAYS));
    }
    return new Leadership.Following(current.self, term);
  }

  private void leave(Member member) {
    members.remove(member);
    if (leader == member) {
      elect(members.stream().filter(m -> m.self != null).findFirst().orElse(null));
    }
  }

  /** A campaign or watch; closing it resigns. */
  private final class Member implements ConfigStore.Subscription {
    final @Nullable Candidate self;
    private final Consumer<Leadership> listener;
    private final LatestValueDelivery<Leadership> delivery =
        new LatestValueDelivery<>(notifyThread, this::deliver);
    private final AtomicBoolean closed = new AtomicBoolean();

    Member(@Nullable Candidate self, Consumer<Leadership> listener) {
      this.self = self;
      this.listener = listener;
    }

    void offer(Leadership leadership) {
      if (!closed.get()) {
        delivery.offer(leadership);
      }
    }

    private void deliver(Leadership leadership) {
      if (closed.get()) {
        return;
      }
      try {
        listener.accept(leadership);
      } catch (RuntimeException e) {
        logger.log(Level.WARNING, "A quota allocator election listener failed", e);
      }
    }

    /** Resigns, and waits (briefly) until the next campaigner has been elected. */
    @Override
    public void close() {
      if (!closed.compareAndSet(false, true)) {
        return;
      }
      CompletableFuture<Void> left = new CompletableFuture<>();
      try {
        storeThread.execute(
            () -> {
              leave(this);
              left.complete(null);
            });
        left.get(5, TimeUnit.SECONDS);
      } catch (RejectedExecutionException e) {
        // The store is closed: nobody is left to lead.
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      } catch (java.util.concurrent.ExecutionException | TimeoutException e) {
        logger.log(Level.WARNING, "resigning from the quota allocator election failed", e);
      }
    }
  }
}
