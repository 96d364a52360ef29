package dev.sluice.controlplane.discovery;

import static java.util.Objects.requireNonNull;

import com.google.common.util.concurrent.MoreExecutors;
import dev.sluice.controlplane.snapshot.SnapshotSource;
import dev.sluice.discovery.v1.DiscoveryServiceGrpc;
import dev.sluice.discovery.v1.LeaseQuotaRequest;
import dev.sluice.discovery.v1.LeaseQuotaResponse;
import dev.sluice.discovery.v1.StreamConfigRequest;
import dev.sluice.discovery.v1.StreamConfigResponse;
import dev.sluice.grpc.ApiException;
import dev.sluice.grpc.ErrorMapper;
import io.grpc.BindableService;
import io.grpc.MethodDescriptor;
import io.grpc.ServerMethodDefinition;
import io.grpc.ServerServiceDefinition;
import io.grpc.ServiceDescriptor;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import dev.sluice.controlplane.quota.QuotaLeaseRouter;
import dev.sluice.controlplane.snapshot.Snapshot;
import java.time.Clock;
import java.util.concurrent.Executor;
import org.jspecify.annotations.Nullable;

/**
 * {@code sluice.discovery.v1.DiscoveryService}: hands each {@code StreamConfig} call to a {@link
 * DiscoveryStream} and fans newly published snapshots out to all of them. {@code LeaseQuota}
 * (fleet-wide rate-limit shares) goes to a {@link QuotaLeaseRouter}, which answers from this
 * replica's allocator while it is the elected one and forwards to the elected one otherwise;
 * without a router it answers {@code UNAVAILABLE} so data planes keep their static shares.
 */
