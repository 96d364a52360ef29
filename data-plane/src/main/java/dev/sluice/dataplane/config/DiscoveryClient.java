package dev.sluice.dataplane.config;

import static java.util.Objects.requireNonNull;

import com.google.common.collect.ImmutableList;
import com.google.rpc.Status;
import dev.sluice.dataplane.routing.ProviderLookup;
import dev.sluice.discovery.v1.ConfigSource;
import dev.sluice.discovery.v1.DiscoveryServiceGrpc;
import dev.sluice.discovery.v1.Node;
import dev.sluice.discovery.v1.StreamConfigRequest;
import dev.sluice.discovery.v1.StreamConfigResponse;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Function;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.jspecify.annotations.Nullable;

/**
 * The data plane's end of {@code DiscoveryService.StreamConfig}: keeps one stream open to a control
 * plane, applies each snapshot it receives, and answers with an ACK once the snapshot is served or
 * a NACK (keeping the last good config) when it cannot be.
 *
 * <p>Protocol, as {@code discovery_service.proto} specifies it:
 *
 * <ul>
 *   <li>The first request carries the Node and the version, digest and source of the config the
 *       node serves (or of its cache file at start-up), so a control plane that has nothing newer
 *       answers without a payload instead of resending the whole config.
 *   <li>Every response is answered exactly once, after it was applied: ACK (version = the new one)
 *       or NACK (error_detail set, version = the one still served).
 *   <li>When a stream fails the client reconnects, to the next target in turn, after a jittered
 *       exponential backoff (0.5 s doubling to 30 s by default) that resets once a stream delivers
 *       a response. The node keeps serving its last good config meanwhile, however long that takes.
 *   <li>At start-up, if no control plane delivers a config within the initial fetch timeout, or
 *       every target failed once without answering, the node serves the config saved in its cache
 *       file.
 * </ul>
 *
 * <p>Threading: every state change runs on one private thread (the "config thread"); gRPC callbacks
 * are delivered there too, so nothing in here needs a lock. Applying a config (building tables,
 * writing the cache file) happens on that thread and never on a request thread.
 */
public final class DiscoveryClient implements AutoCloseable {
  private static final Logger logger = Logger.getLogger(DiscoveryClient.class.getName());

  private final ImmutableList<String> targets;
  private final Node node;
  private final ServingConfig serving;
  private final ConfigApplier applier;
  private final Function<String, ManagedChannel> channelFactory;
  private final Duration initialFetchTimeout;
  private final Backoff backoff;
  private final ScheduledExecutorService executor;
  private final Channel currentChannel = new CurrentChannel();

  /** The channel of the latest config stream; written on the config thread, read by any. */
  private volatile @Nullable ManagedChannel streamChannel;

  // Everything below is confined to the config thread.
  private final Map<String, ManagedChannel> channels = new LinkedHashMap<>();
  private int targetIndex;
  private @Nullable ConfigStream stream;
  private @Nullable RuntimeConfig cached;

  /** Set when a control plane claimed we hold a version we do not: report none next time. */
  private boolean reportNothing;

  private boolean answeredOnce;
  private int streamsFailedBeforeAnswer;
  private boolean closed;
  private final AtomicBoolean closing = new AtomicBoolean();

  private DiscoveryClient(Builder b) {
    this.targets = ImmutableList.copyOf(b.targets);
    this.node = requireNonNull(b.node, "node");
    this.serving = requireNonNull(b.serving, "serving");
    this.applier =
        new ConfigApplier(
            serving,
            b.cacheFile == null ? null : new SnapshotFile(b.cacheFile),
            requireNonNull(b.providers, "providers"));
    this.channelFactory = requireNonNull(b.channelFactory, "channelFactory");
    this.initialFetchTimeout = b.initialFetchTimeout;
    this.backoff = new Backoff(b.backoffInitial, b.backoffMax, new Random());
    ScheduledThreadPoolExecutor configThread =
        new ScheduledThreadPoolExecutor(
            1,
            r -> {
              Thread t = new Thread(r, "sluice-config");
              t.setDaemon(true);
              return t;
            });
    // Pending reconnects and the initial fetch timer must not hold up shutdown.
    configThread.setExecuteExistingDelayedTasksAfterShutdownPolicy(false);
    configThread.setRemoveOnCancelPolicy(true);
    this.executor = configThread;
  }

