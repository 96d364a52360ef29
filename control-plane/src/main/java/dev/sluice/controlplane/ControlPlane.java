package dev.sluice.controlplane;

import static java.util.Objects.requireNonNull;

import com.google.common.base.Preconditions;
import com.google.common.collect.ImmutableMap;
import com.google.common.util.concurrent.ThreadFactoryBuilder;
import dev.sluice.admin.v1.AdminServiceGrpc;
import dev.sluice.controlplane.admin.AdminAuthInterceptor;
import dev.sluice.controlplane.admin.AdminService;
import dev.sluice.controlplane.admin.AdminServiceImpl;
import dev.sluice.controlplane.discovery.DiscoveryServiceImpl;
import dev.sluice.controlplane.discovery.FleetRegistry;
import dev.sluice.controlplane.discovery.FleetStatusPublisher;
import dev.sluice.controlplane.discovery.FleetView;
import dev.sluice.controlplane.discovery.MergedFleetView;
import dev.sluice.controlplane.quota.PeerChannels;
import dev.sluice.controlplane.quota.QuotaAllocator;
import dev.sluice.controlplane.quota.QuotaLeaseRouter;
import dev.sluice.controlplane.snapshot.SnapshotCache;
import dev.sluice.controlplane.snapshot.SnapshotSource;
import dev.sluice.controlplane.store.Candidate;
import dev.sluice.controlplane.store.ConfigStore;
import dev.sluice.controlplane.store.ControlPlaneIds;
import dev.sluice.controlplane.validation.ConfigValidator;
import dev.sluice.discovery.v1.DiscoveryServiceGrpc;
import dev.sluice.grpc.ErrorBoundaryInterceptor;
import dev.sluice.grpc.StandardServices;
import io.grpc.Server;
import io.micrometer.core.instrument.MeterRegistry;
import io.grpc.ServerInterceptors;
import io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.NettyServerBuilder;
import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.SslContextBuilder;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.logging.Logger;
import org.jspecify.annotations.Nullable;

/**
 * A control-plane replica: one gRPC server with the admin API ({@code sluice.admin.v1}, behind
 * admin credentials: tokens or client certificates), the discovery stream to data planes ({@code sluice.discovery.v1}), {@code
 * grpc.health.v1} and server reflection.
 *
 * <pre>{@code
 * ControlPlane cp = ControlPlane.builder()
 *     .listenAddress(new InetSocketAddress("127.0.0.1", 0))
 *     .store(ConfigStore.embedded(dir))
 *     .adminTokens(Map.of("ops", token))
 *     .controlPlaneId("cp-1")
 *     .build();
 * cp.start();
 * int port = cp.port();
 * ...
 * cp.close();
 * }</pre>
 *
 * <p><b>Admin credentials.</b> Admin tokens ({@link Builder#adminTokens}), client certificates
 * listed by name ({@link Builder#adminCertificatePrincipals}, which needs {@link
 * Builder#clientCa}), or both; at least one. Each maps to the principal recorded in config
 * history. See {@link AdminAuthInterceptor} for how a call is judged.
 *
 * <p><b>Readiness.</b> The server listens as soon as {@link #start()} returns; health reports
 * SERVING once the first snapshot of the store is built (see {@link #awaitReady}). Until then, data
 * planes that connect get UNAVAILABLE (reason {@code NOT_READY}) and keep serving their last good
 * config while they retry. Afterwards the admin service's health ({@code
 * sluice.admin.v1.AdminService}) follows {@link ConfigStore#isWritable()}, checked every second,
 * while discovery keeps serving its last snapshot whatever the store does.
 *
 * <p><b>Fleet status.</b> Each replica knows first-hand only the data planes whose streams it holds
 * ({@link #fleet()}). It publishes their status through the store (at most once a second, only on
 * change), and its admin API's GetFleetStatus and WaitForFleetVersion merge in what the other
 * replicas on the same store published, so any replica answers for the whole fleet.
 *
 * <p><b>Quota.</b> One replica at a time is elected through the store as the quota allocator, which
 * answers {@code LeaseQuota} (fleet-wide rate-limit shares); the others forward those calls to it
 * at the address it advertises ({@link Builder#advertiseAddress}), so the fleet never holds more
 * than each limit whichever replica its data planes call. See docs/rate-limiting.md.
 *
 * <p><b>Shutdown.</b> {@link #close()} drains: health turns NOT_SERVING, new calls are refused,
 * discovery streams end with UNAVAILABLE so data planes reconnect to another replica, calls in
 * flight get up to 5 seconds to finish, then the rest are cancelled. The replica's fleet-status
 * record is withdrawn from the store first, so other replicas stop reporting its nodes through it
 * (those that reconnect elsewhere are reported by their new replica). The store belongs to the
 * caller and stays open.
 */
