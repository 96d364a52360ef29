package dev.sluice.controlplane.store.etcd;

import static java.util.Objects.requireNonNull;

import com.google.common.collect.ImmutableList;
import com.google.common.collect.ImmutableMap;
import com.google.protobuf.Timestamp;
import dev.sluice.admin.v1.ChangeRecord;
import dev.sluice.admin.v1.FleetStatusRecord;
import dev.sluice.config.v1.Resource;
import dev.sluice.controlplane.store.Candidate;
import dev.sluice.controlplane.store.Commit;
import dev.sluice.controlplane.store.CommitOutcome;
import dev.sluice.controlplane.store.ConfigStore;
import dev.sluice.controlplane.store.ControlPlaneIds;
import dev.sluice.controlplane.store.Leadership;
import dev.sluice.controlplane.store.ResourceKey;
import dev.sluice.controlplane.store.StoredConfig;
import dev.sluice.grpc.ApiException;
import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import io.etcd.jetcd.KeyValue;
import io.etcd.jetcd.kv.GetResponse;
import io.etcd.jetcd.kv.TxnResponse;
import io.etcd.jetcd.op.Cmp;
import io.etcd.jetcd.op.CmpTarget;
import io.etcd.jetcd.op.Op;
import io.etcd.jetcd.options.DeleteOption;
import io.etcd.jetcd.options.GetOption;
import io.etcd.jetcd.options.PutOption;
import io.grpc.Status;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.jspecify.annotations.Nullable;

/**
 * The etcd {@link ConfigStore}; see the package docs for the key layout and threading.
 *
 * <p>A commit is one etcd transaction: compare the head (and each expected resource version), then
 * write the resources, the head, the history entry and the request id together, or else read back
 * what the compares saw. The head compare is exact, against the head revision of the version the
 * caller validated against (see {@link HeadIndex}), so no commit lands on any other state.
 *
 * <p>A commit whose transaction would exceed etcd's operation limit ({@link
 * EtcdStoreOptions#maxTxnOps()}) is refused before it is sent, and so is one etcd refuses for
 * exceeding a lower limit of its own: both get the same FAILED_PRECONDITION (see {@link TxnSize}).
 */
final class EtcdStore implements ConfigStore {
  private static final Logger logger = Logger.getLogger(EtcdStore.class.getName());

  private final EtcdStoreOptions options;
  private final Client client;
  private final KeyLayout layout;
  private final EtcdCalls calls;
  private final RequestIdLeases leases;
  private final HeadIndex heads = new HeadIndex();
  private final StoreMirror mirror;
  private final StatusRecords statusRecords;
  private final Reachability reachability;
  private final ScheduledExecutorService serial;
  private final ExecutorService callbacks;
  private final Clock clock;
  private final ScheduledFuture<?> healthCheck;
  private final ScheduledFuture<?> historyTrim;
  private final AtomicBoolean probing = new AtomicBoolean();
  private final AtomicBoolean closed = new AtomicBoolean();
  private final List<EtcdElection> elections = new CopyOnWriteArrayList<>();

  EtcdStore(
      EtcdStoreOptions options,
      Client client,
      EtcdCalls calls,
      Reachability reachability,
      ScheduledExecutorService serial,
      ExecutorService callbacks,
      Clock clock,
      MeterRegistry meters) {
    this.options = options;
    this.client = client;
    this.layout = new KeyLayout(options.keyPrefix());
    this.calls = calls;
    this.reachability = reachability;
    this.serial = serial;
    this.callbacks = callbacks;
    this.clock = clock;
    this.leases = new RequestIdLeases(client.getLeaseClient(), calls, options.requestIdRetention());
    this.mirror =
        new StoreMirror(
            layout,
            calls,
            client.getWatchClient(),
            serial,
            callbacks,
            reachability,
            heads,
            options,
            meters);
    this.statusRecords = new StatusRecords(layout, calls, client.getLeaseClient(), serial, options);
    long interval = options.healthCheckInterval().toNanos();
    this.healthCheck =
        serial.scheduleWithFixedDelay(this::probe, 0, interval, TimeUnit.NANOSECONDS);
    long trimInterval = options.antiEntropyInterval().toNanos();
    this.historyTrim =
        serial.scheduleWithFixedDelay(
            this::trimHistory,
            ThreadLocalRandom.current().nextLong(trimInterval / 2, trimInterval + 1),
            trimInterval,
            TimeUnit.NANOSECONDS);
  }

  // ---------------------------------------------------------------- reads

