package dev.sluice.controlplane.store;

import static java.util.Objects.requireNonNull;

import com.google.common.base.Preconditions;
import com.google.common.collect.ImmutableList;
import com.google.common.collect.ImmutableMap;
import com.google.common.collect.ImmutableSortedMap;
import com.google.common.util.concurrent.ThreadFactoryBuilder;
import com.google.protobuf.util.Timestamps;
import dev.sluice.admin.v1.ChangeRecord;
import dev.sluice.admin.v1.FleetStatusRecord;
import dev.sluice.config.v1.Resource;
import dev.sluice.grpc.ApiException;
import io.grpc.Status;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.jspecify.annotations.Nullable;

/**
 * The {@link ConfigStore} of development mode: one process, state in memory, every committed change
 * appended to a log file in a local directory (see {@link EmbeddedLog}) and forced to disk before
 * it is acknowledged, so a restart keeps the config, its history and its request ids.
 *
 * <p><b>Threading.</b> Every read and state change runs on one serial executor (the "store
 * thread"), so commits are linearizable and futures complete there. Watch listeners run on a second
 * serial thread of the store so that a slow listener never delays a commit; each subscription gets
 * the newest config only.
 *
 * <p><b>Versions.</b> The first commit creates version 1; each commit adds one. The epoch is a
 * random number chosen when the directory is initialized, so a recreated directory (versions
 * restarting at 1) is a new epoch to data planes.
 *
 * <p><b>History.</b> The store keeps at least {@link Options#historyVersions()} recent versions and
 * every change younger than {@link Options#requestIdRetention()} (24 hours by default, so request
 * ids resolve for at least that long); older changes are folded into the log's base by compaction
 * and their versions can no longer be {@link #readAt read}.
 *
 * <p><b>Failures.</b> If an append or fsync fails, the outcome of that commit is unknown (the
 * change may be on disk): the commit fails with {@code STORE_OUTCOME_UNKNOWN} and the store stops
 * accepting writes ({@link #isWritable()} turns false) until it is reopened, which re-reads the log
 * and so resolves the outcome for a retry with the same request id.
 *
 * <p><b>Fleet status.</b> Every replica that can reach this store runs in this process, so the
 * replicas' fleet-status records are kept in memory only, on the store thread like everything else;
 * they are gone when the store closes, as a replica's record must be once it is gone. For the same
 * reason the quota allocator is elected in memory ({@link EmbeddedElection}): the first campaigner
 * leads until it resigns.
 */
final class EmbeddedConfigStore implements ConfigStore {
  private static final Logger logger = Logger.getLogger(EmbeddedConfigStore.class.getName());
  private static final String LOCK_FILE_NAME = "LOCK";

  /**
   * Tuning of an embedded store.
   *
   * @param historyVersions versions always kept readable for rollback and history
   * @param requestIdRetention changes younger than this are kept too (request ids resolve)
   * @param clock source of commit times
   */
  record Options(int historyVersions, Duration requestIdRetention, Clock clock) {
    static final Options DEFAULTS = new Options(1000, Duration.ofHours(24), Clock.systemUTC());

    Options {
      Preconditions.checkArgument(
          historyVersions >= 1, "historyVersions: %s (expected: >= 1)", historyVersions);
      requireNonNull(requestIdRetention, "requestIdRetention");
      requireNonNull(clock, "clock");
    }
  }

  private final Path directory;
  private final Options options;
  private final FileChannel lockChannel;
  private final FileLock lock;
  private final ExecutorService storeThread;
  private final ExecutorService notifyThread;
  private final CopyOnWriteArrayList<WatchSubscription> subscriptions =
      new CopyOnWriteArrayList<>();
  private final CopyOnWriteArrayList<StatusSubscription> statusSubscriptions =
      new CopyOnWriteArrayList<>();
  private final AtomicBoolean closed = new AtomicBoolean();
  private final long epoch;

  // State below is confined to storeThread.
  private final EmbeddedLog log;
  private StoredConfig base;
  private final Deque<EmbeddedLog.Entry> entries;
  private final Map<String, ChangeRecord> byRequestId = new HashMap<>();
  private StoredConfig head;
  private ImmutableMap<String, FleetStatusRecord> statusRecords = ImmutableMap.of();
  private volatile boolean writable = true;
  private final EmbeddedElection quotaAllocatorElection;