public final class ControlPlane implements AutoCloseable {
  private static final Logger logger = Logger.getLogger(ControlPlane.class.getName());
  private static final Duration DRAIN_TIMEOUT = Duration.ofSeconds(5);
  private static final int MAX_INBOUND_MESSAGE_BYTES = 4 * 1024 * 1024;

  private final InetSocketAddress listenAddress;
  private final ConfigStore store;
  private final ImmutableMap<String, String> adminTokens;
  private final ImmutableMap<String, String> adminCertificatePrincipals;
  private final String controlPlaneId;
  private final SnapshotCache.Debounce debounce;
  private final @Nullable Path certificateChain;
  private final @Nullable Path privateKey;
  private final @Nullable Path clientCa;
  private final Clock clock;
  private final @Nullable MeterRegistry meterRegistry;
  private final boolean allocateQuota;
  private final QuotaAllocator.Options quotaOptions;
  private final @Nullable String advertiseAddress;

  private final Object lock = new Object();
  private @Nullable Running running;
  private boolean closed;

  private ControlPlane(Builder b) {
    this.listenAddress = requireNonNull(b.listenAddress, "listenAddress");
    this.store = requireNonNull(b.store, "store");
    this.adminTokens = b.adminTokens;
    this.adminCertificatePrincipals = b.adminCertificatePrincipals;
    this.controlPlaneId = requireNonNull(b.controlPlaneId, "controlPlaneId");
    this.debounce = b.debounce;
    this.certificateChain = b.certificateChain;
    this.privateKey = b.privateKey;
    this.clientCa = b.clientCa;
    this.clock = b.clock;
    this.meterRegistry = b.meterRegistry;
    this.allocateQuota = b.allocateQuota;
    this.quotaOptions = b.quotaOptions;
    this.advertiseAddress = b.advertiseAddress;
    // Fail at build time, not at start: credentials are checked here.
    AdminAuthInterceptor.of(adminTokens, adminCertificatePrincipals);
  }

  public static Builder builder() {
    return new Builder();
  }

  /**
   * Starts serving. Returns once the server listens.
   *
   * @throws UncheckedIOException if the address cannot be bound
   * @throws IllegalStateException if already started or closed
   */
  public void start() {
    Running started;
    synchronized (lock) {
      Preconditions.checkState(running == null && !closed, "already started or closed");
      started = Running.start(this);
      running = started;
    }
    logger.info(
        "Control plane " + controlPlaneId + " listening on " + started.server.getListenSockets());
  }

  /** The bound port; useful with port 0. */
  public int port() {
    return running().server.getPort();
  }

  /** Waits up to {@code timeout} until the first snapshot is built; returns whether it was. */
  public boolean awaitReady(Duration timeout) throws InterruptedException {
    return running().snapshots.awaitFirst(timeout);
  }

  /**
   * The data-plane nodes this replica knows first-hand: those whose streams it holds or recently
   * held. The admin API's fleet status also includes the other replicas' nodes.
   */
  public FleetView fleet() {
    return running().fleet;
  }

  /** The snapshots this replica distributes. */
  public SnapshotSource snapshots() {
    return running().snapshots;
  }

  /** Drains and stops; idempotent. See the class documentation. */
  @Override
  public void close() {
    Running r;
    synchronized (lock) {
      if (closed) {
        return;
      }
      closed = true;
      r = running;
      running = null;
    }
    if (r != null) {
      r.stop();
    }
  }

  private Running running() {
    synchronized (lock) {
      Preconditions.checkState(running != null, "not started");
      return running;
    }
  }