  @Override
  public CompletableFuture<StoredConfig> read() {
    if (closed.get()) {
      return CompletableFuture.failedFuture(StoreErrors.closed());
    }
    return calls
        .list(layout, 0, false, false)
        .handle(
            (listing, failure) -> {
              if (failure != null) {
                throw StoreErrors.forRead("read", failure);
              }
              return indexed(Codec.toStoredConfig(layout, listing), listing);
            });
  }

  @Override
  public CompletableFuture<StoredConfig> readAt(long version) {
    if (closed.get()) {
      return CompletableFuture.failedFuture(StoreErrors.closed());
    }
    if (version < 0) {
      return CompletableFuture.failedFuture(
          ApiException.invalidArgument("version", version + " (expected: >= 0)"));
    }
    if (version == 0) {
      // The empty config of a fresh installation. (Revision 0 would mean "now" to etcd.)
      return CompletableFuture.completedFuture(StoredConfig.empty());
    }
    return calls
        .list(layout, version, false, false)
        .handle(
            (listing, failure) -> {
              if (failure != null) {
                if (StoreErrors.isCompacted(failure)) {
                  throw ApiException.builder(
                          Status.Code.FAILED_PRECONDITION, StoreErrors.VERSION_COMPACTED)
                      .message("config version " + version + " is older than the store's history")
                      .metadata("version", Long.toString(version))
                      .cause(failure)
                      .build();
                }
                if (StoreErrors.isFutureRevision(failure)) {
                  throw versionNotFound(version);
                }
                throw StoreErrors.forRead("readAt", failure);
              }
              StoredConfig config = indexed(Codec.toStoredConfig(layout, listing), listing);
              if (config.version() != version) {
                // Nothing in the config changed at that revision: not a config version.
                throw versionNotFound(version);
              }
              return config;
            });
  }

  private StoredConfig indexed(StoredConfig config, EtcdCalls.Listing listing) {
    KeyValue head = listing.head();
    heads.record(config.version(), head == null ? 0 : head.getModRevision());
    return config;
  }

  private static ApiException versionNotFound(long version) {
    return ApiException.builder(Status.Code.NOT_FOUND, StoreErrors.VERSION_NOT_FOUND)
        .message("no config version " + version + " was ever committed")
        .metadata("version", Long.toString(version))
        .build();
  }

  @Override
  public CompletableFuture<List<ChangeRecord>> history(long beforeVersion, int limit) {
    if (closed.get()) {
      return CompletableFuture.failedFuture(StoreErrors.closed());
    }
    if (beforeVersion < 0 || limit <= 0) {
      return CompletableFuture.failedFuture(
          ApiException.invalidArgument(
              beforeVersion < 0 ? "beforeVersion" : "limit",
              (beforeVersion < 0 ? beforeVersion : limit) + " (expected: >= 0, limit > 0)"));
    }
    // Entries sort newest first and are keyed by parent version; a parent below beforeVersion
    // is necessary for a version below it, and at most one entry (the first) has the one but not
    // the other, hence one extra.
    ByteSequence from =
        beforeVersion == 0 ? layout.historyPrefix() : layout.history(beforeVersion - 1);
    GetOption option =
        GetOption.builder()
            .withRange(KeyLayout.prefixEnd(layout.historyPrefix()))
            .withLimit(limit + 1L)
            .build();
    return calls
        .call(() -> calls.kv().get(from, option))
        .handle(
            (response, failure) -> {
              if (failure != null) {
                throw StoreErrors.forRead("history", failure);
              }
              List<ChangeRecord> records = new ArrayList<>(limit);
              for (KeyValue kv : response.getKvs()) {
                if (records.size() == limit) {
                  break;
                }
                if (beforeVersion == 0 || kv.getModRevision() < beforeVersion) {
                  records.add(Codec.decodeRecord(kv));
                }
              }
              return List.copyOf(records);
            });
  }

  @Override
  public CompletableFuture<Optional<ChangeRecord>> findByRequestId(String requestId) {
    requireNonNull(requestId, "requestId");
    if (closed.get()) {
      return CompletableFuture.failedFuture(StoreErrors.closed());
    }
    if (requestId.isEmpty()) {
      return CompletableFuture.completedFuture(Optional.empty());
    }
    return calls
        .call(() -> calls.kv().get(layout.request(requestId)))
        .handle(
            (GetResponse response, Throwable failure) -> {
              if (failure != null) {
                throw StoreErrors.forRead("findByRequestId", failure);
              }
              return response.getKvs().stream().findFirst().map(Codec::decodeRecord);
            });
  }

  // ---------------------------------------------------------------- commit

