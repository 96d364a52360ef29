package dev.sluice.controlplane.store.etcd;

import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.KV;
import io.etcd.jetcd.KeyValue;
import io.etcd.jetcd.kv.GetResponse;
import io.etcd.jetcd.options.GetOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.jspecify.annotations.Nullable;

/**
 * Every etcd call the store makes goes through here: each gets a hard timeout, its outcome updates
 * {@link Reachability}, and its future completes on the store's callback executor rather than on a
 * jetcd event loop (where blocking, or even running long continuations, stalls the client).
 *
 * <p>The per-attempt gRPC deadline comes from {@link DeadlineInterceptor}; the timeout here is
 * slightly longer and bounds the whole call including jetcd's own retries, so the future handed to
 * a caller always completes.
 */
final class EtcdCalls {
  /**
   * Lets the gRPC deadline (with its precise not-sent information) fire before the outer timeout.
   */
  private static final long GRACE_MILLIS = 250;

  /**
   * Keys per page of fleet-status records, which are far larger than resources (up to a few hundred
   * KB each), so that a page stays well below the inbound message limit.
   */
  private static final int STATUS_PAGE_SIZE = 16;

  private final KV kv;
  private final long timeoutMillis;
  private final Executor callbacks;
  private final Reachability reachability;
  private final int pageSize;

  EtcdCalls(
      KV kv, Duration callTimeout, int pageSize, Executor callbacks, Reachability reachability) {
    this.kv = kv;
    this.timeoutMillis = callTimeout.toMillis() + GRACE_MILLIS;
    this.pageSize = pageSize;
    this.callbacks = callbacks;
    this.reachability = reachability;
  }

  KV kv() {
    return kv;
  }

  /** Runs one call with a deadline; the result completes on the callback executor. */
  <T> CompletableFuture<T> call(Supplier<CompletableFuture<T>> call) {
    CompletableFuture<T> started;
    try {
      started = call.get();
    } catch (RuntimeException e) {
      started = CompletableFuture.failedFuture(e);
    }
    CompletableFuture<T> result = new CompletableFuture<>();
    started
        .orTimeout(timeoutMillis, TimeUnit.MILLISECONDS)
        .whenComplete(
            (value, failure) -> {
              try {
                callbacks.execute(() -> settle(result, value, failure));
              } catch (RejectedExecutionException e) {
                // The store is closing and its threads are gone; the caller must still hear.
                result.completeExceptionally(StoreErrors.closed());
              }
            });
    return result;
  }

  private <T> void settle(
      CompletableFuture<T> result, @Nullable T value, @Nullable Throwable failure) {
    if (failure == null) {
      reachability.up();
      result.complete(value);
      return;
    }
    if (StoreErrors.isConnectivity(failure)) {
      reachability.down(StoreErrors.unwrap(failure));
    } else {
      // etcd answered, even if with an error: it is reachable.
      reachability.up();
    }
    result.completeExceptionally(StoreErrors.unwrap(failure));
  }

  /**
   * The head, the epoch and every config key at one revision: {@code revision}, or when 0 the
   * current one (the {@code meta/} keys are read first, linearizably, and that response's header
   * revision pins the pages that follow). Paged by {@link EtcdStoreOptions#listPageSize()} so no
   * response can exceed the inbound message limit; all pages read the same revision, so the result
   * is one consistent cut even while commits land. Fails with a compaction error if {@code
   * revision} (or, while paging, the pinned revision) has been compacted.
   *
   * <p>With {@code withStatus}, the replicas' fleet-status keys are listed too, at the same
   * revision (the mirror follows them on the same watch); plain reads of the config leave them out.
   */
  CompletableFuture<Listing> list(
      KeyLayout layout, long revision, boolean keysOnly, boolean withStatus) {
    GetOption.Builder metaOption =
        GetOption.builder()
            .withRange(KeyLayout.prefixEnd(layout.metaPrefix()))
            .withKeysOnly(keysOnly);
    if (revision > 0) {
      metaOption.withRevision(revision);
    }
    return call(() -> kv.get(layout.metaPrefix(), metaOption.build()))
        .thenCompose(
            meta -> {
              long at = revision > 0 ? revision : meta.getHeader().getRevision();
              KeyValue head = null;
              KeyValue epoch = null;
              for (KeyValue kv : meta.getKvs()) {
                String key = KeyLayout.string(kv.getKey());
                if (layout.isHead(key)) {
                  head = kv;
                } else if (layout.isEpoch(key)) {
                  epoch = kv;
                }
              }
              KeyValue listedHead = head;
              KeyValue listedEpoch = epoch;
              List<KeyValue> config = new ArrayList<>();
              List<KeyValue> status = new ArrayList<>();
              ByteSequence end = KeyLayout.prefixEnd(layout.configPrefix());
              CompletableFuture<Void> pages =
                  page(layout.configPrefix(), end, at, keysOnly, pageSize, config);
              if (withStatus) {
                ByteSequence statusEnd = KeyLayout.prefixEnd(layout.statusPrefix());
                pages =
                    pages.thenCompose(
                        ignored ->
                            page(
                                layout.statusPrefix(),
                                statusEnd,
                                at,
                                keysOnly,
                                Math.min(pageSize, STATUS_PAGE_SIZE),
                                status));
              }
              return pages.thenApply(
                  ignored -> new Listing(at, listedHead, listedEpoch, config, status));
            });
  }

  private CompletableFuture<Void> page(
      ByteSequence from,
      ByteSequence end,
      long revision,
      boolean keysOnly,
      int limit,
      List<KeyValue> into) {
    GetOption option =
        GetOption.builder()
            .withRange(end)
            .withRevision(revision)
            .withLimit(limit)
            .withKeysOnly(keysOnly)
            .build();
    return call(() -> kv.get(from, option))
        .thenCompose(
            (GetResponse response) -> {
              List<KeyValue> kvs = response.getKvs();
              into.addAll(kvs);
              if (!response.isMore() || kvs.isEmpty()) {
                return CompletableFuture.completedFuture(null);
              }
              ByteSequence next = KeyLayout.successor(kvs.get(kvs.size() - 1).getKey());
              return page(next, end, revision, keysOnly, limit, into);
            });
  }

  /**
   * One consistent read of the store's state.
   *
   * @param revision the etcd revision read
   * @param head the head key, null when no commit was ever made
   * @param epoch the epoch key, null when no commit was ever made
   * @param config every key under {@code config/}, in key order
   * @param status every key under {@code status/cp/}, in key order; empty unless asked for
   */
  record Listing(
      long revision,
      @Nullable KeyValue head,
      @Nullable KeyValue epoch,
      List<KeyValue> config,
      List<KeyValue> status) {}
}
