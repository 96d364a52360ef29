package dev.sluice.dataplane.overload;

import com.sun.management.GarbageCollectionNotificationInfo;
import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.lang.management.MemoryUsage;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BooleanSupplier;
import java.util.logging.Level;
import java.util.logging.Logger;
import javax.management.ListenerNotFoundException;
import javax.management.Notification;
import javax.management.NotificationEmitter;
import javax.management.NotificationListener;

/**
 * Whether the heap is nearly full of live objects: the signal on which a data plane sheds new calls
 * (Envoy's overload manager does the same on a fixed-heap monitor) rather than run into an
 * OutOfMemoryError that would break every stream it carries.
 *
 * <p>What counts is the heap in use right after a garbage collection (the pools' collection usage),
 * which is what is live; between collections the heap always fills with garbage, so sampling it
 * then says nothing. The JVM reports each collection; the pressure is high once the live heap
 * reaches {@code highFraction} of the maximum, and stays high until a collection leaves it below
 * {@code highFraction - HYSTERESIS}, so the node does not flap between shedding and admitting.
 *
 * <p>Reading it is one volatile read; collections are evaluated on the JVM's notification thread.
 */
public final class HeapPressure implements BooleanSupplier, AutoCloseable {
  private static final Logger logger = Logger.getLogger(HeapPressure.class.getName());

  /** How far below the threshold the live heap must fall before new calls are admitted again. */
  static final double HYSTERESIS = 0.05;

  private final double highFraction;
  private final List<NotificationEmitter> emitters = new ArrayList<>();
  private final NotificationListener listener = (notification, handback) -> onNotification(notification);
  private volatile boolean high;

  HeapPressure(double highFraction) {
    if (!(highFraction > 0 && highFraction <= 1)) {
      throw new IllegalArgumentException(
          "highFraction: " + highFraction + " (expected: > 0 and <= 1)");
    }
    this.highFraction = highFraction;
  }

  /**
   * Starts following this JVM's garbage collections.
   *
   * @param highFraction the share of the maximum heap that, live after a collection, means
   *     pressure (for example 0.9)
   */
  public static HeapPressure watch(double highFraction) {
    HeapPressure pressure = new HeapPressure(highFraction);
    for (GarbageCollectorMXBean gc : ManagementFactory.getGarbageCollectorMXBeans()) {
      if (gc instanceof NotificationEmitter emitter) {
        emitter.addNotificationListener(pressure.listener, null, null);
        pressure.emitters.add(emitter);
      }
    }
    return pressure;
  }

  /** True while the live heap is high: new calls should be refused. */
  @Override
  public boolean getAsBoolean() {
    return high;
  }

  private void onNotification(Notification notification) {
    if (!GarbageCollectionNotificationInfo.GARBAGE_COLLECTION_NOTIFICATION.equals(
        notification.getType())) {
      return;
    }
    long used = 0;
    long max = 0;
    for (MemoryPoolMXBean pool : ManagementFactory.getMemoryPoolMXBeans()) {
      MemoryUsage afterGc = pool.getCollectionUsage();
      if (pool.getType() != MemoryType.HEAP || afterGc == null) {
        continue;
      }
      used += afterGc.getUsed();
      long poolMax = afterGc.getMax();
      max += poolMax < 0 ? afterGc.getCommitted() : poolMax;
    }
    afterCollection(used, max);
  }

  /** Updates the pressure from the heap live after a collection. */
  void afterCollection(long usedBytes, long maxBytes) {
    if (maxBytes <= 0) {
      return;
    }
    double fraction = (double) usedBytes / maxBytes;
    boolean was = high;
    boolean now = was ? fraction >= highFraction - HYSTERESIS : fraction >= highFraction;
    if (now != was) {
      high = now;
      logger.log(
          now ? Level.WARNING : Level.INFO,
          () ->
              String.format(
                  "Live heap after GC at %.0f%% of %d MiB: %s new calls",
                  fraction * 100, maxBytes >> 20, now ? "refusing" : "admitting again"));
    }
  }

  @Override
  public void close() {
    for (NotificationEmitter emitter : emitters) {
      try {
        emitter.removeNotificationListener(listener);
      } catch (ListenerNotFoundException ignored) {
        // Never added to this one: nothing to remove.
      }
    }
    emitters.clear();
  }
}
