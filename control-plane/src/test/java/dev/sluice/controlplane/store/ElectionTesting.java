package dev.sluice.controlplane.store;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/** Helpers for tests of the quota allocator election: what each participant is told, in order. */
public final class ElectionTesting {
  private ElectionTesting() {}

  /** Everything one participant heard, with when (System.nanoTime) it heard it. */
  public static final class Heard {
    private final BlockingQueue<Leadership> pending = new LinkedBlockingQueue<>();
    private final List<Leadership> all = new ArrayList<>();
    private final List<Long> times = new ArrayList<>();

    /** The listener to hand the store. */
    public void accept(Leadership leadership) {
      synchronized (this) {
        all.add(leadership);
        times.add(System.nanoTime());
      }
      pending.add(leadership);
    }

    /** The first view from now on that matches {@code wanted}, waiting a bounded time. */
    public Leadership next(String what, Predicate<Leadership> wanted) throws InterruptedException {
      long deadline = System.nanoTime() + StoreTesting.WAIT.toNanos();
      Leadership last = null;
      while (true) {
        Leadership view =
            pending.poll(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
        if (view == null) {
          throw new AssertionError(
              "not within " + StoreTesting.WAIT + ": " + what + "; last view: " + last);
        }
        if (wanted.test(view)) {
          return view;
        }
        last = view;
      }
    }

    /** The next view that says this participant leads. */
    public Leadership.Leading nextLeading() throws InterruptedException {
      return (Leadership.Leading) next("leading", Leadership.Leading.class::isInstance);
    }

    /** The next view that says another leads. */
    public Leadership.Following nextFollowing() throws InterruptedException {
      return (Leadership.Following) next("following", Leadership.Following.class::isInstance);
    }

    /** The next view that says nobody is known to lead. */
    public Leadership nextVacant() throws InterruptedException {
      return next("vacant", Leadership.Vacant.class::isInstance);
    }

    /** Every view heard so far, oldest first. */
    public synchronized List<Leadership> all() {
      return List.copyOf(all);
    }

    /** When the first view matching {@code wanted} was heard (System.nanoTime), or -1. */
    public synchronized long firstTime(Predicate<Leadership> wanted) {
      for (int i = 0; i < all.size(); i++) {
        if (wanted.test(all.get(i))) {
          return times.get(i);
        }
      }
      return -1;
    }
  }
}