  @Override
  public CompletableFuture<CommitOutcome> commit(Commit commit) {
    requireNonNull(commit, "commit");
    if (closed.get()) {
      return CompletableFuture.failedFuture(StoreErrors.closed());
    }
    try {
      checkShape(commit);
    } catch (ApiException e) {
      return CompletableFuture.failedFuture(e);
    }
    return commit(commit, true);
  }

  private CompletableFuture<CommitOutcome> commit(Commit commit, boolean mayRetryLease) {
    String requestId = commit.record().getRequestId();
    CompletableFuture<Long> lease =
        requestId.isEmpty() ? CompletableFuture.completedFuture(0L) : leases.lease();
    return lease
        .handle(
            (leaseId, failure) -> {
              if (failure != null) {
                // Nothing was sent yet: whatever happened, nothing was written.
                throw StoreErrors.forRead("commit", failure);
              }
              return leaseId;
            })
        .thenCompose(
            leaseId ->
                transact(commit, leaseId)
                    .handle(
                        (outcome, failure) -> {
                          if (failure == null) {
                            return CompletableFuture.completedFuture(outcome);
                          }
                          if (StoreErrors.isTooManyOps(failure)) {
                            // etcd validates the size before applying anything: nothing written.
                            return CompletableFuture.<CommitOutcome>failedFuture(
                                txnSize(commit).tooLarge(options.maxTxnOps(), true));
                          }
                          if (mayRetryLease && StoreErrors.isLeaseNotFound(failure)) {
                            // etcd refused the whole transaction: safe to retry with a new lease.
                            leases.invalidate(leaseId);
                            return commit(commit, false);
                          }
                          return CompletableFuture.<CommitOutcome>failedFuture(
                              StoreErrors.forCommit(failure, requestId));
                        })
                    .thenCompose(f -> f));
  }

  private CompletableFuture<CommitOutcome> transact(Commit commit, long leaseId) {
    long expectedHead = commit.expectedHeadVersion();
    Instant now = clock.instant();
    ChangeRecord record =
        commit.record().toBuilder()
            .clearConfigVersion()
            .setCommitTime(
                Timestamp.newBuilder().setSeconds(now.getEpochSecond()).setNanos(now.getNano()))
            .build();
    ByteSequence recordBytes = Codec.encode(record);

    List<Cmp> compares = new ArrayList<>();
    long expectedHeadRevision = heads.headAt(expectedHead);
    compares.add(new Cmp(layout.head(), Cmp.Op.EQUAL, CmpTarget.modRevision(expectedHeadRevision)));
    List<Op> readBack = new ArrayList<>();
    readBack.add(Op.get(layout.head(), keysOnly()));
    List<Map.Entry<ResourceKey, Long>> expectations =
        ImmutableList.copyOf(commit.expectedVersions().entrySet());
    for (Map.Entry<ResourceKey, Long> expectation : expectations) {
      ByteSequence key = layout.config(expectation.getKey());
      long version = expectation.getValue();
      compares.add(
          version == 0
              ? new Cmp(key, Cmp.Op.EQUAL, CmpTarget.createRevision(0))
              : new Cmp(key, Cmp.Op.EQUAL, CmpTarget.modRevision(version)));
      readBack.add(Op.get(key, keysOnly()));
    }

    List<Op> writes = new ArrayList<>();
    for (Resource resource : commit.upserts()) {
      writes.add(
          Op.put(
              layout.config(ResourceKey.of(resource)), Codec.encode(resource), PutOption.DEFAULT));
    }
    for (ResourceKey key : commit.deletes()) {
      writes.add(Op.delete(layout.config(key), DeleteOption.DEFAULT));
    }
    writes.add(Op.put(layout.head(), recordBytes, PutOption.DEFAULT));
    writes.add(Op.put(layout.history(expectedHead), recordBytes, PutOption.DEFAULT));
    if (!record.getRequestId().isEmpty()) {
      writes.add(
          Op.put(
              layout.request(record.getRequestId()),
              recordBytes,
              PutOption.builder().withLeaseId(leaseId).build()));
    }
    if (expectedHeadRevision == 0) {
      // The first commit starts the store's epoch, unless one exists (a store emptied by hand).
      writes.add(
          Op.txn(
              new Cmp[] {new Cmp(layout.epoch(), Cmp.Op.EQUAL, CmpTarget.createRevision(0))},
              new Op[] {
                Op.put(layout.epoch(), Codec.encodeEpoch(Codec.newEpoch()), PutOption.DEFAULT)
              },
              new Op[0]));
    }

    return calls
        .call(
            () ->
                calls
                    .kv()
                    .txn()
                    .If(compares.toArray(Cmp[]::new))
                    .Then(writes.toArray(Op[]::new))
                    .Else(readBack.toArray(Op[]::new))
                    .commit())
        .thenApply(response -> outcome(response, record, expectedHeadRevision, expectations));
  }

