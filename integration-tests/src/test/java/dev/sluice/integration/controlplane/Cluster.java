package dev.sluice.integration.controlplane;

import static java.util.Objects.requireNonNull;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Any;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import com.google.protobuf.util.Durations;
import com.google.rpc.ErrorInfo;
import dev.sluice.admin.v1.AdminServiceGrpc;
import dev.sluice.admin.v1.AdminServiceGrpc.AdminServiceBlockingStub;
import dev.sluice.admin.v1.ApplyChangesRequest;
import dev.sluice.admin.v1.ApplyChangesResponse;
import dev.sluice.admin.v1.GetFleetStatusRequest;
import dev.sluice.admin.v1.NodeStatus;
import dev.sluice.admin.v1.WaitForFleetVersionRequest;
import dev.sluice.admin.v1.WaitForFleetVersionResponse;
import dev.sluice.config.v1.Resource;
import dev.sluice.controlplane.ControlPlane;
import dev.sluice.controlplane.snapshot.Snapshot;
import dev.sluice.controlplane.store.ConfigStore;
import dev.sluice.controlplane.store.etcd.EtcdConfigStore;
import dev.sluice.controlplane.store.etcd.EtcdStoreOptions;
import dev.sluice.dataplane.DataPlane;
import dev.sluice.inference.v1.ChatMessage;
import dev.sluice.inference.v1.ChatRequest;
import dev.sluice.inference.v1.ChatResponse;
import dev.sluice.inference.v1.ContentPart;
import dev.sluice.inference.v1.InferenceServiceGrpc;
import dev.sluice.inference.v1.Role;
import dev.sluice.testing.etcd.EtcdExtension;
import io.grpc.ChannelCredentials;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.protobuf.StatusProto;
import io.grpc.stub.MetadataUtils;
import io.micrometer.core.instrument.MeterRegistry;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Comparator;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;
import java.util.function.Predicate;
import java.util.function.Supplier;
import java.util.stream.Stream;
import org.jspecify.annotations.Nullable;

/**
 * One Sluice deployment for one test, on the test class's etcd process: control-plane replicas
 * (each with its own etcd client, all under one fresh key prefix, so tests never see each other's
 * config), data planes, and the channels to them, all on 127.0.0.1 and ephemeral ports. {@link
 * #close()} stops everything started through it, newest first, and deletes its scratch directory.
 */
final class Cluster implements AutoCloseable {
  static final String ADMIN_TOKEN = "controlplane-it-admin-token-0123456789";
  static final String PRINCIPAL = "it-operator";

  /** How long any convergence may take before a test fails; generous for a loaded 2-core CI box. */
  static final Duration WAIT = Duration.ofSeconds(30);

  /** The etcd call deadline of every replica: failures during an outage surface within it. */
  static final Duration ETCD_CALL_TIMEOUT = Duration.ofSeconds(1);

  private final EtcdExtension etcd;
  private final String keyPrefix = "/sluice-it/" + UUID.randomUUID() + "/";
  private final Path scratch;
  private final Deque<AutoCloseable> started = new ArrayDeque<>();

  private Cluster(EtcdExtension etcd, Path scratch) {
    this.etcd = etcd;
    this.scratch = scratch;
  }

  /** A cluster on {@code etcd}, with nothing running yet. */
  static Cluster on(EtcdExtension etcd) throws IOException {
    return new Cluster(etcd, Files.createTempDirectory("sluice-cp-it-"));
  }

  /** Closes {@code resource} with the cluster, before everything started earlier. */
  <T extends AutoCloseable> T closeLater(T resource) {
    started.push(resource);
    return resource;
  }

  /** A directory deleted with the cluster, e.g. for data-plane cache files. */
  Path scratch() {
    return scratch;
  }

  // ---- control-plane replicas

  /** Starts a control-plane replica with the production defaults and waits until it is ready. */
  Replica replica(String id) {
    return replica(id, spec -> {});
  }

