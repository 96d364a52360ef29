package dev.sluice.controlplane.store.etcd;

import com.google.common.collect.ImmutableMap;
import com.google.common.collect.ImmutableSortedMap;
import com.google.common.util.concurrent.MoreExecutors;
import dev.sluice.admin.v1.FleetStatusRecord;
import dev.sluice.config.v1.Resource;
import dev.sluice.controlplane.store.ConfigStore;
import dev.sluice.controlplane.store.ResourceKey;
import dev.sluice.controlplane.store.StoredConfig;
import io.etcd.jetcd.KeyValue;
import io.etcd.jetcd.Watch;
import io.etcd.jetcd.op.Cmp;
import io.etcd.jetcd.op.CmpTarget;
import io.etcd.jetcd.op.Op;
import io.etcd.jetcd.options.PutOption;
import io.etcd.jetcd.options.WatchOption;
import io.etcd.jetcd.watch.WatchEvent;
import io.etcd.jetcd.watch.WatchResponse;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;
import java.util.function.Predicate;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.jspecify.annotations.Nullable;

/**
 * An in-memory copy of the store's config that follows etcd: list at a revision, then watch from
 * the next one, and hand each new whole config to subscribers.
 *
 * <p>The mirror, not jetcd, owns the resume revision ({@link #appliedRevision}: every event up to
 * it has been applied). jetcd's own bookkeeping can skip events when a stream breaks right after it
 * was re-created (it resumes from the creation header's revision), so on any watch error the mirror
 * closes the watcher and opens a new one from {@code appliedRevision + 1}, after a jittered
 * backoff. It trusts nothing else either:
 *
 * <ul>
 *   <li>events at or below the applied revision are dropped (etcd 3.4.23 can send duplicates);
 *   <li>each key's etcd {@code version} counter must go up by exactly one per put (and start at 1
 *       after a delete), and a delete must be of a known key, or events were lost: a <em>gap</em>;
 *   <li>a compacted watch, a gap, or a revision that went backwards (etcd restored from a backup)
 *       leads to a <em>resync</em>: list again, diff, publish once, watch on;
 *   <li>periodically, the keys and revisions of a keys-only list at the applied revision are
 *       compared with the mirror (anti-entropy), catching losses no event reveals.
 * </ul>
 *
 * <p>The same watch carries the replicas' fleet-status keys ({@code status/cp/}), which the mirror
 * follows with the same checks (they are listed, gap-checked and compared like config keys) but
 * keeps apart: a status write never counts as a config change, never moves the config version and
 * never reaches config subscribers, only status subscribers.
 *
 * <p>Threading: all state is confined to the serial executor; jetcd callbacks only enqueue work
 * there. A subscriber receives whole configs (or all status records) on the callback pool, one call
 * at a time, newest only (a slow subscriber skips intermediate versions but never sees them out of
 * order), so no subscriber can stall the mirror or another subscriber.
 */
final class StoreMirror {
  private static final Logger logger = Logger.getLogger(StoreMirror.class.getName());

  private final KeyLayout layout;
  private final EtcdCalls calls;
  private final Watch watchClient;
  private final ScheduledExecutorService serial;
  private final Executor callbacks;
  private final Reachability reachability;
  private final HeadIndex heads;
  private final Backoff backoff;
  private final Duration antiEntropyInterval;
  private final MeterRegistry meters;
  private final Tags storeTag;
  private final List<Subscriber> subscribers = new CopyOnWriteArrayList<>();
  private final List<StatusSubscriber> statusSubscribers = new CopyOnWriteArrayList<>();

  /** Test hook: a response with an event it matches is dropped as if the watch had skipped it. */
  private volatile Predicate<WatchEvent> loseResponse = event -> false;

  // Everything below is confined to the serial executor.

  /**
   * Every key under config/ and status/cp/, the head and the epoch: the etcd revision and version
   * counter of each.
   */
  private final Map<String, KeyState> keys = new HashMap<>();

  private final TreeMap<ResourceKey, Resource> resources = new TreeMap<>();
  private final TreeMap<String, FleetStatusRecord> statusRecords = new TreeMap<>();
  private @Nullable ImmutableMap<String, FleetStatusRecord> publishedStatus;
  private long appliedRevision;
  private long configVersion;
  private long epoch;
  private volatile @Nullable StoredConfig published;

  /** Bumped whenever the current watch or list is abandoned, so its late callbacks are ignored. */
  private long generation;