  private static CommitOutcome outcome(
      TxnResponse response,
      ChangeRecord record,
      long expectedHeadRevision,
      List<Map.Entry<ResourceKey, Long>> expectations) {
    if (response.isSucceeded()) {
      return new CommitOutcome.Committed(
          record.toBuilder().setConfigVersion(response.getHeader().getRevision()).build());
    }
    // etcd does not say which compare failed; the read-back ran in the same transaction, so it
    // shows exactly the state the compares saw.
    List<GetResponse> reads = response.getGetResponses();
    long head = modRevision(reads.get(0));
    ImmutableMap.Builder<ResourceKey, Long> conflicts = ImmutableMap.builder();
    for (int i = 0; i < expectations.size(); i++) {
      long actual = modRevision(reads.get(i + 1));
      if (actual != expectations.get(i).getValue()) {
        conflicts.put(expectations.get(i).getKey(), actual);
      }
    }
    ImmutableMap<ResourceKey, Long> current = conflicts.buildOrThrow();
    if (!current.isEmpty()) {
      return new CommitOutcome.Conflict(head, current);
    }
    if (head != expectedHeadRevision) {
      return new CommitOutcome.HeadMoved(head);
    }
    throw ApiException.builder(Status.Code.INTERNAL, "STORE_ERROR")
        .message("the config store rejected the commit, but no expectation failed")
        .build();
  }

  private static long modRevision(GetResponse read) {
    return read.getKvs().isEmpty() ? 0 : read.getKvs().get(0).getModRevision();
  }

  private static GetOption keysOnly() {
    return GetOption.builder().withKeysOnly(true).build();
  }

  /** Rejects what etcd would reject anyway, with a clearer error and without a round trip. */
  private void checkShape(Commit commit) {
    if (commit.upserts().isEmpty() && commit.deletes().isEmpty()) {
      throw ApiException.builder(Status.Code.INVALID_ARGUMENT, "EMPTY_CHANGE")
          .message("a commit needs at least one upsert or delete")
          .build();
    }
    TxnSize size = txnSize(commit);
    if (size.operations() > options.maxTxnOps()) {
      throw size.tooLarge(options.maxTxnOps(), false);
    }
    Set<ResourceKey> touched = new HashSet<>();
    for (Resource resource : commit.upserts()) {
      if (!touched.add(ResourceKey.of(resource))) {
        throw duplicate(ResourceKey.of(resource));
      }
    }
    for (ResourceKey key : commit.deletes()) {
      if (!touched.add(key)) {
        throw duplicate(key);
      }
    }
  }

  private TxnSize txnSize(Commit commit) {
    // Head revision 0 means no head yet: this commit would be the first and write the epoch.
    return TxnSize.of(commit, heads.headAt(commit.expectedHeadVersion()) == 0);
  }

  private static ApiException duplicate(ResourceKey key) {
    return ApiException.builder(Status.Code.INVALID_ARGUMENT, "DUPLICATE_RESOURCE")
        .message("the change touches " + key + " more than once")
        .metadata("resource", key.toString())
        .build();
  }

  // ---------------------------------------------------------------- watch, health, lifecycle

  @Override
  public Subscription watch(Consumer<StoredConfig> listener) {
    requireNonNull(listener, "listener");
    if (closed.get()) {
      throw StoreErrors.closed();
    }
    return mirror.subscribe(listener);
  }

  // ---------------------------------------------------------------- fleet status

  @Override
  public CompletableFuture<Void> publishFleetStatus(
      String controlPlaneId, FleetStatusRecord record) {
    ControlPlaneIds.check(controlPlaneId);
    requireNonNull(record, "record");
    if (closed.get()) {
      return CompletableFuture.failedFuture(StoreErrors.closed());
    }
    return statusRecords.publish(controlPlaneId, record);
  }

  @Override
  public CompletableFuture<Void> withdrawFleetStatus(String controlPlaneId) {
    ControlPlaneIds.check(controlPlaneId);
    if (closed.get()) {
      return CompletableFuture.failedFuture(StoreErrors.closed());
    }
    return statusRecords.withdraw(controlPlaneId);
  }

  @Override
  public Subscription watchFleetStatus(Consumer<ImmutableMap<String, FleetStatusRecord>> listener) {
    requireNonNull(listener, "listener");
    if (closed.get()) {
      throw StoreErrors.closed();
    }
    return mirror.subscribeStatus(listener);
  }