  /** Starts a replica configured by {@code customize} and waits until it is ready. */
  Replica replica(String id, Consumer<ReplicaSpec> customize) {
    ReplicaSpec spec = new ReplicaSpec(etcd.clientEndpoint());
    customize.accept(spec);
    EtcdStoreOptions.Builder options =
        EtcdStoreOptions.builder(List.of(spec.etcdEndpoint))
            .keyPrefix(keyPrefix)
            .callTimeout(ETCD_CALL_TIMEOUT)
            // Tests cut etcd for seconds, not minutes: retry the watch often enough to notice
            // its return quickly.
            .watchRetryBackoff(Duration.ofMillis(100), Duration.ofSeconds(1))
            .healthCheckInterval(Duration.ofMillis(250));
    if (spec.storeMeters != null) {
      options.meterRegistry(spec.storeMeters);
    }
    spec.storeOptions.accept(options);
    ConfigStore store = EtcdConfigStore.connect(options.build());
    started.push(store);
    ControlPlane.Builder builder =
        ControlPlane.builder()
            .listenAddress(new InetSocketAddress("127.0.0.1", spec.port))
            .store(store)
            .adminTokens(Map.of(PRINCIPAL, ADMIN_TOKEN))
            .controlPlaneId(id)
            .debounce(Duration.ofMillis(10), Duration.ofMillis(50));
    spec.controlPlane.accept(builder);
    ControlPlane controlPlane = builder.build();
    started.push(controlPlane);
    controlPlane.start();
    ManagedChannel channel =
        Grpc.newChannelBuilderForAddress("127.0.0.1", controlPlane.port(), spec.adminCredentials)
            .build();
    started.push(() -> shutdown(channel));
    Replica replica = new Replica(id, controlPlane, store, channel);
    try {
      if (!controlPlane.awaitReady(WAIT)) {
        throw new AssertionError("control plane " + id + " built no snapshot within " + WAIT);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError(e);
    }
    eventually("control plane " + id + " can write to etcd", store::isWritable);
    return replica;
  }

  /** How a replica is started; the defaults are those of {@link #replica(String)}. */
  static final class ReplicaSpec {
    private URI etcdEndpoint;
    private @Nullable MeterRegistry storeMeters;
    private int port;
    private ChannelCredentials adminCredentials = InsecureChannelCredentials.create();
    private Consumer<ControlPlane.Builder> controlPlane = b -> {};
    private Consumer<EtcdStoreOptions.Builder> storeOptions = o -> {};

    private ReplicaSpec(URI etcdEndpoint) {
      this.etcdEndpoint = etcdEndpoint;
    }

    /** Reaches etcd here instead (e.g. through a proxy that can cut the connection). */
    ReplicaSpec etcdEndpoint(URI endpoint) {
      this.etcdEndpoint = requireNonNull(endpoint);
      return this;
    }

    /** Publishes the store's meters (mirror resyncs) here. */
    ReplicaSpec storeMeters(MeterRegistry meters) {
      this.storeMeters = meters;
      return this;
    }

    /** Listens on this port instead of an ephemeral one (to bring a replica back at its address). */
    ReplicaSpec port(int port) {
      this.port = port;
      return this;
    }

    /** Changes the control plane's settings (TLS, client CA, ...). */
    ReplicaSpec controlPlane(Consumer<ControlPlane.Builder> settings) {
      this.controlPlane = settings;
      return this;
    }

    /** Changes the replica's etcd store options (e.g. its transaction limit). */
    ReplicaSpec storeOptions(Consumer<EtcdStoreOptions.Builder> settings) {
      this.storeOptions = settings;
      return this;
    }

    /** Transport security of the test's own admin and health channel to the replica. */
    ReplicaSpec adminCredentials(ChannelCredentials credentials) {
      this.adminCredentials = credentials;
      return this;
    }
  }

  /** A running control-plane replica and an operator's channel to it. */
  static final class Replica {
    final String id;
    final ControlPlane controlPlane;
    final ConfigStore store;
    private final ManagedChannel channel;
    private final int port;

    private Replica(String id, ControlPlane controlPlane, ConfigStore store, ManagedChannel channel) {
      this.id = id;
      this.controlPlane = controlPlane;
      this.store = store;
      this.channel = channel;
      this.port = controlPlane.port();
    }

    /** The address data planes dial. */
    String target() {
      return "127.0.0.1:" + port;
    }

    int port() {
      return port;
    }

    /** The admin API with the admin token and a deadline. */
    AdminServiceBlockingStub admin() {
      Metadata headers = new Metadata();
      headers.put(
          Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER),
          "Bearer " + ADMIN_TOKEN);
      return AdminServiceGrpc.newBlockingStub(channel)
          .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers))
          .withDeadlineAfter(WAIT.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** Applies {@code resources} as one change set; returns the new config version. */
    long apply(Resource... resources) {
      return apply(Configs.upserts(resources).build()).getConfigVersion();
    }

    ApplyChangesResponse apply(ApplyChangesRequest request) {
      return admin().applyChanges(request);
    }

    /**
     * WaitForFleetVersion: until every connected node of the fleet serves {@code version}, or 30 s.
     * The fleet is this replica's nodes and those the other replicas published (about once a
     * second), so a node that just connected to another replica may not count yet.
     */
    WaitForFleetVersionResponse waitForFleetVersion(long version) {
      return admin()
          .withDeadlineAfter(WAIT.toMillis() + 5_000, TimeUnit.MILLISECONDS)
          .waitForFleetVersion(
              WaitForFleetVersionRequest.newBuilder()
                  .setConfigVersion(version)
                  .setTimeout(Durations.fromMillis(WAIT.toMillis()))
                  .build());
    }

    /**
     * Asserts that WaitForFleetVersion finds exactly {@code nodes} connected nodes, on all
     * replicas, at {@code version}.
     */
    void assertFleetConverged(long version, int nodes) {
      WaitForFleetVersionResponse response = waitForFleetVersion(version);
      assertThat(response.getConverged())
          .as("fleet of %s at version %s: %s", id, version, response)
          .isTrue();
      assertThat(response.getSelectedNodeCount())
          .as("nodes connected to %s: %s", id, response)
          .isEqualTo(nodes);
    }

    /** The node's status in this replica's GetFleetStatus, if it is listed. */
    Optional<NodeStatus> fleetNode(String nodeId) {
      return fleetStatus().stream().filter(n -> n.getNode().getId().equals(nodeId)).findFirst();
    }

    List<NodeStatus> fleetStatus() {
      return admin().getFleetStatus(GetFleetStatusRequest.getDefaultInstance()).getNodesList();
    }

    /**
     * Polls GetFleetStatus until it lists exactly {@code nodeIds} (in node id order) and returns
     * that listing: nodes of other replicas show once those replicas published them.
     */
    List<NodeStatus> awaitFleetListing(String... nodeIds) {
      List<String> expected = List.of(nodeIds);
      return eventually(
          id + " lists the nodes " + expected,
          this::fleetStatus,
          nodes -> nodes.stream().map(n -> n.getNode().getId()).toList().equals(expected));
    }

    /**
     * Waits until {@code nodeId} has a discovery stream open to this replica, so that fleet queries
     * count it (WaitForFleetVersion does not wait for nodes that have not connected yet).
     */
    void awaitConnected(String nodeId) {
      eventually(
          nodeId + " is connected to " + id,
          () ->
              controlPlane.fleet().nodes().stream()
                  .anyMatch(n -> n.nodeId().equals(nodeId) && n.connected()));
    }

    /** grpc.health.v1 status of {@code service} ("" for the server as a whole). */
    ServingStatus health(String service) {
      return Cluster.health(channel, service);
    }

    /** The snapshot this replica distributes. */
    @Nullable Snapshot snapshot() {
      return controlPlane.snapshots().current();
    }

    /** Stops the replica as an operator would take it down (its etcd client goes with it). */
    void stop() {
      controlPlane.close();
      store.close();
    }
  }