  private Watch.@Nullable Watcher watcher;
  private @Nullable ScheduledFuture<?> retry;
  private @Nullable ScheduledFuture<?> antiEntropy;
  private boolean started;
  private boolean checking;
  private boolean closed;

  StoreMirror(
      KeyLayout layout,
      EtcdCalls calls,
      Watch watchClient,
      ScheduledExecutorService serial,
      Executor callbacks,
      Reachability reachability,
      HeadIndex heads,
      EtcdStoreOptions options,
      MeterRegistry meters) {
    this.layout = layout;
    this.calls = calls;
    this.watchClient = watchClient;
    this.serial = serial;
    this.callbacks = callbacks;
    this.reachability = reachability;
    this.heads = heads;
    this.backoff = new Backoff(options.watchRetryMin(), options.watchRetryMax());
    this.antiEntropyInterval = options.antiEntropyInterval();
    this.meters = meters;
    this.storeTag = Tags.of("store", layout.prefix());
    meters.gauge("sluice.store.mirror.version", storeTag, this, StoreMirror::lastPublishedVersion);
  }

  /**
   * Starts mirroring (once) and delivers the current config, then every newer one, to {@code
   * listener}.
   */
  ConfigStore.Subscription subscribe(Consumer<StoredConfig> listener) {
    Subscriber subscriber = new Subscriber(listener);
    subscribers.add(subscriber);
    try {
      serial.execute(() -> start(subscriber));
    } catch (RejectedExecutionException e) {
      subscribers.remove(subscriber);
      throw StoreErrors.closed();
    }
    return subscriber;
  }

  /**
   * Starts following the replicas' fleet-status records (and mirroring, once) and delivers all of
   * them now, then again after every change, to {@code listener}.
   */
  ConfigStore.Subscription subscribeStatus(
      Consumer<ImmutableMap<String, FleetStatusRecord>> listener) {
    StatusSubscriber subscriber = new StatusSubscriber(listener);
    statusSubscribers.add(subscriber);
    try {
      serial.execute(
          () -> {
            if (!startOnce()) {
              ImmutableMap<String, FleetStatusRecord> current = publishedStatus;
              if (current != null) {
                subscriber.offer(current);
              }
            }
          });
    } catch (RejectedExecutionException e) {
      statusSubscribers.remove(subscriber);
      throw StoreErrors.closed();
    }
    return subscriber;
  }

  private void start(Subscriber subscriber) {
    if (!startOnce()) {
      StoredConfig current = published;
      if (current != null) {
        subscriber.offer(current);
      }
    }
  }

  /**
   * Starts listing and watching unless that happened already (or the mirror is closed); returns
   * whether it started now, in which case the first listing delivers to every subscriber.
   */
  private boolean startOnce() {
    if (closed) {
      return true;
    }
    if (started) {
      return false;
    }
    started = true;
    relist();
    scheduleAntiEntropy();
    return true;
  }

  /** Stops watching and delivering. Runs on the serial executor. */
  void close() {
    closed = true;
    abandonWatch();
    cancel(retry);
    cancel(antiEntropy);
    subscribers.forEach(Subscriber::close);
    statusSubscribers.forEach(StatusSubscriber::close);
  }

  void loseResponsesForTesting(Predicate<WatchEvent> predicate) {
    this.loseResponse = predicate;
  }

  long resyncs(String reason) {
    Counter counter =
        meters.find("sluice.store.mirror.resyncs").tags(storeTag).tag("reason", reason).counter();
    return counter == null ? 0 : (long) counter.count();
  }

  // ---------------------------------------------------------------- list (resync)

  /**
   * Lists everything again, applies the difference, and watches on from the listed revision.
   * Subscribers see at most one new version, never an empty or partial config.
   */
  private void resync(String reason) {
    meters.counter("sluice.store.mirror.resyncs", storeTag.and("reason", reason)).increment();
    logger.info("re-listing the config from etcd (" + reason + ")");
    relist();
  }

  private void relist() {
    abandonWatch();
    cancel(retry);
    long gen = generation;
    calls
        .list(layout, 0, false, true)
        .whenCompleteAsync(
            (listing, failure) -> {
              if (closed || gen != generation) {
                return;
              }
              if (failure != null) {
                Duration delay = backoff.next();
                logger.log(Level.FINE, "listing the config failed; retrying in " + delay, failure);
                retry = serial.schedule(this::relist, delay.toNanos(), TimeUnit.NANOSECONDS);
                return;
              }
              applyListing(listing);
              startWatch();
            },
            serial);
  }

