package dev.sluice.dataplane;

import static java.util.Objects.requireNonNull;

import dev.sluice.dataplane.auth.Authenticator;
import dev.sluice.dataplane.config.DiscoveryClient;
import dev.sluice.dataplane.config.RuntimeConfig;
import dev.sluice.dataplane.config.ServingConfig;
import dev.sluice.dataplane.metrics.GatewayMetrics;
import dev.sluice.dataplane.metrics.PrometheusEndpoint;
import dev.sluice.dataplane.overload.CallsInFlight;
import dev.sluice.dataplane.overload.HeapPressure;
import dev.sluice.dataplane.provider.ProviderRegistry;
import dev.sluice.dataplane.provider.SecretResolver;
import dev.sluice.dataplane.ratelimit.QuotaLeaseClient;
import dev.sluice.dataplane.ratelimit.RateLimitTable;
import dev.sluice.dataplane.ratelimit.RateLimiter;
import dev.sluice.dataplane.ratelimit.TokenEstimator;
import dev.sluice.dataplane.routing.ProviderLookup;
import dev.sluice.dataplane.routing.Router;
import dev.sluice.dataplane.server.InferenceServiceImpl;
import dev.sluice.discovery.v1.DiscoveryServiceGrpc;
import dev.sluice.discovery.v1.Node;
import dev.sluice.grpc.StandardServices;
import dev.sluice.inference.v1.InferenceServiceGrpc;
import io.grpc.ChannelCredentials;
import io.grpc.InsecureChannelCredentials;
import io.grpc.InsecureServerCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.ServerCredentials;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.NettyServerBuilder;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BooleanSupplier;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.jspecify.annotations.Nullable;

/**
 * A Sluice data plane: serves {@code sluice.inference.v1.InferenceService} (plus gRPC health and
 * reflection) from the config a control plane streams to it, and optionally a Prometheus scrape
 * endpoint.
 *
 * <pre>{@code
 * try (DataPlane dp =
 *     DataPlane.builder()
 *         .listenAddress(new InetSocketAddress("127.0.0.1", 0))
 *         .controlPlaneTargets(List.of("127.0.0.1:7070"))
 *         .nodeId("dp-1")
 *         .snapshotCacheFile(stateDir.resolve("config.bin"))
 *         .build()) {
 *   dp.start();
 *   dp.awaitConfig(Duration.ofSeconds(10));
 *   ... dp.port() ...
 * }
 * }</pre>
 *
 * <p>One Netty event loop group carries the gRPC server, the upstream HTTP connections and the
 * router's timers, so a request and its upstream call stay on the same threads. Service methods run
 * directly on those event loops: nothing on the request path blocks.
 *
 * <p>Rate limits: every request is admitted against the RateLimitPolicy resources of its route and
 * consumer before any upstream call. Each node enforces a share of every limit; a {@link
 * QuotaLeaseClient} reports demand to the control plane about once a second and applies the
 * shares it leases back, and without a lease (a control plane that is unreachable or does not
 * serve {@code LeaseQuota}) the node enforces the static share {@code amount / fleetSizeHint}.
 *
 * <p>Health reports NOT_SERVING until a config is served (from the control plane, or from the cache
 * file when no control plane answers at start-up). {@link #close()} drains: health turns
 * NOT_SERVING, new calls are refused, calls in flight may finish until the drain timeout, then the
 * rest are cancelled (and with them their upstream requests).
 */
public final class DataPlane implements AutoCloseable {
  private static final Logger logger = Logger.getLogger(DataPlane.class.getName());

  private final Builder config;
  private final ServingConfig serving = new ServingConfig();
  private final AtomicBoolean started = new AtomicBoolean();
  private final AtomicBoolean closed = new AtomicBoolean();

  private @Nullable EventLoopGroup eventLoops;
  private @Nullable ProviderRegistry providers;
  private @Nullable PrometheusEndpoint metricsEndpoint;
  private @Nullable HeapPressure heapPressure;
  private @Nullable Server server;
  private @Nullable StandardServices standardServices;
  private @Nullable DiscoveryClient discovery;
  private @Nullable ScheduledThreadPoolExecutor leaseThread;
  private @Nullable QuotaLeaseClient leases;