  private EmbeddedConfigStore(
      Path directory,
      Options options,
      FileChannel lockChannel,
      FileLock lock,
      EmbeddedLog log,
      EmbeddedLog.Contents contents) {
    this.directory = directory;
    this.options = options;
    this.lockChannel = lockChannel;
    this.lock = lock;
    this.log = log;
    this.epoch = contents.epoch();
    this.base = contents.base();
    this.entries = new ArrayDeque<>(contents.entries());
    StoredConfig replayed = base;
    for (EmbeddedLog.Entry entry : entries) {
      replayed = apply(replayed, entry);
      indexRequestId(entry.record());
    }
    this.head = replayed;
    this.storeThread =
        Executors.newSingleThreadExecutor(
            new ThreadFactoryBuilder()
                .setNameFormat("sluice-embedded-store-%d")
                .setDaemon(true)
                .build());
    this.notifyThread =
        Executors.newSingleThreadExecutor(
            new ThreadFactoryBuilder()
                .setNameFormat("sluice-embedded-store-watch-%d")
                .setDaemon(true)
                .build());
    this.quotaAllocatorElection = new EmbeddedElection(storeThread, notifyThread);
  }

  /** Opens the store in {@code directory}, creating the directory and an empty log if needed. */
  static ConfigStore open(Path directory, Options options) {
    requireNonNull(directory, "directory");
    requireNonNull(options, "options");
    FileChannel lockChannel = null;
    try {
      Files.createDirectories(directory);
      lockChannel =
          FileChannel.open(
              directory.resolve(LOCK_FILE_NAME),
              StandardOpenOption.CREATE,
              StandardOpenOption.WRITE);
      FileLock lock;
      try {
        lock = lockChannel.tryLock();
      } catch (OverlappingFileLockException e) {
        lock = null;
      }
      if (lock == null) {
        throw new IOException(directory + " is in use by another embedded config store");
      }
      EmbeddedLog log;
      EmbeddedLog.Contents contents;
      if (EmbeddedLog.exists(directory)) {
        contents = EmbeddedLog.read(directory);
        log = EmbeddedLog.openForAppend(directory);
      } else {
        long epoch = new SecureRandom().nextLong() & Long.MAX_VALUE;
        log = EmbeddedLog.create(directory, epoch);
        contents = new EmbeddedLog.Contents(epoch, emptyConfig(epoch), ImmutableList.of());
      }
      return new EmbeddedConfigStore(directory, options, lockChannel, lock, log, contents);
    } catch (IOException e) {
      closeQuietly(lockChannel);
      throw new UncheckedIOException("cannot open the embedded config store in " + directory, e);
    }
  }

  // ---- ConfigStore

  @Override
  public CompletableFuture<StoredConfig> read() {
    return onStoreThread(() -> head);
  }

  @Override
  public CompletableFuture<StoredConfig> readAt(long version) {
    return onStoreThread(() -> configAt(version));
  }

  @Override
  public CompletableFuture<CommitOutcome> commit(Commit commit) {
    requireNonNull(commit, "commit");
    return onStoreThread(() -> doCommit(commit));
  }

  @Override
  public CompletableFuture<List<ChangeRecord>> history(long beforeVersion, int limit) {
    Preconditions.checkArgument(limit > 0, "limit: %s (expected: > 0)", limit);
    return onStoreThread(
        () -> {
          List<ChangeRecord> records = new ArrayList<>();
          for (Iterator<EmbeddedLog.Entry> it = entries.descendingIterator();
              it.hasNext() && records.size() < limit; ) {
            EmbeddedLog.Entry entry = it.next();
            if (beforeVersion == 0 || entry.version() < beforeVersion) {
              records.add(entry.record());
            }
          }
          return List.copyOf(records);
        });
  }

  @Override
  public CompletableFuture<Optional<ChangeRecord>> findByRequestId(String requestId) {
    requireNonNull(requestId, "requestId");
    return onStoreThread(
        () -> requestId.isEmpty() ? Optional.empty() : Optional.ofNullable(byRequestId.get(requestId)));
  }

  @Override
  public Subscription watch(Consumer<StoredConfig> listener) {
    requireNonNull(listener, "listener");
    WatchSubscription subscription = new WatchSubscription(listener);
    subscriptions.add(subscription);
    // Offer the current head from the store thread, so it is ordered with commits.
    try {
      storeThread.execute(() -> subscription.offer(head));
    } catch (RejectedExecutionException e) {
      subscriptions.remove(subscription);
      throw unavailable("the embedded config store is closed");
    }
    return subscription;
  }