  public static Builder builder() {
    return new Builder();
  }

  /** Loads the cache file and opens the first stream; returns at once. */
  public void start() {
    executor.execute(
        () -> {
          cached = applier.loadCache();
          if (cached != null) {
            logger.info(() -> "Found cached config " + cached.versionInfo());
          }
          if (targets.isEmpty()) {
            serveCacheIfNothingServed("no control plane is configured");
            return;
          }
          connect();
        });
    executor.schedule(
        () ->
            serveCacheIfNothingServed(
                "no control plane delivered a config within " + initialFetchTimeout),
        initialFetchTimeout.toNanos(),
        TimeUnit.NANOSECONDS);
  }

  /**
   * A channel to the control plane this node streams config from, for the node's other calls to
   * the control plane ({@code LeaseQuota}). Each call goes to the replica of the current config
   * stream, over the same connection (transport security, keepalive), so those calls follow the
   * stream when it fails over instead of insisting on a replica that is down. Calls made before
   * the first stream opens fail with UNAVAILABLE, as do calls after {@link #close()}.
   */
  public Channel channel() {
    return currentChannel;
  }

  /** Closes the stream and the channels to the control plane; the served config stays. */
  @Override
  public void close() {
    if (!closing.compareAndSet(false, true)) {
      return;
    }
    executor.execute(
        () -> {
          closed = true;
          ConfigStream s = stream;
          stream = null;
          if (s != null) {
            s.cancel("data plane shutting down");
          }
          for (ManagedChannel channel : channels.values()) {
            channel.shutdownNow();
          }
        });
    executor.shutdown();
    try {
      if (executor.awaitTermination(5, TimeUnit.SECONDS)) {
        for (ManagedChannel channel : channels.values()) {
          channel.awaitTermination(5, TimeUnit.SECONDS);
        }
      } else {
        executor.shutdownNow();
      }
    } catch (InterruptedException e) {
      executor.shutdownNow();
      Thread.currentThread().interrupt();
    }
  }

  private void connect() {
    if (closed) {
      return;
    }
    String target = targets.get(targetIndex);
    ManagedChannel channel = channels.computeIfAbsent(target, channelFactory);
    streamChannel = channel;
    ConfigStream s = new ConfigStream(target);
    stream = s;
    logger.fine(() -> "Opening a config stream to " + target);
    DiscoveryServiceGrpc.newStub(channel).withExecutor(executor).streamConfig(s);
    StreamConfigRequest.Builder first = StreamConfigRequest.newBuilder().setNode(node);
    RuntimeConfig reported = reportNothing ? null : served();
    if (reported == null && !reportNothing) {
      reported = cached;
    }
    if (reported == null) {
      first.setConfigSource(ConfigSource.CONFIG_SOURCE_NONE);
    } else {
      first
          .setVersionInfo(reported.versionInfo())
          .setAppliedDigest(reported.digest())
          .setConfigSource(reported.source());
    }
    s.send(first.build());
  }

  private void onResponse(ConfigStream s, StreamConfigResponse response) {
    if (s != stream || closed) {
      return;
    }
    if (!s.answered) {
      s.answered = true;
      answeredOnce = true;
      backoff.reset();
      logger.info(
          () -> "Config stream open to " + s.target + " (" + response.getControlPlaneId() + ")");
    }
    Status nack;
    if (response.hasSnapshot()) {
      nack = applier.apply(response.getVersionInfo(), response.getSnapshot());
    } else {
      nack = keep(response.getVersionInfo());
      if (nack != null) {
        // The control plane believes we hold content we do not: start over reporting nothing,
        // so it sends the whole snapshot.
        logger.warning(
            () ->
                "Control plane "
                    + response.getControlPlaneId()
                    + " sent no payload for "
                    + response.getVersionInfo()
                    + ", which this node does not hold; reconnecting");
        reportNothing = true;
        stream = null;
        s.cancel("reconnecting to receive a full snapshot");
        connect();
        return;
      }
    }
    RuntimeConfig now = served();
    StreamConfigRequest.Builder answer =
        StreamConfigRequest.newBuilder().setResponseNonce(response.getNonce());
    if (now != null) {
      answer
          .setVersionInfo(now.versionInfo())
          .setAppliedDigest(now.digest())
          .setConfigSource(now.source());
    } else {
      answer.setConfigSource(ConfigSource.CONFIG_SOURCE_NONE);
    }
    if (nack != null) {
      Status rejected = nack;
      logger.warning(
          () -> "NACK of config " + response.getVersionInfo() + ": " + rejected.getMessage());
      answer.setErrorDetail(nack);
    } else {
      reportNothing = false;
    }
    s.send(answer.build());
  }