  private DataPlane(Builder config) {
    this.config = config;
  }

  public static Builder builder() {
    return new Builder();
  }

  /**
   * Starts serving: binds the listen address (and the metrics address), then connects to the
   * control plane. Returns once the server is listening; config arrives asynchronously (see {@link
   * #awaitConfig}).
   *
   * @throws IOException when an address cannot be bound; everything started is stopped again
   */
  public void start() throws IOException {
    if (!started.compareAndSet(false, true)) {
      throw new IllegalStateException("already started");
    }
    try {
      startServing();
    } catch (IOException | RuntimeException e) {
      close();
      throw e;
    }
  }

  private void startServing() throws IOException {
    IoTransport transport = config.transport;
    EventLoopGroup group =
        new MultiThreadIoEventLoopGroup(config.eventLoopThreads, transport.ioHandlerFactory());
    eventLoops = group;

    ProviderLookup lookup = config.providers;
    if (lookup == null) {
      ProviderRegistry registry =
          ProviderRegistry.create(group, transport.socketChannelType(), config.secrets);
      providers = registry;
      lookup = kind -> registry.supports(kind) ? registry.forKind(kind) : null;
    }

    GatewayMetrics metrics = GatewayMetrics.NOOP;
    if (config.metricsAddress != null) {
      PrometheusEndpoint endpoint = PrometheusEndpoint.start(config.metricsAddress);
      metricsEndpoint = endpoint;
      metrics = endpoint.metrics();
      reportConfig(endpoint.registry());
    }

    RateLimiter.Options.Builder limiterOptions =
        RateLimiter.Options.builder().fleetSizeHint(config.fleetSizeHint);
    if (metricsEndpoint != null) {
      limiterOptions.meterRegistry(metricsEndpoint.registry());
    }
    // Limits change atomically with the rest of the config: the limiter reads the served table.
    RateLimiter limiter =
        RateLimiter.create(
            () -> {
              RuntimeConfig current = serving.current();
              return current == null ? RateLimitTable.empty() : current.rateLimits();
            },
            limiterOptions.build());

    Router router = Router.create(lookup, group, metrics);
    NettyServerBuilder builder =
        NettyServerBuilder.forAddress(config.listenAddress, config.serverCredentials)
            .bossEventLoopGroup(group)
            .workerEventLoopGroup(group)
            .channelType(transport.serverChannelType())
            // Handlers never block, so they run on the event loops: no thread hop per call.
            .directExecutor()
            .maxInboundMessageSize(config.maxInboundMessageSize)
            .maxConcurrentCallsPerConnection(config.maxConcurrentCallsPerConnection)
            .permitKeepAliveTime(config.permitKeepAliveTime.toNanos(), TimeUnit.NANOSECONDS)
            .permitKeepAliveWithoutCalls(true)
            .keepAliveTime(config.keepAliveTime.toNanos(), TimeUnit.NANOSECONDS)
            .keepAliveTimeout(config.keepAliveTimeout.toNanos(), TimeUnit.NANOSECONDS)
            // A connection that never completes the HTTP/2 handshake (a slowloris, a port scan)
            // and one that carries no call for long are closed, so idle sockets cannot pile up.
            .handshakeTimeout(config.handshakeTimeout.toNanos(), TimeUnit.NANOSECONDS)
            .maxConnectionIdle(config.maxConnectionIdle.toNanos(), TimeUnit.NANOSECONDS)
            // HTTP/2 rapid reset (CVE-2023-44487): a client that opens and resets streams faster
            // than this gets GOAWAY ENHANCE_YOUR_CALM instead of making us start upstream calls.
            .maxRstFramesPerWindow(
                config.maxResetsPerWindow, Math.toIntExact(config.resetWindow.toSeconds()));
    if (config.maxConnectionAge != null) {
      builder
          .maxConnectionAge(config.maxConnectionAge.toNanos(), TimeUnit.NANOSECONDS)
          .maxConnectionAgeGrace(config.maxConnectionAgeGrace.toNanos(), TimeUnit.NANOSECONDS);
    }
    builder.addService(
        InferenceServiceImpl.definition(
            serving,
            Authenticator.standard(
                config.allowAnonymous,
                Clock.systemUTC(),
                config.failedVerificationBurst,
                config.failedVerificationsPerSecond),
            router,
            metrics,
            limiter,
            config.tokenEstimator,
            overloadSignal(),
            callsInFlight()));
    StandardServices services = StandardServices.addTo(builder);
    standardServices = services;
    serving.addListener(
        served -> {
          services.setServing("", true);
          services.setServing(InferenceServiceGrpc.SERVICE_NAME, true);
        });
    server = builder.build().start();
    logger.info(() -> "Data plane " + config.nodeId + " listening on port " + port());

    Node node =
        Node.newBuilder()
            .setId(config.nodeId)
            .putAllLabels(config.nodeLabels)
            .setBuildVersion(buildVersion())
            .build();
    DiscoveryClient client =
        DiscoveryClient.builder()
            .targets(config.controlPlaneTargets)
            .node(node)
            .serving(serving)
            .cacheFile(config.snapshotCacheFile)
            .providers(lookup)
            .channelFactory(target -> controlPlaneChannel(target, group))
            .initialFetchTimeout(config.initialFetchTimeout)
            .build();
    discovery = client;
    client.start();

    if (!config.controlPlaneTargets.isEmpty()) {
      startLeases(limiter, client, node);
    }
  }