  @Override
  public CompletableFuture<Void> publishFleetStatus(
      String controlPlaneId, FleetStatusRecord record) {
    ControlPlaneIds.check(controlPlaneId);
    requireNonNull(record, "record");
    return onStoreThread(
        () -> {
          Map<String, FleetStatusRecord> records = new TreeMap<>(statusRecords);
          records.put(controlPlaneId, record);
          setStatusRecords(ImmutableMap.copyOf(records));
          return null;
        });
  }

  @Override
  public CompletableFuture<Void> withdrawFleetStatus(String controlPlaneId) {
    ControlPlaneIds.check(controlPlaneId);
    return onStoreThread(
        () -> {
          if (statusRecords.containsKey(controlPlaneId)) {
            Map<String, FleetStatusRecord> records = new TreeMap<>(statusRecords);
            records.remove(controlPlaneId);
            setStatusRecords(ImmutableMap.copyOf(records));
          }
          return null;
        });
  }

  @Override
  public Subscription watchFleetStatus(Consumer<ImmutableMap<String, FleetStatusRecord>> listener) {
    requireNonNull(listener, "listener");
    StatusSubscription subscription = new StatusSubscription(listener);
    statusSubscriptions.add(subscription);
    try {
      storeThread.execute(() -> subscription.offer(statusRecords));
    } catch (RejectedExecutionException e) {
      statusSubscriptions.remove(subscription);
      throw unavailable("the embedded config store is closed");
    }
    return subscription;
  }

  /** Runs on the store thread, so subscribers are offered records in the order they changed. */
  private void setStatusRecords(ImmutableMap<String, FleetStatusRecord> records) {
    statusRecords = records;
    for (StatusSubscription subscription : statusSubscriptions) {
      subscription.offer(records);
    }
  }

  @Override
  public Subscription campaignForQuotaAllocator(Candidate self, Consumer<Leadership> listener) {
    requireNonNull(self, "self");
    return joinQuotaAllocatorElection(self, listener);
  }

  @Override
  public Subscription watchQuotaAllocator(Consumer<Leadership> listener) {
    return joinQuotaAllocatorElection(null, listener);
  }

  private Subscription joinQuotaAllocatorElection(
      @Nullable Candidate self, Consumer<Leadership> listener) {
    requireNonNull(listener, "listener");
    try {
      return quotaAllocatorElection.join(self, listener);
    } catch (RejectedExecutionException e) {
      throw unavailable("the embedded config store is closed");
    }
  }

  @Override
  public boolean isWritable() {
    return writable && !closed.get();
  }