  /**
   * A response without payload: keep serving {@code versionInfo}. Returns null when this node holds
   * it (served, or in its cache file), else the reason it cannot.
   */
  private @Nullable Status keep(String versionInfo) {
    RuntimeConfig current = served();
    if (current != null && current.versionInfo().equals(versionInfo)) {
      if (current.source() != ConfigSource.CONFIG_SOURCE_CONTROL_PLANE) {
        applier.serve(current.withSource(ConfigSource.CONFIG_SOURCE_CONTROL_PLANE));
      }
      return null;
    }
    RuntimeConfig fromFile = cached;
    if (fromFile != null && fromFile.versionInfo().equals(versionInfo)) {
      applier.serve(
          RuntimeConfig.build(
              fromFile.versionInfo(),
              fromFile.snapshot(),
              ConfigSource.CONFIG_SOURCE_CONTROL_PLANE,
              current,
              applier.providers()));
      return null;
    }
    return Status.newBuilder()
        .setCode(com.google.rpc.Code.FAILED_PRECONDITION_VALUE)
        .setMessage("this node does not hold version " + versionInfo)
        .build();
  }

  private void onStreamEnded(ConfigStream s, @Nullable Throwable error) {
    if (s != stream || closed) {
      return;
    }
    stream = null;
    if (!s.answered) {
      streamsFailedBeforeAnswer++;
      if (!answeredOnce && streamsFailedBeforeAnswer >= targets.size()) {
        serveCacheIfNothingServed("no control plane answered (" + targets.size() + " tried)");
      }
    }
    targetIndex = (targetIndex + 1) % targets.size();
    long delay = backoff.nextDelayNanos();
    logger.log(
        s.answered ? Level.WARNING : Level.FINE,
        "Config stream to "
            + s.target
            + " ended ("
            + describe(error)
            + "); reconnecting to "
            + targets.get(targetIndex)
            + " in "
            + TimeUnit.NANOSECONDS.toMillis(delay)
            + " ms");
    ScheduledFuture<?> unused = executor.schedule(this::connect, delay, TimeUnit.NANOSECONDS);
  }

  private void serveCacheIfNothingServed(String why) {
    RuntimeConfig fromFile = cached;
    if (closed || served() != null || fromFile == null) {
      return;
    }
    logger.warning(() -> why + "; serving the cached config " + fromFile.versionInfo());
    applier.serve(fromFile);
  }

  private @Nullable RuntimeConfig served() {
    return serving.current();
  }

  private static String describe(@Nullable Throwable error) {
    if (error == null) {
      return "closed by the control plane";
    }
    io.grpc.Status status = io.grpc.Status.fromThrowable(error);
    return status.getCode()
        + (status.getDescription() == null ? "" : ": " + status.getDescription());
  }

  /** {@link #channel()}: delegates each call to the channel of the current config stream. */
  private final class CurrentChannel extends Channel {
    @Override
    public <ReqT, RespT> ClientCall<ReqT, RespT> newCall(
        MethodDescriptor<ReqT, RespT> method, CallOptions options) {
      ManagedChannel channel = streamChannel;
      if (channel == null) {
        return new FailedCall<>(
            io.grpc.Status.UNAVAILABLE.withDescription("no control plane connected yet"));
      }
      return channel.newCall(method, options);
    }

    @Override
    public String authority() {
      ManagedChannel channel = streamChannel;
      return channel != null ? channel.authority() : targets.isEmpty() ? "" : targets.get(0);
    }
  }