  /** The parts of a started control plane. */
  private static final class Running {
    final Server server;
    final StandardServices standard;
    final SnapshotCache snapshots;
    final FleetRegistry fleet;
    final FleetStatusPublisher fleetPublisher;
    final MergedFleetView wholeFleet;
    final DiscoveryServiceImpl discovery;
    final ExecutorService streamExecutor;
    final ExecutorService adminExecutor;
    final ScheduledExecutorService scheduler;
    final ConfigStore store;
    private @Nullable ControlPlaneMetrics metrics;
    private @Nullable QuotaLeaseRouter quotaLeases;
    private ConfigStore.@Nullable Subscription quotaElection;
    private boolean stopping;

    private Running(
        ConfigStore store,
        Server server,
        StandardServices standard,
        SnapshotCache snapshots,
        FleetRegistry fleet,
        FleetStatusPublisher fleetPublisher,
        MergedFleetView wholeFleet,
        DiscoveryServiceImpl discovery,
        ExecutorService streamExecutor,
        ExecutorService adminExecutor,
        ScheduledExecutorService scheduler) {
      this.store = store;
      this.server = server;
      this.standard = standard;
      this.snapshots = snapshots;
      this.fleet = fleet;
      this.fleetPublisher = fleetPublisher;
      this.wholeFleet = wholeFleet;
      this.discovery = discovery;
      this.streamExecutor = streamExecutor;
      this.adminExecutor = adminExecutor;
      this.scheduler = scheduler;
    }

    static Running start(ControlPlane cp) {
      ConfigValidator validator = ConfigValidator.create();
      ExecutorService streamExecutor =
          Executors.newFixedThreadPool(
              Math.max(2, Runtime.getRuntime().availableProcessors()),
              daemonThreads("sluice-discovery-%d"));
      ExecutorService adminExecutor =
          Executors.newFixedThreadPool(2, daemonThreads("sluice-admin-%d"));
      ScheduledExecutorService scheduler =
          Executors.newSingleThreadScheduledExecutor(daemonThreads("sluice-cp-timer-%d"));
      SnapshotCache snapshots = SnapshotCache.watching(cp.store, validator, cp.debounce, cp.clock);
      FleetRegistry fleet = new FleetRegistry(snapshots, cp.controlPlaneId, cp.clock);
      QuotaLeaseRouter quotaLeases =
          QuotaLeaseRouter.create(
              cp.controlPlaneId,
              () -> QuotaAllocator.create(cp.controlPlaneId, System::nanoTime, cp.quotaOptions),
              cp.certificateChain == null
                  ? PeerChannels.plaintext()
                  : PeerChannels.tls(cp.clientCa, cp.certificateChain, cp.privateKey),
              QuotaLeaseRouter.DEFAULT_FORWARD_TIMEOUT);
      DiscoveryServiceImpl discovery =
          DiscoveryServiceImpl.create(
              snapshots,
              fleet,
              cp.controlPlaneId,
              streamExecutor,
              cp.clock,
              quotaLeases);
      MergedFleetView wholeFleet =
          MergedFleetView.start(fleet, cp.store, cp.controlPlaneId, snapshots);
      AdminService admin =
          AdminService.create(
              cp.store, validator, snapshots, wholeFleet, adminExecutor, scheduler, cp.clock);

      NettyServerBuilder builder =
          NettyServerBuilder.forAddress(cp.listenAddress)
              .addService(
                  ServerInterceptors.intercept(
                      new AdminServiceImpl(admin),
                      AdminAuthInterceptor.of(cp.adminTokens, cp.adminCertificatePrincipals)))
              .addService(discovery)
              .intercept(new ErrorBoundaryInterceptor())
              .maxInboundMessageSize(MAX_INBOUND_MESSAGE_BYTES)
              // Data planes hold streams for hours and ping to notice dead links.
              .permitKeepAliveTime(10, TimeUnit.SECONDS)
              .permitKeepAliveWithoutCalls(true);
      if (cp.certificateChain != null) {
        builder.sslContext(sslContext(cp));
      }
      StandardServices standard = StandardServices.addTo(builder);
      Server server = builder.build();
      try {
        server.start();
      } catch (IOException e) {
        discovery.close();
        wholeFleet.close();
        snapshots.close();
        streamExecutor.shutdownNow();
        adminExecutor.shutdownNow();
        scheduler.shutdownNow();
        throw new UncheckedIOException("cannot listen on " + cp.listenAddress, e);
      }
      FleetStatusPublisher fleetPublisher =
          FleetStatusPublisher.start(cp.store, cp.controlPlaneId, fleet, scheduler, cp.clock);
      Running running =
          new Running(
              cp.store,
              server,
              standard,
              snapshots,
              fleet,
              fleetPublisher,
              wholeFleet,
              discovery,
              streamExecutor,
              adminExecutor,
              scheduler);
      running.quotaLeases = quotaLeases;
      // Only now is the port known, and with it the address the other replicas forward to.
      Candidate self = new Candidate(cp.controlPlaneId, cp.advertisedAddress(server.getPort()));
      running.quotaElection =
          cp.allocateQuota
              ? cp.store.campaignForQuotaAllocator(self, quotaLeases)
              : cp.store.watchQuotaAllocator(quotaLeases);
      if (cp.meterRegistry != null) {
        running.metrics =
            ControlPlaneMetrics.bind(cp.meterRegistry, cp.controlPlaneId, snapshots, fleet);
      }
      snapshots.addListener(s -> running.updateHealth());
      running.updateHealth();
      // The store's writability changes by itself (etcd down and back), so poll it.
      scheduler.scheduleWithFixedDelay(running::updateHealth, 1, 1, TimeUnit.SECONDS);
      return running;
    }