  private void applyListing(EtcdCalls.Listing listing) {
    long previousRevision = appliedRevision;
    Map<String, KeyState> newKeys = new HashMap<>();
    TreeMap<ResourceKey, Resource> newResources = new TreeMap<>();
    long newVersion = 0;
    KeyValue head = listing.head();
    if (head != null) {
      newKeys.put(KeyLayout.string(head.getKey()), KeyState.of(head));
      newVersion = head.getModRevision();
    }
    KeyValue epochKv = listing.epoch();
    if (epochKv != null) {
      newKeys.put(KeyLayout.string(epochKv.getKey()), KeyState.of(epochKv));
    }
    for (KeyValue kv : listing.config()) {
      newKeys.put(KeyLayout.string(kv.getKey()), KeyState.of(kv));
      newVersion = Math.max(newVersion, kv.getModRevision());
      Resource resource = Codec.decodeResource(layout, kv);
      if (resource != null) {
        newResources.put(ResourceKey.of(resource), resource);
      }
    }
    // Status keys are mirrored like config keys, but never count towards the config version.
    TreeMap<String, FleetStatusRecord> newStatus = new TreeMap<>();
    for (KeyValue kv : listing.status()) {
      String key = KeyLayout.string(kv.getKey());
      newKeys.put(key, KeyState.of(kv));
      String replica = layout.parseStatus(key);
      FleetStatusRecord record = replica == null ? null : Codec.decodeStatus(kv);
      if (record != null) {
        newStatus.put(replica, record);
      }
    }
    boolean statusChanged = publishedStatus == null || !newStatus.equals(statusRecords);
    statusRecords.clear();
    statusRecords.putAll(newStatus);
    if (statusChanged) {
      publishStatus();
    }
    boolean contentChanged = !newResources.equals(resources);
    keys.clear();
    keys.putAll(newKeys);
    resources.clear();
    resources.putAll(newResources);
    appliedRevision = listing.revision();
    epoch = Codec.decodeEpoch(epochKv);

    StoredConfig last = published;
    if (last != null && listing.revision() < previousRevision) {
      // etcd was restored from a backup (or recreated): versions repeat, so this lineage needs
      // a new epoch. Its watch event publishes the restored config under it.
      logger.severe(
          "etcd's revision went backwards from "
              + previousRevision
              + " to "
              + listing.revision()
              + " (restored from a backup?); starting a new config epoch");
      configVersion = newVersion;
      bumpEpoch(epochKv);
      return;
    }
    if (last == null || epoch != last.epoch() || newVersion > last.version()) {
      configVersion = newVersion;
      publish();
    } else if (!contentChanged) {
      configVersion = last.version();
    } else if (listing.revision() > last.version()) {
      // Changed without a newer key revision: a delete the watch missed. The listed revision
      // is a version known to contain it.
      configVersion = listing.revision();
      publish();
    } else {
      // What was published as the last version lacked an event of that very revision. Its
      // version cannot be reused, so the corrected config goes out with the next change.
      configVersion = last.version();
      logger.severe(
          "config version "
              + last.version()
              + " was published without some of its changes; the next version corrects it");
    }
  }

  /**
   * Replaces the epoch, unless someone (another replica that saw the same regression) already did:
   * a compare-and-set on the epoch key as this mirror last saw it.
   */
  private void bumpEpoch(@Nullable KeyValue seen) {
    long next = Codec.newEpoch();
    Cmp unchanged =
        seen == null
            ? new Cmp(layout.epoch(), Cmp.Op.EQUAL, CmpTarget.createRevision(0))
            : new Cmp(layout.epoch(), Cmp.Op.EQUAL, CmpTarget.modRevision(seen.getModRevision()));
    calls
        .call(
            () ->
                calls
                    .kv()
                    .txn()
                    .If(unchanged)
                    .Then(Op.put(layout.epoch(), Codec.encodeEpoch(next), PutOption.DEFAULT))
                    .commit())
        .whenCompleteAsync(
            (response, failure) -> {
              if (closed) {
                return;
              }
              if (failure != null) {
                Duration delay = backoff.next();
                logger.log(
                    Level.WARNING, "writing a new epoch failed; retrying in " + delay, failure);
                serial.schedule(() -> bumpEpoch(seen), delay.toNanos(), TimeUnit.NANOSECONDS);
              } else if (response.isSucceeded()) {
                logger.warning("started config epoch " + Long.toHexString(next));
              }
              // Otherwise another replica bumped it first; its event brings the new epoch here.
            },
            serial);
  }