  // ---- data planes

  /**
   * Settings of a data plane that serves inference calls on 127.0.0.1 from the built-in MOCK
   * backend, without API keys, taking config from {@code replicas} (in that order).
   */
  DataPlane.Builder dataPlane(String nodeId, Replica... replicas) {
    return dataPlane(nodeId, Stream.of(replicas).map(Replica::target).toList());
  }

  DataPlane.Builder dataPlane(String nodeId, List<String> controlPlaneTargets) {
    return DataPlane.builder()
        .listenAddress(new InetSocketAddress("127.0.0.1", 0))
        .controlPlaneTargets(controlPlaneTargets)
        .nodeId(nodeId)
        .allowAnonymous(true)
        .eventLoopThreads(1)
        .drainTimeout(Duration.ofSeconds(2))
        .initialFetchTimeout(Duration.ofSeconds(5));
  }

  /** Starts the data plane {@code settings} describe; it is stopped with the cluster. */
  Node start(DataPlane.Builder settings) throws IOException {
    DataPlane dataPlane = settings.build();
    started.push(dataPlane);
    dataPlane.start();
    ManagedChannel channel =
        Grpc.newChannelBuilderForAddress(
                "127.0.0.1", dataPlane.port(), InsecureChannelCredentials.create())
            .build();
    started.push(() -> shutdown(channel));
    return new Node(dataPlane, channel);
  }

  /** A running data plane and a client's channel to its inference API. */
  static final class Node {
    final DataPlane dataPlane;
    private final ManagedChannel channel;