  // ---------------------------------------------------------------- quota allocator election

  @Override
  public Subscription campaignForQuotaAllocator(Candidate self, Consumer<Leadership> listener) {
    requireNonNull(self, "self");
    return elect(self, listener);
  }

  @Override
  public Subscription watchQuotaAllocator(Consumer<Leadership> listener) {
    return elect(null, listener);
  }

  private Subscription elect(@Nullable Candidate self, Consumer<Leadership> listener) {
    requireNonNull(listener, "listener");
    if (closed.get()) {
      throw StoreErrors.closed();
    }
    EtcdElection election =
        new EtcdElection(
            layout.quotaAllocator(),
            self,
            calls,
            client.getLeaseClient(),
            serial,
            callbacks,
            options,
            listener,
            elections::remove);
    elections.add(election);
    try {
      election.start();
    } catch (java.util.concurrent.RejectedExecutionException e) {
      elections.remove(election);
      throw StoreErrors.closed();
    }
    return election;
  }

  @Override
  public boolean isWritable() {
    return !closed.get() && reachability.isUp();
  }

  /**
   * A linearizable count-only read of the head: it needs a leader and a quorum, like a commit, and
   * costs etcd next to nothing. Calls made anyway update reachability too.
   */
  private void probe() {
    if (closed.get() || !probing.compareAndSet(false, true)) {
      return;
    }
    calls
        .call(() -> calls.kv().get(layout.head(), GetOption.builder().withCountOnly(true).build()))
        .whenComplete((response, failure) -> probing.set(false));
  }

  /**
   * Deletes the oldest change records beyond {@link EtcdStoreOptions#historyLimit()}. A cheap count
   * comes first; only when a tenth more than the limit has piled up are the keys read (keys only)
   * to find where to cut, so this costs one count per interval almost always. Replicas may run it
   * at the same time: the range delete is idempotent, and a record committed meanwhile sorts before
   * the cut.
   */
  private void trimHistory() {
    if (closed.get()) {
      return;
    }
    int limit = options.historyLimit();
    long slack = Math.max(1, limit / 10);
    ByteSequence from = layout.historyPrefix();
    ByteSequence end = KeyLayout.prefixEnd(from);
    calls
        .call(
            () ->
                calls
                    .kv()
                    .get(from, GetOption.builder().withRange(end).withCountOnly(true).build()))
        .thenCompose(
            count -> {
              if (count.getCount() <= limit + slack) {
                return CompletableFuture.completedFuture(null);
              }
              GetOption newest =
                  GetOption.builder()
                      .withRange(end)
                      .withKeysOnly(true)
                      .withLimit(limit + 1L)
                      .build();
              return calls
                  .call(() -> calls.kv().get(from, newest))
                  .thenCompose(
                      kept -> {
                        ByteSequence cut = kept.getKvs().get(limit).getKey();
                        DeleteOption older = DeleteOption.builder().withRange(end).build();
                        return calls.call(() -> calls.kv().delete(cut, older));
                      })
                  .thenApply(
                      deleted -> {
                        logger.fine(() -> "trimmed " + deleted.getDeleted() + " change records");
                        return null;
                      });
            })
        .exceptionally(
            failure -> {
              logger.log(Level.FINE, "trimming history failed; trying again later", failure);
              return null;
            });
  }

  StoreMirror mirror() {
    return mirror;
  }

  @Override
  public void close() {
    if (!closed.compareAndSet(false, true)) {
      return;
    }
    healthCheck.cancel(false);
    historyTrim.cancel(false);
    // Resign before the client goes, so that another replica takes over at once rather than
    // after the lease's TTL. Each waits at most the call deadline.
    for (EtcdElection election : List.copyOf(elections)) {
      election.close();
    }
    // Revoking the status lease removes this store's fleet-status records at once, instead of
    // after its TTL. Bounded: the revoke has the call deadline.
    CompletableFuture<Void> statusClosed =
        CompletableFuture.supplyAsync(statusRecords::close, serial).thenCompose(f -> f);
    try {
      statusClosed.get(options.callTimeout().toMillis() + 1000, TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (Exception e) {
      logger.log(Level.FINE, "withdrawing fleet status failed; its lease expires by itself", e);
    }
    CompletableFuture<Void> mirrorClosed = CompletableFuture.runAsync(mirror::close, serial);
    try {
      mirrorClosed.get(5, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (Exception e) {
      logger.log(Level.WARNING, "closing the config mirror failed", e);
    }
    client.close();
    serial.shutdown();
    callbacks.shutdown();
  }
}