  /** A call that fails as soon as it starts, without touching the network. */
  private static final class FailedCall<ReqT, RespT> extends ClientCall<ReqT, RespT> {
    private final io.grpc.Status status;

    FailedCall(io.grpc.Status status) {
      this.status = status;
    }

    @Override
    public void start(Listener<RespT> listener, Metadata headers) {
      listener.onClose(status, new Metadata());
    }

    @Override
    public void request(int numMessages) {}

    @Override
    public void cancel(@Nullable String message, @Nullable Throwable cause) {}

    @Override
    public void halfClose() {}

    @Override
    public void sendMessage(ReqT message) {}
  }

  /** One StreamConfig call; callbacks arrive on the config thread. */
  private final class ConfigStream
      implements ClientResponseObserver<StreamConfigRequest, StreamConfigResponse> {
    final String target;
    boolean answered;
    private @Nullable ClientCallStreamObserver<StreamConfigRequest> requests;

    ConfigStream(String target) {
      this.target = target;
    }

    @Override
    public void beforeStart(ClientCallStreamObserver<StreamConfigRequest> requestStream) {
      this.requests = requestStream;
    }

    void send(StreamConfigRequest request) {
      ClientCallStreamObserver<StreamConfigRequest> r = requests;
      if (r != null) {
        r.onNext(request);
      }
    }

    void cancel(String why) {
      ClientCallStreamObserver<StreamConfigRequest> r = requests;
      if (r != null) {
        r.cancel(why, null);
      }
    }

    @Override
    public void onNext(StreamConfigResponse response) {
      onResponse(this, response);
    }

    @Override
    public void onError(Throwable t) {
      onStreamEnded(this, t);
    }

    @Override
    public void onCompleted() {
      onStreamEnded(this, null);
    }
  }

  /** Configures a {@link DiscoveryClient}. */
  public static final class Builder {
    private List<String> targets = List.of();
    private @Nullable Node node;
    private @Nullable ServingConfig serving;
    private @Nullable Path cacheFile;
    private @Nullable ProviderLookup providers;
    private @Nullable Function<String, ManagedChannel> channelFactory;
    private Duration initialFetchTimeout = Duration.ofSeconds(10);
    private Duration backoffInitial = Duration.ofMillis(500);
    private Duration backoffMax = Duration.ofSeconds(30);

    private Builder() {}

    /** Control-plane addresses ({@code host:port} or gRPC target URIs), tried in turn. */
    public Builder targets(List<String> targets) {
      this.targets = List.copyOf(targets);
      return this;
    }

    /** How this node identifies itself. Required. */
    public Builder node(Node node) {
      this.node = requireNonNull(node, "node");
      return this;
    }

    /** Where applied configs go. Required. */
    public Builder serving(ServingConfig serving) {
      this.serving = requireNonNull(serving, "serving");
      return this;
    }

    /** The file that keeps the last applied config; null means none. */
    public Builder cacheFile(@Nullable Path cacheFile) {
      this.cacheFile = cacheFile;
      return this;
    }

    /**
     * Opens a channel to a target (with the node's transport security, event loops, keepalive). The
     * client shuts the channels down when closed. Required.
     */
    public Builder channelFactory(Function<String, ManagedChannel> channelFactory) {
      this.channelFactory = requireNonNull(channelFactory, "channelFactory");
      return this;
    }

    /** How long start-up waits for a control plane before serving the cache file. Default 10 s. */
    public Builder initialFetchTimeout(Duration timeout) {
      this.initialFetchTimeout = requireNonNull(timeout, "timeout");
      return this;
    }

    /**
     * The adapters this node calls backends through, the same the router uses. Required: a snapshot
     * with a backend of a kind it has no adapter for is NACKed (version skew between a newer
     * control plane and this build), never served.
     */
    public Builder providers(ProviderLookup providers) {
      this.providers = requireNonNull(providers, "providers");
      return this;
    }

    /** Reconnect backoff bounds. Default 0.5 s doubling to 30 s. */
    public Builder reconnectBackoff(Duration initial, Duration max) {
      this.backoffInitial = requireNonNull(initial, "initial");
      this.backoffMax = requireNonNull(max, "max");
      return this;
    }

    public DiscoveryClient build() {
      return new DiscoveryClient(this);
    }
  }
}