  // ---------------------------------------------------------------- watch

  private void startWatch() {
    long gen = ++generation;
    WatchOption option =
        WatchOption.builder()
            .isPrefix(true)
            .withRevision(appliedRevision + 1)
            .withProgressNotify(true)
            .withCreateNotify(true)
            .withRequireLeader(true)
            .build();
    Watch.Listener listener =
        new Watch.Listener() {
          @Override
          public void onNext(WatchResponse response) {
            hop(() -> onWatchResponse(gen, response));
          }

          @Override
          public void onError(Throwable error) {
            hop(() -> onWatchError(gen, error));
          }

          @Override
          public void onCompleted() {
            hop(() -> onWatchCompleted(gen));
          }
        };
    try {
      watcher = watchClient.watch(layout.root(), option, listener);
    } catch (RuntimeException e) {
      onWatchError(gen, e);
    }
  }

  private void onWatchResponse(long gen, WatchResponse response) {
    if (closed || gen != generation) {
      return;
    }
    long headerRevision = response.getHeader().getRevision();
    if (response.isCreatedNotify()) {
      reachability.up();
      backoff.reset();
      if (headerRevision != 0 && headerRevision < appliedRevision) {
        resync("regression");
      }
      return;
    }
    if (response.isProgressNotify()) {
      // Only timed notifications arrive (we never request one): on 3.4.23 those are sent only
      // when the watcher has caught up, so everything up to the header revision was delivered.
      appliedRevision = Math.max(appliedRevision, headerRevision);
      return;
    }
    List<WatchEvent> events = response.getEvents();
    if (events.isEmpty()) {
      return;
    }
    if (events.stream().anyMatch(loseResponse)) {
      // Test hook: as if the stream had skipped these revisions, as jetcd can on a reconnect.
      appliedRevision =
          Math.max(appliedRevision, events.get(events.size() - 1).getKeyValue().getModRevision());
      return;
    }
    Applied applied = apply(events);
    if (applied.gap()) {
      resync("gap");
      return;
    }
    StoredConfig last = published;
    if (applied.config()
        && (last == null || epoch != last.epoch() || configVersion > last.version())) {
      publish();
    }
    if (applied.status()) {
      publishStatus();
    }
  }

  /**
   * What one response's events changed.
   *
   * @param config the config (a resource, the head or the epoch)
   * @param status a replica's fleet-status record
   * @param gap events were lost; nothing can be trusted until a resync
   */
  private record Applied(boolean config, boolean status, boolean gap) {
    static final Applied GAP = new Applied(false, false, true);
  }

  /**
   * Applies one response's events. A response never splits a revision's events, so the events of
   * one commit are applied together and nothing in between is published.
   */
  private Applied apply(List<WatchEvent> events) {
    long floor = appliedRevision;
    long last = appliedRevision;
    boolean changed = false;
    boolean statusChanged = false;
    for (WatchEvent event : events) {
      KeyValue kv = event.getKeyValue();
      long revision = kv.getModRevision();
      if (revision <= floor) {
        continue; // a duplicate, or replayed history
      }
      last = Math.max(last, revision);
      String key = KeyLayout.string(kv.getKey());
      boolean isEpoch = layout.isEpoch(key);
      boolean isStatus = layout.isStatus(key);
      if (!isEpoch && !isStatus && !layout.isHead(key) && !layout.isConfig(key)) {
        continue; // history, request ids, other users of the prefix
      }
      KeyState known = keys.get(key);
      boolean put = event.getEventType() == WatchEvent.EventType.PUT;
      if (put) {
        long expected = known == null ? 1 : known.version() + 1;
        if (kv.getVersion() != expected) {
          logger.warning(
              "watch gap on " + key + ": version " + kv.getVersion() + ", expected " + expected);
          return Applied.GAP;
        }
        keys.put(key, KeyState.of(kv));
      } else if (event.getEventType() == WatchEvent.EventType.DELETE) {
        if (known == null) {
          logger.warning("watch gap: delete of " + key + ", which was never seen");
          return Applied.GAP;
        }
        keys.remove(key);
      } else {
        continue;
      }
      if (isStatus) {
        // Live state of a replica, not config: no version, no snapshot.
        statusChanged = true;
        String replica = layout.parseStatus(key);
        if (replica != null) {
          FleetStatusRecord record = put ? Codec.decodeStatus(kv) : null;
          if (record != null) {
            statusRecords.put(replica, record);
          } else {
            statusRecords.remove(replica);
          }
        }
        continue;
      }
      changed = true;
      if (isEpoch) {
        epoch = put ? Codec.decodeEpoch(kv) : 0;
        continue; // a new lineage, not a new version
      }
      configVersion = Math.max(configVersion, revision);
      ResourceKey resourceKey = layout.parseConfig(key);
      if (resourceKey != null) {
        Resource resource = put ? Codec.decodeResource(layout, kv) : null;
        if (resource != null) {
          resources.put(resourceKey, resource);
        } else {
          resources.remove(resourceKey);
        }
      }
    }
    appliedRevision = last;
    return new Applied(changed, statusChanged, false);
  }