public final class DiscoveryServiceImpl
    implements DiscoveryServiceGrpc.AsyncService, BindableService, AutoCloseable {
  private final SnapshotSource snapshots;
  private final FleetRegistry fleet;
  private final String controlPlaneId;
  private final Executor streamExecutor;
  private final Clock clock;
  private final @Nullable QuotaLeaseRouter quotaLeases;
  private final SnapshotSource.Registration snapshotListener;
  private volatile boolean shuttingDown;

  private DiscoveryServiceImpl(
      SnapshotSource snapshots,
      FleetRegistry fleet,
      String controlPlaneId,
      Executor streamExecutor,
      Clock clock,
      @Nullable QuotaLeaseRouter quotaLeases) {
    this.snapshots = snapshots;
    this.fleet = fleet;
    this.controlPlaneId = controlPlaneId;
    this.streamExecutor = streamExecutor;
    this.clock = clock;
    this.quotaLeases = quotaLeases;
    this.snapshotListener =
        snapshots.addListener(
            s -> {
              fleet.snapshotPublished();
              if (quotaLeases != null) {
                quotaLeases.apply(s.proto());
              }
            });
    Snapshot current = snapshots.current();
    if (quotaLeases != null && current != null) {
      quotaLeases.apply(current.proto());
    }
  }

  /**
   * A service serving {@code snapshots} and reporting nodes to {@code fleet}.
   *
   * @param streamExecutor runs stream events; each stream serializes its own on top of it
   */
  public static DiscoveryServiceImpl create(
      SnapshotSource snapshots,
      FleetRegistry fleet,
      String controlPlaneId,
      Executor streamExecutor,
      Clock clock) {
    return create(snapshots, fleet, controlPlaneId, streamExecutor, clock, null);
  }

  /**
   * As {@link #create(SnapshotSource, FleetRegistry, String, Executor, Clock)}, answering {@code
   * LeaseQuota} through {@code quotaLeases} (kept in step with every published snapshot).
   */
  public static DiscoveryServiceImpl create(
      SnapshotSource snapshots,
      FleetRegistry fleet,
      String controlPlaneId,
      Executor streamExecutor,
      Clock clock,
      @Nullable QuotaLeaseRouter quotaLeases) {
    return new DiscoveryServiceImpl(
        requireNonNull(snapshots, "snapshots"),
        requireNonNull(fleet, "fleet"),
        requireNonNull(controlPlaneId, "controlPlaneId"),
        requireNonNull(streamExecutor, "streamExecutor"),
        requireNonNull(clock, "clock"),
        quotaLeases);
  }

  @Override
  public StreamObserver<StreamConfigRequest> streamConfig(
      StreamObserver<StreamConfigResponse> responseObserver) {
    var call = (ServerCallStreamObserver<StreamConfigResponse>) responseObserver;
    if (shuttingDown) {
      call.onError(
          ErrorMapper.toStatusRuntimeException(
              ApiException.builder(Status.Code.UNAVAILABLE, "SHUTTING_DOWN")
                  .message("this control-plane replica is shutting down; connect to another")
                  .build()));
      return NoopObserver.INSTANCE;
    }
    if (snapshots.current() == null) {
      // Not ready (no config read from the store yet, e.g. etcd unreachable at start): the node
      // keeps its last good config and tries again, here or at another replica.
      call.onError(
          ErrorMapper.toStatusRuntimeException(
              ApiException.builder(Status.Code.UNAVAILABLE, "NOT_READY")
                  .message("this control-plane replica has no config snapshot yet")
                  .retryAfter(java.time.Duration.ofSeconds(1))
                  .build()));
      return NoopObserver.INSTANCE;
    }
    DiscoveryStream stream =
        new DiscoveryStream(
            call,
            MoreExecutors.newSequentialExecutor(streamExecutor),
            snapshots,
            fleet,
            controlPlaneId,
            clock);
    call.disableAutoRequest();
    call.setOnReadyHandler(stream::onReady);
    call.setOnCancelHandler(stream::onCancel);
    fleet.streamOpened(stream);
    call.request(1);
    return stream;
  }

  @Override
  public void leaseQuota(
      LeaseQuotaRequest request, StreamObserver<LeaseQuotaResponse> responseObserver) {
    if (quotaLeases == null) {
      throw ApiException.builder(Status.Code.UNAVAILABLE, QuotaLeaseRouter.ALLOCATOR_UNAVAILABLE)
          .message("this control-plane replica does not allocate quota; keep static shares")
          .retryAfter(java.time.Duration.ofSeconds(1))
          .build();
    }
    // A local grant is cheap (one lock for one node's report, about once a second per node) and
    // done inline; a forward completes asynchronously.
    quotaLeases.lease(request, responseObserver);
  }

  /**
   * The service definition, with {@code StreamConfig} responses encoded by {@link
   * SnapshotResponseMarshaller} so that a snapshot is encoded once for all streams.
   */
  @Override
  public ServerServiceDefinition bindService() {
    ServerServiceDefinition generated = DiscoveryServiceGrpc.bindService(this);
    ServiceDescriptor descriptor = generated.getServiceDescriptor();
    ServiceDescriptor.Builder service =
        ServiceDescriptor.newBuilder(descriptor.getName())
            .setSchemaDescriptor(descriptor.getSchemaDescriptor());
    java.util.List<ServerMethodDefinition<?, ?>> methods = new java.util.ArrayList<>();
    for (ServerMethodDefinition<?, ?> method : generated.getMethods()) {
      if (method.getMethodDescriptor().getFullMethodName()
          .equals(DiscoveryServiceGrpc.getStreamConfigMethod().getFullMethodName())) {
        method = withCachedSnapshots(castStreamConfig(method));
      }
      if (method.getMethodDescriptor().getFullMethodName()
          .equals(DiscoveryServiceGrpc.getLeaseQuotaMethod().getFullMethodName())) {
        method = markingForwardedCalls(method);
      }
      service.addMethod(method.getMethodDescriptor());
      methods.add(method);
    }
    ServerServiceDefinition.Builder definition = ServerServiceDefinition.builder(service.build());
    methods.forEach(definition::addMethod);
    return definition.build();
  }

  private ServerMethodDefinition<StreamConfigRequest, StreamConfigResponse> withCachedSnapshots(
      ServerMethodDefinition<StreamConfigRequest, StreamConfigResponse> method) {
    MethodDescriptor<StreamConfigRequest, StreamConfigResponse> descriptor =
        method.getMethodDescriptor();
    return ServerMethodDefinition.create(
        descriptor.toBuilder(
                descriptor.getRequestMarshaller(), new SnapshotResponseMarshaller(snapshots))
            .build(),
        method.getServerCallHandler());
  }

  /** Lets the router tell calls forwarded by another replica from data planes' calls. */
  private static <ReqT, RespT> ServerMethodDefinition<ReqT, RespT> markingForwardedCalls(
      ServerMethodDefinition<ReqT, RespT> method) {
    return method.withServerCallHandler(
        QuotaLeaseRouter.markingForwardedCalls(method.getServerCallHandler()));
  }

  @SuppressWarnings("unchecked")
  private static ServerMethodDefinition<StreamConfigRequest, StreamConfigResponse> castStreamConfig(
      ServerMethodDefinition<?, ?> method) {
    return (ServerMethodDefinition<StreamConfigRequest, StreamConfigResponse>) method;
  }

  /** Refuses new streams and ends open ones with UNAVAILABLE, so nodes move to another replica. */
  @Override
  public void close() {
    shuttingDown = true;
    snapshotListener.close();
    fleet.closeAll(
        Status.UNAVAILABLE.withDescription(
            "control-plane replica " + controlPlaneId + " is shutting down"));
  }

  private enum NoopObserver implements StreamObserver<StreamConfigRequest> {
    INSTANCE;

    @Override
    public void onNext(StreamConfigRequest value) {}

    @Override
    public void onError(Throwable t) {}

    @Override
    public void onCompleted() {}
  }
}
