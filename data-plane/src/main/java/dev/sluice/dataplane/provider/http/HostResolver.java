package dev.sluice.dataplane.provider.http;

import io.netty.util.NetUtil;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.jspecify.annotations.Nullable;

/**
 * Resolves host names off the event loop, with a short cache.
 *
 * <p>Netty's default resolver calls {@link InetAddress#getAllByName} on the event loop, which can
 * block it for as long as DNS takes. Here IP literals resolve inline, cached names resolve inline,
 * and only a miss goes to a small dedicated thread. Connections are pooled, so lookups are rare;
 * the cache lifetime is short so that DNS changes are seen within seconds. Several addresses are
 * used in turn, one per new connection.
 */
final class HostResolver implements AutoCloseable {
  private static final long TTL_NANOS = TimeUnit.SECONDS.toNanos(30);

  private final ConcurrentHashMap<String, Entry> cache = new ConcurrentHashMap<>();
  private final ExecutorService executor =
      Executors.newSingleThreadExecutor(
          r -> {
            Thread t = new Thread(r, "sluice-upstream-dns");
            t.setDaemon(true);
            return t;
          });

  /** Resolves {@code host}; the future completes on the resolver thread or at once. */
  CompletableFuture<InetAddress> resolve(String host) {
    InetAddress literal = literal(host);
    if (literal != null) {
      return CompletableFuture.completedFuture(literal);
    }
    Entry entry = cache.get(host);
    if (entry != null && System.nanoTime() - entry.resolvedAt < TTL_NANOS) {
      return CompletableFuture.completedFuture(entry.next());
    }
    CompletableFuture<InetAddress> future = new CompletableFuture<>();
    try {
      executor.execute(
          () -> {
            try {
              InetAddress[] addresses = InetAddress.getAllByName(host);
              Entry fresh = new Entry(addresses, System.nanoTime());
              cache.put(host, fresh);
              future.complete(fresh.next());
            } catch (UnknownHostException | RuntimeException e) {
              future.completeExceptionally(e);
            }
          });
    } catch (RuntimeException rejected) {
      future.completeExceptionally(rejected);
    }
    return future;
  }

  private static @Nullable InetAddress literal(String host) {
    if (!NetUtil.isValidIpV4Address(host) && !NetUtil.isValidIpV6Address(host)) {
      return null;
    }
    byte[] bytes = NetUtil.createByteArrayFromIpAddressString(host);
    if (bytes == null) {
      return null;
    }
    try {
      return InetAddress.getByAddress(host, bytes);
    } catch (UnknownHostException e) {
      return null;
    }
  }

  @Override
  public void close() {
    executor.shutdownNow();
  }

  private static final class Entry {
    final InetAddress[] addresses;
    final long resolvedAt;
    final AtomicInteger next = new AtomicInteger();

    Entry(InetAddress[] addresses, long resolvedAt) {
      this.addresses = addresses;
      this.resolvedAt = resolvedAt;
    }

    InetAddress next() {
      return addresses[Math.floorMod(next.getAndIncrement(), addresses.length)];
    }
  }
}