  private void onWatchError(long gen, Throwable error) {
    if (closed || gen != generation) {
      return;
    }
    abandonWatch();
    if (StoreErrors.isCompacted(error)) {
      resync("compacted");
      return;
    }
    if (StoreErrors.isFutureRevision(error)) {
      // Our resume revision is ahead of etcd's: its revisions went backwards.
      resync("regression");
      return;
    }
    if (StoreErrors.isConnectivity(error)) {
      reachability.down(StoreErrors.unwrap(error));
    }
    rewatchLater(error);
  }

  private void onWatchCompleted(long gen) {
    if (closed || gen != generation) {
      return;
    }
    abandonWatch();
    rewatchLater(new IllegalStateException("watch ended"));
  }

  private void rewatchLater(Throwable cause) {
    Duration delay = backoff.next();
    logger.log(
        Level.FINE,
        "watch failed at revision " + appliedRevision + "; re-watching in " + delay,
        cause);
    cancel(retry);
    retry =
        serial.schedule(
            () -> {
              retry = null;
              if (!closed && watcher == null) {
                startWatch();
              }
            },
            delay.toNanos(),
            TimeUnit.NANOSECONDS);
  }

  /**
   * Closes the current watcher, if any. Done here on the serial executor, never inside a jetcd
   * callback: jetcd is still tearing the stream down under its lock there. Closing also cancels the
   * resume jetcd schedules after a transient error.
   */
  private void abandonWatch() {
    generation++;
    Watch.Watcher current = watcher;
    watcher = null;
    if (current != null) {
      try {
        current.close();
      } catch (RuntimeException e) {
        logger.log(Level.FINE, "closing a watcher failed", e);
      }
    }
  }

  // ---------------------------------------------------------------- anti-entropy

  private void scheduleAntiEntropy() {
    long interval = antiEntropyInterval.toNanos();
    long delay = interval / 2 + ThreadLocalRandom.current().nextLong(interval / 2 + 1);
    antiEntropy = serial.schedule(this::checkConsistency, delay, TimeUnit.NANOSECONDS);
  }

  /**
   * Compares the mirror with a keys-only list at the applied revision: the same revision, so any
   * difference means an event was lost, however it happened. Events arriving meanwhile do not
   * matter: the comparison uses the key revisions as they were at that revision.
   */
  private void checkConsistency() {
    if (closed) {
      return;
    }
    scheduleAntiEntropy();
    if (watcher == null || checking) {
      return; // not live: a resync or re-watch is already under way
    }
    checking = true;
    long at = appliedRevision;
    long gen = generation;
    Map<String, Long> expected = new HashMap<>();
    keys.forEach((key, state) -> expected.put(key, state.modRevision()));
    calls
        .list(layout, at, true, true)
        .whenCompleteAsync(
            (listing, failure) -> {
              checking = false;
              if (closed || gen != generation) {
                return;
              }
              if (failure != null) {
                if (StoreErrors.isCompacted(failure)) {
                  resync("compacted");
                } else {
                  logger.log(Level.FINE, "consistency check failed", failure);
                }
                return;
              }
              Map<String, Long> actual = new HashMap<>();
              for (KeyValue meta : new KeyValue[] {listing.head(), listing.epoch()}) {
                if (meta != null) {
                  actual.put(KeyLayout.string(meta.getKey()), meta.getModRevision());
                }
              }
              for (KeyValue kv : listing.config()) {
                actual.put(KeyLayout.string(kv.getKey()), kv.getModRevision());
              }
              for (KeyValue kv : listing.status()) {
                actual.put(KeyLayout.string(kv.getKey()), kv.getModRevision());
              }
              if (!actual.equals(expected)) {
                logger.warning(
                    "the config mirror diverged from etcd at revision "
                        + at
                        + " (events were lost); re-listing");
                resync("divergence");
              }
            },
            serial);
  }