  @Override
  public void close() {
    if (!closed.compareAndSet(false, true)) {
      return;
    }
    subscriptions.forEach(WatchSubscription::close);
    statusSubscriptions.forEach(StatusSubscription::close);
    storeThread.shutdown();
    notifyThread.shutdown();
    try {
      if (!storeThread.awaitTermination(10, TimeUnit.SECONDS)) {
        storeThread.shutdownNow();
      }
      notifyThread.awaitTermination(2, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    try {
      log.close();
    } catch (IOException e) {
      logger.log(Level.WARNING, "Closing the log of " + directory + " failed", e);
    }
    try {
      lock.release();
    } catch (IOException e) {
      logger.log(Level.FINE, "Releasing the lock of " + directory + " failed", e);
    }
    closeQuietly(lockChannel);
  }

  @Override
  public String toString() {
    return "EmbeddedConfigStore{" + directory + "}";
  }

  // ---- store thread

  private StoredConfig configAt(long version) {
    if (version == head.version()) {
      return head;
    }
    if (version > head.version() || version < 0) {
      throw ApiException.builder(Status.Code.NOT_FOUND, "VERSION_NOT_FOUND")
          .message("config version " + version + " does not exist (newest: " + head.version() + ")")
          .metadata("version", Long.toString(version))
          .build();
    }
    if (version < base.version()) {
      throw ApiException.builder(Status.Code.FAILED_PRECONDITION, "VERSION_COMPACTED")
          .message(
              "config version "
                  + version
                  + " is no longer kept (oldest kept: "
                  + base.version()
                  + ")")
          .metadata("version", Long.toString(version))
          .build();
    }
    StoredConfig config = base;
    for (EmbeddedLog.Entry entry : entries) {
      if (entry.version() > version) {
        break;
      }
      config = apply(config, entry);
    }
    return config;
  }

  private CommitOutcome doCommit(Commit commit) throws IOException {
    if (!writable) {
      throw unavailable("the embedded config store stopped accepting writes after an I/O error");
    }
    checkShape(commit);
    Map<ResourceKey, Long> mismatched = new TreeMap<>();
    commit
        .expectedVersions()
        .forEach(
            (key, expected) -> {
              long actual = head.get(key).map(Resources::version).orElse(0L);
              if (actual != expected) {
                mismatched.put(key, actual);
              }
            });
    if (!mismatched.isEmpty()) {
      return new CommitOutcome.Conflict(head.version(), ImmutableMap.copyOf(mismatched));
    }
    if (commit.expectedHeadVersion() != head.version()) {
      return new CommitOutcome.HeadMoved(head.version());
    }

    long version = head.version() + 1;
    Instant now = options.clock().instant();
    ChangeRecord record =
        commit.record().toBuilder()
            .setConfigVersion(version)
            .setCommitTime(Timestamps.fromMillis(now.toEpochMilli()))
            .build();
    ImmutableList<Resource> upserts =
        commit.upserts().stream()
            .map(r -> Resources.withVersion(r, version))
            .collect(ImmutableList.toImmutableList());
    EmbeddedLog.Entry entry = new EmbeddedLog.Entry(record, upserts, commit.deletes());
    try {
      log.append(entry);
    } catch (IOException e) {
      writable = false;
      throw ApiException.builder(Status.Code.UNAVAILABLE, "STORE_OUTCOME_UNKNOWN")
          .message(
              "writing the change to disk failed; its outcome is unknown: retry with the same"
                  + " request id after the store is reopened")
          .cause(e)
          .build();
    }
    head = apply(head, entry);
    entries.addLast(entry);
    indexRequestId(record);
    for (WatchSubscription subscription : subscriptions) {
      subscription.offer(head);
    }
    compactIfDue(now);
    return new CommitOutcome.Committed(record);
  }

  private static void checkShape(Commit commit) {
    Preconditions.checkArgument(
        !commit.upserts().isEmpty() || !commit.deletes().isEmpty(),
        "a commit needs at least one upsert or delete");
    Set<ResourceKey> seen = new HashSet<>();
    for (Resource upsert : commit.upserts()) {
      ResourceKey key = ResourceKey.of(upsert);
      Preconditions.checkArgument(seen.add(key), "%s appears twice in the commit", key);
    }
    for (ResourceKey key : commit.deletes()) {
      Preconditions.checkArgument(seen.add(key), "%s appears twice in the commit", key);
    }
  }

  /**
   * Folds changes beyond the retention into the base, in batches so the log is not rewritten on
   * every commit.
   */
  private void compactIfDue(Instant now) {
    int slack = Math.max(16, options.historyVersions() / 4);
    if (entries.size() < options.historyVersions() + slack) {
      return;
    }
    Instant keepAfter = now.minus(options.requestIdRetention());
    List<EmbeddedLog.Entry> dropped = new ArrayList<>();
    Iterator<EmbeddedLog.Entry> it = entries.iterator();
    int remaining = entries.size();
    while (it.hasNext() && remaining > options.historyVersions()) {
      EmbeddedLog.Entry entry = it.next();
      Instant committed = Instant.ofEpochMilli(Timestamps.toMillis(entry.record().getCommitTime()));
      if (!committed.isBefore(keepAfter)) {
        break;
      }
      dropped.add(entry);
      remaining--;
    }
    if (dropped.size() < slack) {
      return;
    }
    StoredConfig newBase = base;
    for (EmbeddedLog.Entry entry : dropped) {
      newBase = apply(newBase, entry);
    }
    List<EmbeddedLog.Entry> kept = new ArrayList<>(entries).subList(dropped.size(), entries.size());
    try {
      log.rewrite(epoch, newBase, kept);
    } catch (IOException e) {
      // The old log is intact (the new one replaces it only by an atomic rename); try again later.
      logger.log(Level.WARNING, "Compacting the log of " + directory + " failed", e);
      return;
    }
    for (int i = 0; i < dropped.size(); i++) {
      ChangeRecord record = entries.removeFirst().record();
      if (!record.getRequestId().isEmpty()) {
        byRequestId.remove(record.getRequestId(), record);
      }
    }
    base = newBase;
    long baseVersion = newBase.version();
    logger.fine(() -> "Compacted " + directory + " up to version " + baseVersion);
  }

  private void indexRequestId(ChangeRecord record) {
    if (!record.getRequestId().isEmpty()) {
      byRequestId.put(record.getRequestId(), record);
    }
  }

  private static StoredConfig apply(StoredConfig config, EmbeddedLog.Entry entry) {
    TreeMap<ResourceKey, Resource> resources = new TreeMap<>(config.resources());
    for (ResourceKey key : entry.deletes()) {
      resources.remove(key);
    }
    for (Resource resource : entry.upserts()) {
      resources.put(ResourceKey.of(resource), resource);
    }
    return new StoredConfig(
        config.epoch(), entry.version(), ImmutableSortedMap.copyOfSorted(resources));
  }

  private static StoredConfig emptyConfig(long epoch) {
    return new StoredConfig(epoch, 0, ImmutableSortedMap.of());
  }

  private <T> CompletableFuture<T> onStoreThread(ThrowingSupplier<T> work) {
    CompletableFuture<T> future = new CompletableFuture<>();
    if (closed.get()) {
      future.completeExceptionally(unavailable("the embedded config store is closed"));
      return future;
    }
    try {
      storeThread.execute(
          () -> {
            try {
              future.complete(work.get());
            } catch (Throwable t) {
              future.completeExceptionally(t);
            }
          });
    } catch (RejectedExecutionException e) {
      future.completeExceptionally(unavailable("the embedded config store is closed"));
    }
    return future;
  }

  private static ApiException unavailable(String message) {
    return ApiException.builder(Status.Code.UNAVAILABLE, "STORE_UNAVAILABLE")
        .message(message)
        .build();
  }

  private static void closeQuietly(@Nullable FileChannel channel) {
    if (channel != null) {
      try {
        channel.close();
      } catch (IOException e) {
        logger.log(Level.FINE, "close failed", e);
      }
    }
  }

  @FunctionalInterface
  private interface ThrowingSupplier<T> {
    T get() throws Exception;
  }

  /** A watch: delivers the newest offered config on the notify thread, never an older one. */
  private final class WatchSubscription implements Subscription {
    private final Consumer<StoredConfig> listener;
    private final LatestValueDelivery<StoredConfig> delivery =
        new LatestValueDelivery<>(notifyThread, this::deliver);
    private volatile boolean cancelled;

    // Confined to notifyThread.
    private long deliveredVersion = -1;

    WatchSubscription(Consumer<StoredConfig> listener) {
      this.listener = listener;
    }

    void offer(StoredConfig config) {
      if (!cancelled) {
        delivery.offer(config);
      }
    }

    private void deliver(StoredConfig config) {
      if (cancelled || config.version() <= deliveredVersion) {
        return;
      }
      deliveredVersion = config.version();
      try {
        listener.accept(config);
      } catch (RuntimeException e) {
        logger.log(Level.WARNING, "A config watch listener failed", e);
      }
    }

    @Override
    public void close() {
      cancelled = true;
      subscriptions.remove(this);
    }
  }

  /** A fleet-status watch: delivers the newest offered records on the notify thread. */
  private final class StatusSubscription implements Subscription {
    private final Consumer<ImmutableMap<String, FleetStatusRecord>> listener;
    private final LatestValueDelivery<ImmutableMap<String, FleetStatusRecord>> delivery =
        new LatestValueDelivery<>(notifyThread, this::deliver);
    private volatile boolean cancelled;

    StatusSubscription(Consumer<ImmutableMap<String, FleetStatusRecord>> listener) {
      this.listener = listener;
    }

    void offer(ImmutableMap<String, FleetStatusRecord> records) {
      if (!cancelled) {
        delivery.offer(records);
      }
    }

    private void deliver(ImmutableMap<String, FleetStatusRecord> records) {
      if (cancelled) {
        return;
      }
      try {
        listener.accept(records);
      } catch (RuntimeException e) {
        logger.log(Level.WARNING, "A fleet status watch listener failed", e);
      }
    }

    @Override
    public void close() {
      cancelled = true;
      statusSubscriptions.remove(this);
    }
  }
}