    private Node(DataPlane dataPlane, ManagedChannel channel) {
      this.dataPlane = dataPlane;
      this.channel = channel;
    }

    /** A unary chat call to {@code model}; throws StatusRuntimeException when refused. */
    ChatResponse chat(String model) {
      return InferenceServiceGrpc.newBlockingStub(channel)
          .withDeadlineAfter(10, TimeUnit.SECONDS)
          .chat(
              ChatRequest.newBuilder()
                  .setModel(model)
                  .addMessages(
                      ChatMessage.newBuilder()
                          .setRole(Role.ROLE_USER)
                          .addParts(ContentPart.newBuilder().setText("Hello, gateway")))
                  .build());
    }

    /** The config version the node serves, or 0 before it serves one. */
    long configVersion() {
      String info = dataPlane.configVersion();
      return info == null ? 0 : Long.parseLong(info.substring(info.indexOf('.') + 1));
    }

    /** The discovery version_info ({@code <epoch>.<version>}) served, or null. */
    @Nullable String versionInfo() {
      return dataPlane.configVersion();
    }

    /** grpc.health.v1 status of the whole server. */
    ServingStatus health() {
      return Cluster.health(channel, "");
    }

    /** Waits until the node serves {@code version} or newer. */
    void awaitVersion(long version) {
      eventually(
          dataPlane + " serves config version " + version + " or newer",
          () -> configVersion() >= version);
    }

    void stop() {
      dataPlane.close();
    }
  }

  // ---- shared helpers

  /** Polls {@code condition} every 20 ms until it holds; fails after {@link #WAIT}. */
  static void eventually(String what, BooleanSupplier condition) {
    eventually(what, condition::getAsBoolean, done -> done);
  }

  /**
   * Polls {@code probe} until its value satisfies {@code done} and returns that value; a probe
   * that throws (a call refused while something recovers) counts as not done. Fails after
   * {@link #WAIT}, naming the last value or error.
   */
  static <T> T eventually(String what, Supplier<T> probe, Predicate<? super T> done) {
    long deadline = System.nanoTime() + WAIT.toNanos();
    Object last = "nothing yet";
    while (true) {
      try {
        T value = probe.get();
        if (done.test(value)) {
          return value;
        }
        last = value;
      } catch (RuntimeException e) {
        last = e;
      }
      if (System.nanoTime() > deadline) {
        throw new AssertionError("Not reached within " + WAIT + ": " + what + "; last: " + last);
      }
      try {
        Thread.sleep(20);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new AssertionError("interrupted while waiting until " + what, e);
      }
    }
  }

  static ServingStatus health(ManagedChannel channel, String service) {
    return HealthGrpc.newBlockingStub(channel)
        .withDeadlineAfter(5, TimeUnit.SECONDS)
        .check(HealthCheckRequest.newBuilder().setService(service).build())
        .getStatus();
  }

  /** The ErrorInfo reason of a failed call, or "" when it has none. */
  static String reason(StatusRuntimeException e) {
    return detail(e, ErrorInfo.class).map(ErrorInfo::getReason).orElse("");
  }

  /** The first detail of type {@code type} in a failed call's google.rpc.Status. */
  static <T extends Message> Optional<T> detail(StatusRuntimeException e, Class<T> type) {
    com.google.rpc.Status status = StatusProto.fromThrowable(e);
    if (status == null) {
      return Optional.empty();
    }
    for (Any any : status.getDetailsList()) {
      if (any.is(type)) {
        try {
          return Optional.of(any.unpack(type));
        } catch (InvalidProtocolBufferException ex) {
          throw new IllegalStateException(ex);
        }
      }
    }
    return Optional.empty();
  }

  @Override
  public void close() throws IOException {
    Exception failure = null;
    while (!started.isEmpty()) {
      try {
        started.pop().close();
      } catch (Exception e) {
        if (e instanceof InterruptedException) {
          Thread.currentThread().interrupt();
        }
        if (failure == null) {
          failure = e;
        } else {
          failure.addSuppressed(e);
        }
      }
    }
    try (Stream<Path> paths = Files.walk(scratch)) {
      for (Path path : paths.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(path);
      }
    }
    if (failure != null) {
      throw new IllegalStateException("stopping the cluster failed", failure);
    }
  }

  private static void shutdown(ManagedChannel channel) throws InterruptedException {
    channel.shutdownNow();
    channel.awaitTermination(5, TimeUnit.SECONDS);
  }
}