  // ---------------------------------------------------------------- publishing

  /** Read by the version gauge from any thread; a stale value is fine there. */
  private long lastPublishedVersion() {
    StoredConfig last = published;
    return last == null ? -1 : last.version();
  }

  private void publish() {
    StoredConfig config =
        new StoredConfig(epoch, configVersion, ImmutableSortedMap.copyOfSorted(resources));
    published = config;
    KeyState head = keys.get(KeyLayout.string(layout.head()));
    heads.record(configVersion, head == null ? 0 : head.modRevision());
    for (Subscriber subscriber : subscribers) {
      subscriber.offer(config);
    }
  }

  /** Hands every status subscriber the records as they are now. Runs on the serial executor. */
  private void publishStatus() {
    ImmutableMap<String, FleetStatusRecord> records = ImmutableMap.copyOf(statusRecords);
    publishedStatus = records;
    for (StatusSubscriber subscriber : statusSubscribers) {
      subscriber.offer(records);
    }
  }

  private void hop(Runnable task) {
    try {
      serial.execute(task);
    } catch (RejectedExecutionException e) {
      // The store is closing; the event no longer matters.
    }
  }

  private static void cancel(@Nullable ScheduledFuture<?> task) {
    if (task != null) {
      task.cancel(false);
    }
  }

  /** Versions strictly increase within an epoch; another epoch is another lineage. */
  private static boolean isNewer(StoredConfig config, @Nullable StoredConfig than) {
    return than == null || config.epoch() != than.epoch() || config.version() > than.version();
  }

  /** What the mirror knows of one key. */
  private record KeyState(long modRevision, long version) {
    static KeyState of(KeyValue kv) {
      return new KeyState(kv.getModRevision(), kv.getVersion());
    }
  }

  /** One {@link ConfigStore#watch} registration; delivers newest-only, one call at a time. */
  private final class Subscriber implements ConfigStore.Subscription {
    private final Consumer<StoredConfig> listener;
    private final Executor lane = MoreExecutors.newSequentialExecutor(callbacks);
    private final AtomicReference<@Nullable StoredConfig> pending = new AtomicReference<>();
    private volatile boolean closed;
    private @Nullable StoredConfig delivered; // only touched on the lane

    Subscriber(Consumer<StoredConfig> listener) {
      this.listener = listener;
    }

    /** Called on the serial executor only, in publishing order, so the last offer is the newest. */
    void offer(StoredConfig config) {
      pending.set(config);
      try {
        lane.execute(this::drain);
      } catch (RejectedExecutionException e) {
        // The store is closing.
      }
    }

    private void drain() {
      StoredConfig config = pending.getAndSet(null);
      if (config == null || closed || !isNewer(config, delivered)) {
        return;
      }
      delivered = config;
      try {
        listener.accept(config);
      } catch (RuntimeException e) {
        logger.log(Level.WARNING, "a config store subscriber failed", e);
      }
    }

    @Override
    public void close() {
      closed = true;
      subscribers.remove(this);
    }
  }

  /** One {@link ConfigStore#watchFleetStatus} registration; newest-only, one call at a time. */
  private final class StatusSubscriber implements ConfigStore.Subscription {
    private final Consumer<ImmutableMap<String, FleetStatusRecord>> listener;
    private final Executor lane = MoreExecutors.newSequentialExecutor(callbacks);
    private final AtomicReference<@Nullable ImmutableMap<String, FleetStatusRecord>> pending =
        new AtomicReference<>();
    private volatile boolean closed;

    StatusSubscriber(Consumer<ImmutableMap<String, FleetStatusRecord>> listener) {
      this.listener = listener;
    }

    /** Called on the serial executor only, in publishing order, so the last offer is the newest. */
    void offer(ImmutableMap<String, FleetStatusRecord> records) {
      pending.set(records);
      try {
        lane.execute(this::drain);
      } catch (RejectedExecutionException e) {
        // The store is closing.
      }
    }

    private void drain() {
      ImmutableMap<String, FleetStatusRecord> records = pending.getAndSet(null);
      if (records == null || closed) {
        return;
      }
      try {
        listener.accept(records);
      } catch (RuntimeException e) {
        logger.log(Level.WARNING, "a fleet status subscriber failed", e);
      }
    }

    @Override
    public void close() {
      closed = true;
      statusSubscribers.remove(this);
    }
  }
}