    /**
     * Ready once the first snapshot exists. The admin service is healthy only while the store
     * accepts writes; discovery keeps serving its last snapshot regardless.
     */
    private synchronized void updateHealth() {
      if (stopping || snapshots.current() == null) {
        return;
      }
      standard.setServing("", true);
      standard.setServing(DiscoveryServiceGrpc.SERVICE_NAME, true);
      standard.setServing(AdminServiceGrpc.SERVICE_NAME, store.isWritable());
    }

    void stop() {
      synchronized (this) {
        stopping = true;
        standard.enterTerminalState();
      }
      // Stop granting, then resign, so that no grant of this replica follows its successor's
      // election; resigning lets another replica take over without waiting for a lease to lapse.
      if (quotaLeases != null) {
        quotaLeases.close();
      }
      if (quotaElection != null) {
        quotaElection.close();
      }
      // Before the streams end: their disconnects must not be published after the withdrawal.
      fleetPublisher.close();
      server.shutdown();
      discovery.close();
      try {
        if (!server.awaitTermination(DRAIN_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
          server.shutdownNow();
          server.awaitTermination(2, TimeUnit.SECONDS);
        }
      } catch (InterruptedException e) {
        server.shutdownNow();
        Thread.currentThread().interrupt();
      }
      if (metrics != null) {
        metrics.close();
      }
      wholeFleet.close();
      snapshots.close();
      scheduler.shutdownNow();
      adminExecutor.shutdown();
      streamExecutor.shutdown();
      try {
        adminExecutor.awaitTermination(2, TimeUnit.SECONDS);
        streamExecutor.awaitTermination(2, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }

    /**
     * With a client CA, the handshake requires a client certificate it verifies, from every client:
     * admin and discovery share this port, and the TLS handshake is the discovery API's only
     * authentication, so merely requesting a certificate would let data planes without one in.
     * Admin callers therefore present one too; it is their admin credential when listed, else they
     * add a token.
     */
    private static io.netty.handler.ssl.SslContext sslContext(ControlPlane cp) {
      try {
        SslContextBuilder ssl =
            GrpcSslContexts.forServer(cp.certificateChain.toFile(), cp.privateKey.toFile());
        if (cp.clientCa != null) {
          ssl.trustManager(cp.clientCa.toFile()).clientAuth(ClientAuth.REQUIRE);
        }
        return ssl.build();
      } catch (IOException | RuntimeException e) {
        throw new IllegalArgumentException(
            "cannot load the TLS certificate or keys: " + e.getMessage(), e);
      }
    }
  }

  /**
   * The address the other replicas forward quota calls to: the configured one, else the listen
   * address with the bound port, else (listening on a wildcard) this host's name with that port.
   */
  private String advertisedAddress(int boundPort) {
    if (advertiseAddress != null) {
      return advertiseAddress;
    }
    String host;
    if (listenAddress.getAddress() != null && listenAddress.getAddress().isAnyLocalAddress()) {
      host = hostName();
      logger.info(
          "Control plane "
              + controlPlaneId
              + " listens on all interfaces and advertises "
              + host
              + ":"
              + boundPort
              + " to the other replicas; set advertiseAddress if they cannot reach it there");
    } else {
      host = listenAddress.getHostString();
    }
    return com.google.common.net.HostAndPort.fromParts(host, boundPort).toString();
  }

  private static String hostName() {
    try {
      return java.net.InetAddress.getLocalHost().getHostName();
    } catch (IOException e) {
      return "localhost";
    }
  }

  private static java.util.concurrent.ThreadFactory daemonThreads(String nameFormat) {
    return new ThreadFactoryBuilder().setNameFormat(nameFormat).setDaemon(true).build();
  }

  /** Configures a {@link ControlPlane}. */
  public static final class Builder {
    private @Nullable InetSocketAddress listenAddress;
    private @Nullable ConfigStore store;
    private ImmutableMap<String, String> adminTokens = ImmutableMap.of();
    private ImmutableMap<String, String> adminCertificatePrincipals = ImmutableMap.of();
    private String controlPlaneId = "cp-1";
    private SnapshotCache.Debounce debounce = SnapshotCache.Debounce.DEFAULT;
    private @Nullable Path certificateChain;
    private @Nullable Path privateKey;
    private @Nullable Path clientCa;
    private Clock clock = Clock.systemUTC();
    private @Nullable MeterRegistry meterRegistry;
    private boolean allocateQuota = true;
    private QuotaAllocator.Options quotaOptions = QuotaAllocator.Options.defaults();
    private @Nullable String advertiseAddress;

    private Builder() {}

    /** Where to listen, e.g. {@code 127.0.0.1:0} for an ephemeral port. Required. */
    public Builder listenAddress(InetSocketAddress listenAddress) {
      this.listenAddress = requireNonNull(listenAddress, "listenAddress");
      return this;
    }

    /** The config store. Required; the caller keeps ownership and closes it. */
    public Builder store(ConfigStore store) {
      this.store = requireNonNull(store, "store");
      return this;
    }

    /**
     * Admin tokens: principal name → bearer token (at least {@value
     * AdminAuthInterceptor#MIN_TOKEN_LENGTH} characters). The principal name is recorded in
     * config history. Default none; this or {@link #adminCertificatePrincipals} needs at least one
     * entry.
     */
    public Builder adminTokens(Map<String, String> adminTokens) {
      this.adminTokens = ImmutableMap.copyOf(requireNonNull(adminTokens, "adminTokens"));
      return this;
    }

    /**
     * Client certificates trusted for admin calls: certificate name → principal name recorded in
     * config history. A certificate's names are its URI and DNS Subject Alternative Names (e.g.
     * {@code spiffe://example.org/ops/deployer}), or its subject's Common Names if it has neither;
     * a listed name must equal one exactly (DNS names ignoring case), without wildcards. Only
     * certificates the handshake verified against {@link #clientCa} count, and a certificate
     * whose names are not listed, such as a data plane's, grants no admin access. Default none;
     * needs {@link #clientCa}.
     */
    public Builder adminCertificatePrincipals(Map<String, String> certificatePrincipals) {
      this.adminCertificatePrincipals =
          ImmutableMap.copyOf(requireNonNull(certificatePrincipals, "certificatePrincipals"));
      return this;
    }

    /** This replica's id, reported to data planes and in fleet status. Default {@code cp-1}. */
    public Builder controlPlaneId(String controlPlaneId) {
      this.controlPlaneId = ControlPlaneIds.check(controlPlaneId);
      return this;
    }

    /**
     * How long config changes settle before a snapshot is built: {@code quiet} without changes, at
     * most {@code max} after the first. Default 10 ms and 250 ms.
     */
    public Builder debounce(Duration quiet, Duration max) {
      this.debounce = new SnapshotCache.Debounce(quiet, max);
      return this;
    }

    /**
     * Serves TLS with this PEM certificate chain and PEM (PKCS#8) private key. Without it the
     * server speaks plaintext, which is only for loopback and development.
     */
    public Builder tls(Path certificateChain, Path privateKey) {
      this.certificateChain = requireNonNull(certificateChain, "certificateChain");
      this.privateKey = requireNonNull(privateKey, "privateKey");
      return this;
    }

    /**
     * Requires every client to present a certificate issued by these PEM CAs (mutual TLS), as the
     * discovery API expects of data planes; admin clients too, since both APIs share the port.
     * Admin calls need an admin token on top unless their certificate is listed in {@link
     * #adminCertificatePrincipals}. Requires {@link #tls}.
     */
    public Builder clientCa(Path clientCa) {
      this.clientCa = requireNonNull(clientCa, "clientCa");
      return this;
    }

    /**
     * Where to publish the control plane's meters. Default: no meters. All carry the tag {@code
     * control_plane_id}:
     *
     * <ul>
     *   <li>{@code sluice.controlplane.config.version} (gauge): the version being distributed;
     *   <li>{@code sluice.controlplane.snapshot.invalid.builds} (counter): store contents the
     *       validator rejected (the previous snapshot stayed in service);
     *   <li>{@code sluice.controlplane.discovery.streams} (gauge): open data-plane streams;
     *   <li>{@code sluice.controlplane.discovery.responses} and {@code ...discovery.nacks}
     *       (counters);
     *   <li>{@code sluice.controlplane.fleet.nodes} (gauge, tag {@code state}: synced, stale,
     *       error, not_sent, disconnected).
     * </ul>
     */
    public Builder meterRegistry(MeterRegistry meterRegistry) {
      this.meterRegistry = requireNonNull(meterRegistry, "meterRegistry");
      return this;
    }

    /**
     * Whether this replica stands in the election of the quota allocator, which answers {@code
     * DiscoveryService.LeaseQuota} with fleet-wide rate-limit shares. Default true. Whether it
     * stands or not, a replica that is not elected forwards its data planes' calls to the one that
     * is, so exactly one replica hands out shares of each limit (see docs/rate-limiting.md).
     */
    public Builder allocateQuota(boolean allocateQuota) {
      this.allocateQuota = allocateQuota;
      return this;
    }

    /**
     * {@code HOST:PORT} at which the other replicas reach this one to forward quota calls, when
     * it is the elected quota allocator: the name or address its TLS certificate is valid for,
     * if it serves TLS. Default: the listen address with the bound port, or this host's name when
     * listening on all interfaces.
     *
     * @throws IllegalArgumentException if it is not a {@code HOST:PORT}
     */
    public Builder advertiseAddress(String advertiseAddress) {
      this.advertiseAddress = Candidate.checkAddress(advertiseAddress);
      return this;
    }

    /** Lease duration, refresh interval and learning period of the quota allocator. */
    public Builder quotaAllocatorOptions(QuotaAllocator.Options options) {
      this.quotaOptions = requireNonNull(options, "options");
      return this;
    }

    /** The clock of timestamps in history and fleet status. Default the system clock. */
    public Builder clock(Clock clock) {
      this.clock = requireNonNull(clock, "clock");
      return this;
    }

    /**
     * Builds the control plane; nothing runs until {@link ControlPlane#start()}.
     *
     * @throws NullPointerException if a required setting is missing
     * @throws IllegalArgumentException for no admin credential, invalid admin tokens or
     *     certificate names, admin certificates without a client CA, or a client CA without TLS
     */
    public ControlPlane build() {
      Preconditions.checkArgument(
          clientCa == null || certificateChain != null, "clientCa requires tls(...)");
      Preconditions.checkArgument(
          adminCertificatePrincipals.isEmpty() || clientCa != null,
          "adminCertificatePrincipals requires clientCa(...): only client certificates verified"
              + " against it can be admin credentials");
      return new ControlPlane(this);
    }
  }
}
