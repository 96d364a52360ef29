package dev.sluice.controlplane.store.etcd;

import static java.nio.charset.StandardCharsets.UTF_8;
import static java.util.Objects.requireNonNull;

import dev.sluice.controlplane.store.ConfigStore;
import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import io.etcd.jetcd.ClientBuilder;
import io.etcd.jetcd.watch.WatchEvent;
import io.grpc.netty.GrpcSslContexts;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.netty.handler.ssl.SslContextBuilder;
import java.net.URI;
import java.time.Clock;
import java.time.Duration;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Predicate;
import javax.net.ssl.SSLException;

/**
 * Connects a {@link ConfigStore} to etcd: the store Sluice runs on in production.
 *
 * <pre>{@code
 * try (ConfigStore store = EtcdConfigStore.connect(
 *     EtcdStoreOptions.builder(List.of(URI.create("http://127.0.0.1:2379"))).build())) {
 *   StoredConfig config = store.read().join();
 * }
 * }</pre>
 *
 * <p>Connecting does not wait for etcd: the store is usable at once, its calls fail with {@code
 * UNAVAILABLE} while etcd is unreachable, {@link ConfigStore#isWritable()} turns true once etcd
 * answers, and watches start delivering once the first listing succeeds.
 */
public final class EtcdConfigStore {
  private static final AtomicInteger INSTANCES = new AtomicInteger();

  /** jetcd's default is gRPC's 4 MiB; a page of large resources may need more. */
  private static final int MAX_INBOUND_MESSAGE_BYTES = 32 * 1024 * 1024;

  private EtcdConfigStore() {}

  /** A store on the etcd cluster described by {@code options}; close it to release its threads. */
  public static ConfigStore connect(EtcdStoreOptions options) {
    return open(options);
  }

  /**
   * Like {@link #connect}, but the mirror loses every watch response with an event {@code lose}
   * matches, the way a watch can skip events; for tests of the mirror's self-repair.
   */
  static EtcdStore connectLosingEvents(EtcdStoreOptions options, Predicate<WatchEvent> lose) {
    EtcdStore store = open(options);
    store.mirror().loseResponsesForTesting(lose);
    return store;
  }

  static EtcdStore open(EtcdStoreOptions options) {
    requireNonNull(options, "options");
    String name = "sluice-etcd-store-" + INSTANCES.incrementAndGet();
    Client client = client(options);
    ScheduledThreadPoolExecutor serial =
        new ScheduledThreadPoolExecutor(1, threads(name + "-serial"));
    // Once closed, retries and checks still waiting must not keep the thread alive.
    serial.setExecuteExistingDelayedTasksAfterShutdownPolicy(false);
    serial.setRemoveOnCancelPolicy(true);
    ExecutorService callbacks = Executors.newCachedThreadPool(threads(name + "-callback"));
    Reachability reachability = new Reachability(options.endpoints().toString());
    EtcdCalls calls =
        new EtcdCalls(
            client.getKVClient(),
            options.callTimeout(),
            options.listPageSize(),
            callbacks,
            reachability);
    MeterRegistry meters = options.meterRegistry().orElseGet(SimpleMeterRegistry::new);
    return new EtcdStore(
        options, client, calls, reachability, serial, callbacks, Clock.systemUTC(), meters);
  }

  private static Client client(EtcdStoreOptions options) {
    Duration timeout = options.callTimeout();
    ClientBuilder builder =
        Client.builder()
            .endpoints(options.endpoints())
            // Fail at once while there is no connection instead of queueing until one appears;
            // the deadline below covers the wait while one is being established.
            .waitForReady(false)
            .interceptor(new DeadlineInterceptor(timeout))
            .connectTimeout(timeout)
            // Bounds jetcd's own retries of reads (it never retries writes).
            .retryMaxDuration(timeout)
            .keepaliveTime(Duration.ofSeconds(15))
            .keepaliveTimeout(Duration.ofSeconds(5))
            // etcd rejects pings without an active stream (PermitWithoutStream=false) and the
            // mirror's watch keeps one open anyway.
            .keepaliveWithoutCalls(false)
            .maxInboundMessageSize(MAX_INBOUND_MESSAGE_BYTES);
    if (options.username().isPresent()) {
      builder
          .user(ByteSequence.from(options.username().get(), UTF_8))
          .password(ByteSequence.from(options.password().orElse(""), UTF_8));
    }
    boolean https = options.endpoints().stream().map(URI::getScheme).anyMatch("https"::equals);
    if (https || options.trustedCertificates().isPresent()) {
      try {
        SslContextBuilder ssl = GrpcSslContexts.forClient();
        options.trustedCertificates().ifPresent(ca -> ssl.trustManager(ca.toFile()));
        if (options.clientCertificate().isPresent() && options.clientKey().isPresent()) {
          ssl.keyManager(
              options.clientCertificate().get().toFile(), options.clientKey().get().toFile());
        }
        builder.sslContext(ssl.build());
      } catch (SSLException e) {
        throw new IllegalArgumentException("cannot set up TLS to etcd: " + e.getMessage(), e);
      }
    }
    return builder.build();
  }

  private static ThreadFactory threads(String prefix) {
    AtomicInteger count = new AtomicInteger();
    return runnable -> {
      Thread thread = new Thread(runnable, prefix + "-" + count.incrementAndGet());
      thread.setDaemon(true);
      return thread;
    };
  }
}