  /**
   * Starts the quota lease client on its own thread, calling the control plane over the config
   * stream's channel. A control plane that does not serve {@code LeaseQuota} yet (UNIMPLEMENTED)
   * or cannot be reached (UNAVAILABLE) leaves the node on its static shares; the client keeps
   * retrying with backoff.
   */
  private void startLeases(RateLimiter limiter, DiscoveryClient client, Node node) {
    ScheduledThreadPoolExecutor thread =
        new ScheduledThreadPoolExecutor(
            1,
            r -> {
              Thread t = new Thread(r, "sluice-quota-leases");
              t.setDaemon(true);
              return t;
            });
    // A pending report round must not hold up shutdown.
    thread.setExecuteExistingDelayedTasksAfterShutdownPolicy(false);
    thread.setRemoveOnCancelPolicy(true);
    leaseThread = thread;
    QuotaLeaseClient leaseClient =
        QuotaLeaseClient.create(
            limiter,
            DiscoveryServiceGrpc.newFutureStub(client.channel()),
            node,
            () -> {
              RuntimeConfig current = serving.current();
              return current == null ? "" : current.versionInfo();
            },
            thread,
            QuotaLeaseClient.Options.defaults());
    leases = leaseClient;
    leaseClient.start();
  }

  /**
   * Stops the lease client, lets it finish on its thread (its in-flight calls end there as they are
   * cancelled), then stops the thread. Leases already granted simply lapse.
   */
  private void stopLeases() {
    QuotaLeaseClient client = leases;
    ScheduledThreadPoolExecutor thread = leaseThread;
    if (client != null) {
      closeQuietly(client);
    }
    if (thread == null) {
      return;
    }
    try {
      // close() runs on the thread and cancels calls whose callbacks land there too: wait for
      // them before refusing new tasks.
      thread.submit(() -> {}).get(5, TimeUnit.SECONDS);
    } catch (ExecutionException | TimeoutException e) {
      logger.log(Level.WARNING, "Quota lease client did not stop in time", e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    thread.shutdown();
    try {
      if (!thread.awaitTermination(5, TimeUnit.SECONDS)) {
        thread.shutdownNow();
      }
    } catch (InterruptedException e) {
      thread.shutdownNow();
      Thread.currentThread().interrupt();
    }
  }

  /**
   * Exports which config is served, and since when: {@code sluice_config_info{version, source}}
   * (always 1, one series at a time) and {@code sluice_config_applied_timestamp_seconds}, so an
   * alert can fire on a node that serves stale config.
   */
  private void reportConfig(MeterRegistry registry) {
    AtomicLong appliedAt = new AtomicLong();
    Gauge.builder("sluice.config.applied.timestamp", appliedAt, AtomicLong::doubleValue)
        .description("When the served config was applied, in seconds since the epoch")
        .baseUnit("seconds")
        .register(registry);
    AtomicReference<@Nullable Gauge> info = new AtomicReference<>();
    serving.addListener(
        served -> {
          appliedAt.set(Clock.systemUTC().instant().getEpochSecond());
          Gauge next =
              Gauge.builder("sluice.config.info", () -> 1)
                  .description("The config this node serves")
                  .tag("version", served.versionInfo())
                  .tag("source", served.source().name())
                  .register(registry);
          Gauge previous = info.getAndSet(next);
          if (previous != null && previous != next) {
            registry.remove(previous);
          }
        });
  }

  private ManagedChannel controlPlaneChannel(String target, EventLoopGroup group) {
    return NettyChannelBuilder.forTarget(target, config.controlPlaneCredentials)
        .eventLoopGroup(group)
        .channelType(config.transport.socketChannelType())
        .maxInboundMessageSize(32 << 20)
        .keepAliveTime(30, TimeUnit.SECONDS)
        .keepAliveTimeout(10, TimeUnit.SECONDS)
        .build();
  }

  /** The port the inference server listens on. */
  public int port() {
    Server s = server;
    if (s == null) {
      throw new IllegalStateException("not started");
    }
    return s.getPort();
  }

  /** The port of the Prometheus endpoint, or -1 when it is off. */
  public int metricsPort() {
    PrometheusEndpoint endpoint = metricsEndpoint;
    return endpoint == null ? -1 : endpoint.port();
  }

  /**
   * Waits up to {@code timeout} until a config is served; true once one is (it stays served from
   * then on, whatever happens to the control plane).
   */
  public boolean awaitConfig(Duration timeout) throws InterruptedException {
    return serving.awaitFirst(timeout);
  }

  /** The version ({@code <epoch>.<version>}) of the config served now, or null before one. */
  public @Nullable String configVersion() {
    RuntimeConfig current = serving.current();
    return current == null ? null : current.versionInfo();
  }

  /**
   * Drains and stops: health NOT_SERVING, no new calls, calls in flight may finish within the drain
   * timeout, then the rest are cancelled; then the control-plane connection, the upstream
   * connections and the event loops are closed. Idempotent.
   */
  @Override
  public void close() {
    if (!closed.compareAndSet(false, true)) {
      return;
    }
    StandardServices services = standardServices;
    if (services != null) {
      services.enterTerminalState();
    }
    Server s = server;
    if (s != null) {
      s.shutdown();
      try {
        if (!s.awaitTermination(config.drainTimeout.toNanos(), TimeUnit.NANOSECONDS)) {
          logger.info("Drain timeout passed; cancelling the calls still in flight");
          s.shutdownNow();
          s.awaitTermination(5, TimeUnit.SECONDS);
        }
      } catch (InterruptedException e) {
        s.shutdownNow();
        Thread.currentThread().interrupt();
      }
    }
    // Calls have drained, so every reservation is settled; the lease client goes before the
    // discovery client, whose channel it calls on.
    stopLeases();
    closeQuietly(discovery);
    closeQuietly(metricsEndpoint);
    closeQuietly(heapPressure);
    closeQuietly(providers);
    EventLoopGroup group = eventLoops;
    if (group != null) {
      group.shutdownGracefully(0, 5, TimeUnit.SECONDS).awaitUninterruptibly(10, TimeUnit.SECONDS);
    }
  }

  /** Heap pressure, when shedding on it is on; else never overloaded. */
  private BooleanSupplier overloadSignal() {
    if (config.shedAtHeapFraction == 0) {
      return () -> false;
    }
    HeapPressure pressure = HeapPressure.watch(config.shedAtHeapFraction);
    heapPressure = pressure;
    PrometheusEndpoint endpoint = metricsEndpoint;
    if (endpoint != null) {
      Gauge.builder("sluice.overload.shedding", pressure, p -> p.getAsBoolean() ? 1 : 0)
          .description("1 while new calls are refused because the live heap is high, else 0")
          .register(endpoint.registry());
    }
    return pressure;
  }

  /** The ceiling on calls in flight, when there is one (then counted and reported); else none. */
  private CallsInFlight callsInFlight() {
    if (config.maxCallsInFlight == 0) {
      return CallsInFlight.unlimited();
    }
    CallsInFlight calls = CallsInFlight.atMost(config.maxCallsInFlight);
    PrometheusEndpoint endpoint = metricsEndpoint;
    if (endpoint != null) {
      Gauge.builder("sluice.calls.in.flight", calls, CallsInFlight::current)
          .description("Inference calls in flight on this node, against maxCallsInFlight")
          .register(endpoint.registry());
    }
    return calls;
  }

  private static void closeQuietly(@Nullable AutoCloseable closeable) {
    if (closeable == null) {
      return;
    }
    try {
      closeable.close();
    } catch (Exception e) {
      logger.log(Level.WARNING, "Failed to close " + closeable, e);
    }
  }

  private static String buildVersion() {
    String version = DataPlane.class.getPackage().getImplementationVersion();
    return version == null ? "dev" : version;
  }

  /** Configures a {@link DataPlane}. Only {@link #nodeId} is required. */
  public static final class Builder {
    private InetSocketAddress listenAddress = new InetSocketAddress(8080);
    private List<String> controlPlaneTargets = List.of();
    private @Nullable String nodeId;
    private Map<String, String> nodeLabels = Map.of();
    private @Nullable Path snapshotCacheFile;
    private boolean allowAnonymous;
    private int failedVerificationBurst = Authenticator.DEFAULT_FAILED_VERIFICATION_BURST;
    private double failedVerificationsPerSecond =
        Authenticator.DEFAULT_FAILED_VERIFICATIONS_PER_SECOND;
    private @Nullable InetSocketAddress metricsAddress;
    private int maxInboundMessageSize = 16 << 20;
    private int maxConcurrentCallsPerConnection = 1000;
    private Duration permitKeepAliveTime = Duration.ofSeconds(20);
    private Duration keepAliveTime = Duration.ofMinutes(1);
    private Duration keepAliveTimeout = Duration.ofSeconds(20);
    private Duration handshakeTimeout = Duration.ofSeconds(10);
    private double shedAtHeapFraction = 0.9;
    private int maxCallsInFlight;
    private Duration maxConnectionIdle = Duration.ofHours(1);
    private Duration drainTimeout = Duration.ofSeconds(30);
    private int maxResetsPerWindow = 1000;
    private Duration resetWindow = Duration.ofSeconds(10);
    private @Nullable Duration maxConnectionAge;
    private Duration maxConnectionAgeGrace = Duration.ofMinutes(10);
    private Duration initialFetchTimeout = Duration.ofSeconds(10);
    private int eventLoopThreads = Runtime.getRuntime().availableProcessors();
    private ServerCredentials serverCredentials = InsecureServerCredentials.create();
    private ChannelCredentials controlPlaneCredentials = InsecureChannelCredentials.create();
    private SecretResolver secrets = SecretResolver.fromEnvironment();
    private @Nullable ProviderLookup providers;
    private int fleetSizeHint = 1;
    private IoTransport transport = IoTransport.best();
    private TokenEstimator tokenEstimator = TokenEstimator.approximateCl100k();

    private Builder() {}

    /** Where the inference server listens. Default: every interface, port 8080. */
    public Builder listenAddress(InetSocketAddress address) {
      this.listenAddress = requireNonNull(address, "address");
      return this;
    }

    /**
     * Control-plane replicas ({@code host:port} or gRPC target URIs); the node keeps one stream to
     * one of them and moves to the next when it breaks. Empty means none: the node serves its cache
     * file only.
     */
    public Builder controlPlaneTargets(List<String> targets) {
      this.controlPlaneTargets = List.copyOf(targets);
      return this;
    }

    /** This node's id in the fleet, e.g. the pod name: 1 to 128 of [A-Za-z0-9._:-]. Required. */
    public Builder nodeId(String nodeId) {
      this.nodeId = requireNonNull(nodeId, "nodeId");
      return this;
    }

    /** Labels the control plane's node selectors match on. */
    public Builder nodeLabels(Map<String, String> labels) {
      this.nodeLabels = Map.copyOf(labels);
      return this;
    }

    /**
     * The file that keeps the last applied config, to boot from when no control plane answers. Null
     * (the default) means none.
     */
    public Builder snapshotCacheFile(@Nullable Path file) {
      this.snapshotCacheFile = file;
      return this;
    }

    /**
     * Lets calls without an API key in, as consumer {@code anonymous} with every model granted (a
     * key that is presented is still verified). For dev mode only. Default false.
     */
    public Builder allowAnonymous(boolean allow) {
      this.allowAnonymous = allow;
      return this;
    }

    /**
     * How many JWTs that fail their signature or claims checks each client address may send:
     * {@code burst} at once, then {@code perSecond}; beyond that its tokens needing a signature
     * check are refused with RESOURCE_EXHAUSTED before it. Default 64 and 4; a burst of 0 turns
     * the limit off (docs/authentication.md).
     */
    public Builder failedTokenVerifications(int burst, double perSecond) {
      if (burst < 0 || !(perSecond > 0)) {
        throw new IllegalArgumentException(
            "failedTokenVerifications: burst " + burst + " (expected: >= 0), per second "
                + perSecond + " (expected: > 0)");
      }
      this.failedVerificationBurst = burst;
      this.failedVerificationsPerSecond = perSecond;
      return this;
    }

    /** Serves Prometheus metrics on {@code GET /metrics} at this address. Default: off. */
    public Builder metricsAddress(@Nullable InetSocketAddress address) {
      this.metricsAddress = address;
      return this;
    }

    /** Largest request message accepted (images and files count). Default 16 MiB. */
    public Builder maxInboundMessageSize(int bytes) {
      if (bytes <= 0) {
        throw new IllegalArgumentException("maxInboundMessageSize: " + bytes + " (expected: > 0)");
      }
      this.maxInboundMessageSize = bytes;
      return this;
    }

    /** HTTP/2 MAX_CONCURRENT_STREAMS per client connection. Default 1000. */
    public Builder maxConcurrentCallsPerConnection(int calls) {
      if (calls <= 0) {
        throw new IllegalArgumentException(
            "maxConcurrentCallsPerConnection: " + calls + " (expected: > 0)");
      }
      this.maxConcurrentCallsPerConnection = calls;
      return this;
    }

    /**
     * The most frequent client keepalive ping accepted; clients pinging more often get GOAWAY
     * {@code too_many_pings}. Default 20 s, also without calls in flight.
     */
    public Builder permitKeepAliveTime(Duration time) {
      this.permitKeepAliveTime = requireNonNull(time, "time");
      return this;
    }

    /**
     * How often the server pings an idle connection and how long it waits for the ack, so a dead
     * client of a long stream is noticed. Default 1 min and 20 s.
     */
    public Builder keepAlive(Duration time, Duration timeout) {
      this.keepAliveTime = requireNonNull(time, "time");
      this.keepAliveTimeout = requireNonNull(timeout, "timeout");
      return this;
    }

    /**
     * How long a new client connection may take to complete the TLS and HTTP/2 handshakes (the
     * client's preface and SETTINGS) before it is closed. Default 10 s: enough for a client on a
     * slow network, short for a slowloris or a port scanner holding sockets open.
     */
    public Builder handshakeTimeout(Duration timeout) {
      requireNonNull(timeout, "timeout");
      if (timeout.isNegative() || timeout.isZero()) {
        throw new IllegalArgumentException("handshakeTimeout: " + timeout + " (expected: > 0)");
      }
      this.handshakeTimeout = timeout;
      return this;
    }

    /**
     * Refuses new calls with UNAVAILABLE ({@code OVERLOADED}, retry after 1 s) while the heap live
     * after a garbage collection is at least this share of the maximum, until a collection leaves
     * it 5 points lower; calls already running continue. Default 0.9; 0 turns shedding off.
     */
    public Builder shedAtHeapFraction(double fraction) {
      if (fraction != 0 && !(fraction > 0.05 && fraction <= 1)) {
        throw new IllegalArgumentException(
            "shedAtHeapFraction: " + fraction + " (expected: 0, or above 0.05 and at most 1)");
      }
      this.shedAtHeapFraction = fraction;
      return this;
    }

    /**
     * Refuses a new inference call with UNAVAILABLE ({@code OVERLOADED}, retry after 100 ms) while
     * this many are in flight on the node, unary and streams together; calls already running
     * continue. Past its capacity a node's cost per call grows with the calls it holds, so a
     * backlog can collapse it instead of draining; the bound keeps it where it is efficient. The
     * right value depends on the traffic (long streams hold places for minutes), so the default is
     * 0: no bound.
     */
    public Builder maxCallsInFlight(int calls) {
      if (calls < 0) {
        throw new IllegalArgumentException(
            "maxCallsInFlight: " + calls + " (expected: >= 0, 0 for no bound)");
      }
      this.maxCallsInFlight = calls;
      return this;
    }

    /**
     * How long a client connection may carry no call before the server ends it with GOAWAY.
     * Default 1 h (Envoy's downstream idle timeout): a client that went quiet reconnects on its
     * next call, and a node does not hold sockets for clients long gone.
     */
    public Builder maxConnectionIdle(Duration idle) {
      requireNonNull(idle, "idle");
      if (idle.isNegative() || idle.isZero()) {
        throw new IllegalArgumentException("maxConnectionIdle: " + idle + " (expected: > 0)");
      }
      this.maxConnectionIdle = idle;
      return this;
    }

    /**
     * The most stream resets ({@code RST_STREAM}) a client connection may send per {@code window}
     * before the server ends it with GOAWAY {@code ENHANCE_YOUR_CALM}: the defence against HTTP/2
     * rapid reset, where each opened-and-reset stream would otherwise cost a routed upstream call.
     * Default 1,000 per 10 s, far above what cancelling clients send (every call a client cancels or
     * lets its deadline expire on is one reset).
     */
    public Builder maxResetsPerWindow(int resets, Duration window) {
      requireNonNull(window, "window");
      if (resets <= 0 || window.toSeconds() <= 0) {
        throw new IllegalArgumentException(
            "maxResetsPerWindow: " + resets + " per " + window
                + " (expected: > 0 per at least 1 s)");
      }
      this.maxResetsPerWindow = resets;
      this.resetWindow = window;
      return this;
    }

    /**
     * Ends each client connection after {@code age} (GOAWAY, so clients reconnect, through an L4
     * load balancer possibly to another node) and lets its calls in flight run for up to {@code
     * grace} more, so long generations are not cut. Default: connections live as long as their
     * clients keep them.
     */
    public Builder maxConnectionAge(Duration age, Duration grace) {
      requireNonNull(age, "age");
      requireNonNull(grace, "grace");
      if (age.isNegative() || age.isZero() || grace.isNegative()) {
        throw new IllegalArgumentException(
            "maxConnectionAge: " + age + " with grace " + grace + " (expected: age > 0, grace >= 0)");
      }
      this.maxConnectionAge = age;
      this.maxConnectionAgeGrace = grace;
      return this;
    }

    /** How long {@link DataPlane#close()} lets calls in flight finish. Default 30 s. */
    public Builder drainTimeout(Duration timeout) {
      this.drainTimeout = requireNonNull(timeout, "timeout");
      return this;
    }

    /**
     * How long start-up waits for a control plane before serving the cache file; it serves the file
     * sooner when every target has refused a connection. Default 10 s.
     */
    public Builder initialFetchTimeout(Duration timeout) {
      this.initialFetchTimeout = requireNonNull(timeout, "timeout");
      return this;
    }

    /** Event loop threads shared by the server and upstream connections. Default: one per core. */
    public Builder eventLoopThreads(int threads) {
      if (threads <= 0) {
        throw new IllegalArgumentException("eventLoopThreads: " + threads + " (expected: > 0)");
      }
      this.eventLoopThreads = threads;
      return this;
    }

    /**
     * The socket I/O of the event loops. Default {@link IoTransport#best()}: native epoll where it
     * loads, else NIO.
     *
     * @throws IllegalArgumentException for a transport that cannot run on this machine
     */
    public Builder transport(IoTransport transport) {
      requireNonNull(transport, "transport");
      if (!transport.isAvailable()) {
        throw new IllegalArgumentException("transport: " + transport + " is not available here");
      }
      this.transport = transport;
      return this;
    }

    /**
     * How the node counts a request's prompt before admitting it against token limits. Default
     * {@link TokenEstimator#approximateCl100k()}: a few microseconds also for long prompts, and
     * settlement charges the provider's real usage anyway; {@link TokenEstimator#cl100k()} counts
     * exactly at about ten times the cost.
     */
    public Builder tokenEstimator(TokenEstimator estimator) {
      this.tokenEstimator = requireNonNull(estimator, "estimator");
      return this;
    }

    /** Transport security of the inference server. Default plaintext. */
    public Builder serverCredentials(ServerCredentials credentials) {
      this.serverCredentials = requireNonNull(credentials, "credentials");
      return this;
    }

    /** Transport security toward the control plane (e.g. mutual TLS). Default plaintext. */
    public Builder controlPlaneCredentials(ChannelCredentials credentials) {
      this.controlPlaneCredentials = requireNonNull(credentials, "credentials");
      return this;
    }

    /** Resolves backend credentials. Default: this process's environment and files. */
    public Builder secrets(SecretResolver secrets) {
      this.secrets = requireNonNull(secrets, "secrets");
      return this;
    }

    /**
     * Replaces the built-in provider adapters (tests, embedding applications). Default: the
     * adapters of {@link ProviderRegistry}, on the data plane's event loops. A config with a
     * backend of a kind the lookup has no adapter for is refused (NACKed) and the node keeps its
     * last good config, as a node of an older build does with a kind only newer builds support.
     */
    public Builder providers(@Nullable ProviderLookup providers) {
      this.providers = providers;
      return this;
    }

    /**
     * How many data planes share each rate limit while no lease from the control plane holds (at
     * start-up, during a control-plane outage, or against a control plane that does not lease
     * shares): each node then enforces {@code amount / fleetSizeHint} of every limit. Set it to the
     * number of data planes deployed, never lower: a lower value lets the fleet over-admit while
     * leases are missing, a higher one only under-admits. Default 1.
     */
    public Builder fleetSizeHint(int nodes) {
      if (nodes < 1) {
        throw new IllegalArgumentException("fleetSizeHint: " + nodes + " (expected: >= 1)");
      }
      this.fleetSizeHint = nodes;
      return this;
    }

    public DataPlane build() {
      if (nodeId == null || !nodeId.matches("[A-Za-z0-9._:-]{1,128}")) {
        throw new IllegalStateException(
            "nodeId: " + nodeId + " (expected: 1 to 128 characters from [A-Za-z0-9._:-])");
      }
      return new DataPlane(this);
    }
  }

  @Override
  public String toString() {
    return "DataPlane{node=" + config.nodeId + ", config=" + configVersion() + "}";
  }
}
