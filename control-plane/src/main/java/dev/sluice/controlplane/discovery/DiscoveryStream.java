package dev.sluice.controlplane.discovery;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.util.Timestamps;
import dev.sluice.admin.v1.NodeStatus;
import dev.sluice.admin.v1.NodeSyncState;
import dev.sluice.controlplane.snapshot.Snapshot;
import dev.sluice.controlplane.snapshot.SnapshotSource;
import dev.sluice.controlplane.snapshot.VersionInfo;
import dev.sluice.discovery.v1.ConfigSource;
import dev.sluice.discovery.v1.Node;
import dev.sluice.discovery.v1.StreamConfigRequest;
import dev.sluice.discovery.v1.StreamConfigResponse;
import dev.sluice.grpc.ApiException;
import dev.sluice.grpc.ErrorMapper;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.time.Clock;
import java.time.Instant;
import java.util.concurrent.Executor;
import java.util.logging.Level;
import java.util.logging.Logger;
import java.util.regex.Pattern;
import org.jspecify.annotations.Nullable;

/**
 * One data plane's config stream: the xDS-style state machine of {@code StreamConfig}.
 *
 * <ul>
 *   <li>At most one response is unacknowledged at a time; while it is, newer snapshots simply
 *       wait, and the newest one is sent after the ACK or NACK (intermediate versions are
 *       skipped, which is how a lagging node gets only the newest).
 *   <li>A NACKed version is never sent again on this stream; only a newer one is.
 *   <li>A node that already serves the newest version with the same digest (for example after
 *       reconnecting to another replica) gets a response without a snapshot, which it ACKs.
 *   <li>A node is never sent a version older than the one it serves in the same epoch (this
 *       replica may lag behind the one the node came from): the stream waits until this replica
 *       catches up. Nor is a node serving a config ever sent the empty version 0 of a fresh
 *       store, which would wipe its config.
 *   <li>A request whose nonce is not the latest sent only refreshes liveness.
 * </ul>
 *
 * <p><b>Threading.</b> Every event (a request, a new snapshot, the transport becoming ready, a
 * cancellation, shutdown) runs on this stream's serial executor, so state needs no locks and the
 * response observer is called by one thread at a time. Reads from other threads go through the
 * immutable {@link Progress} published after each event. Inbound flow control is manual: the
 * next request is asked for only after the previous one was handled, so a misbehaving node cannot
 * queue unbounded work; outbound, nothing is written while the transport is not ready.
 */
final class DiscoveryStream implements StreamObserver<StreamConfigRequest> {
  private static final Logger logger = Logger.getLogger(DiscoveryStream.class.getName());
  private static final Pattern NODE_ID = Pattern.compile("[A-Za-z0-9._:-]{1,128}");

  /** What other threads may read about this stream: an immutable copy made after each event. */
  record Progress(
      Node node,
      Instant connectTime,
      Instant lastSeen,
      boolean sentAny,
      @Nullable VersionInfo sent,
      boolean awaitingAck,
      @Nullable VersionInfo served,
      ConfigSource source,
      @Nullable VersionInfo rejected,
      com.google.rpc.@Nullable Status errorDetail) {}

  private final ServerCallStreamObserver<StreamConfigResponse> responses;
  private final Executor serial;
  private final SnapshotSource snapshots;
  private final FleetRegistry registry;
  private final String controlPlaneId;
  private final Clock clock;
  private final Instant connectTime;

  // Confined to serial.
  private @Nullable Node node;
  private Instant lastSeen;
  private long nonceCounter;
  private @Nullable String sentNonce;
  private @Nullable VersionInfo sent;
  private boolean awaitingAck;
  private @Nullable VersionInfo served;
  private String servedDigest = "";
  private ConfigSource source = ConfigSource.CONFIG_SOURCE_UNSPECIFIED;
  private @Nullable VersionInfo rejected;
  private com.google.rpc.@Nullable Status errorDetail;
  private boolean closed;

  private volatile @Nullable Progress progress;

  DiscoveryStream(
      ServerCallStreamObserver<StreamConfigResponse> responses,
      Executor serial,
      SnapshotSource snapshots,
      FleetRegistry registry,
      String controlPlaneId,
      Clock clock) {
    this.responses = requireNonNull(responses, "responses");
    this.serial = requireNonNull(serial, "serial");
    this.snapshots = requireNonNull(snapshots, "snapshots");
    this.registry = requireNonNull(registry, "registry");
    this.controlPlaneId = requireNonNull(controlPlaneId, "controlPlaneId");
    this.clock = requireNonNull(clock, "clock");
    this.connectTime = clock.instant();
    this.lastSeen = connectTime;
  }

  /** The latest progress, or null before the node identified itself. */
  @Nullable Progress progress() {
    return progress;
  }

  // ---- events (any thread) → serial

  @Override
  public void onNext(StreamConfigRequest request) {
    serial.execute(
        () -> {
          if (closed) {
            return;
          }
          try {
            handle(request);
          } catch (RuntimeException e) {
            fail(e);
            return;
          }
          if (!closed) {
            responses.request(1);
          }
        });
  }

  @Override
  public void onError(Throwable t) {
    serial.execute(() -> closed(false));
  }

  @Override
  public void onCompleted() {
    serial.execute(() -> closed(true));
  }

  /** The transport can take more messages. */
  void onReady() {
    serial.execute(this::maybeSend);
  }

  /** The client cancelled or the connection broke. */
  void onCancel() {
    serial.execute(() -> closed(false));
  }

  /** A newer snapshot was published. */
  void onSnapshot() {
    serial.execute(this::maybeSend);
  }

  /** Ends the stream from the server side, for example on shutdown. */
  void close(Status status) {
    serial.execute(
        () -> {
          if (closed) {
            return;
          }
          try {
            responses.onError(status.asRuntimeException());
          } catch (RuntimeException e) {
            logger.log(Level.FINE, "Closing a discovery stream failed", e);
          }
          closed(false);
        });
  }

  // ---- serial

  private void handle(StreamConfigRequest request) {
    lastSeen = clock.instant();
    if (node == null) {
      subscribe(request);
      return;
    }
    if (sentNonce == null || !request.getResponseNonce().equals(sentNonce) || !awaitingAck) {
      // A stale or repeated nonce: liveness only (xDS).
      publishProgress();
      return;
    }
    awaitingAck = false;
    served = VersionInfo.parse(request.getVersionInfo()).orElse(null);
    servedDigest = request.getAppliedDigest();
    source = request.getConfigSource();
    if (request.hasErrorDetail()) {
      registry.nackReceived();
      rejected = sent;
      errorDetail = request.getErrorDetail();
      logger.warning(
          "Node "
              + node.getId()
              + " rejected config "
              + sent
              + " ("
              + Status.fromCodeValue(errorDetail.getCode()).getCode()
              + "): "
              + errorDetail.getMessage()
              + "; it keeps serving "
              + (served == null ? "no config" : served));
    }
    publishProgress();
    maybeSend();
  }

  private void subscribe(StreamConfigRequest request) {
    Node candidate = request.getNode();
    if (!request.hasNode() || !NODE_ID.matcher(candidate.getId()).matches()) {
      throw ApiException.invalidArgument(
          "node.id", "required: 1 to 128 characters from [A-Za-z0-9._:-]");
    }
    if (candidate.getLabelsCount() > 64
        || candidate.getCluster().length() > 128
        || candidate.getZone().length() > 128
        || candidate.getBuildVersion().length() > 128) {
      throw ApiException.invalidArgument("node", "too large: at most 64 labels, fields of 128 characters");
    }
    node = candidate;
    served = VersionInfo.parse(request.getVersionInfo()).orElse(null);
    servedDigest = request.getAppliedDigest();
    source = request.getConfigSource();
    publishProgress();
    registry.nodeIdentified(this);
    maybeSend();
  }

  private void maybeSend() {
    if (closed || node == null || awaitingAck) {
      return;
    }
    Snapshot latest = snapshots.current();
    if (latest == null || !responses.isReady()) {
      return;
    }
    boolean initial = sentNonce == null;
    VersionInfo current = new VersionInfo(latest.epoch(), latest.version());
    if (served != null && served.epoch() == latest.epoch()) {
      if (served.version() > latest.version()) {
        return; // This replica lags the node; wait for it to catch up.
      }
      if (served.version() == latest.version()) {
        if (!initial) {
          return; // Already serving the newest.
        }
        if (servedDigest.equals(latest.digest())) {
          send(current, null);
          return;
        }
      }
    }
    if (current.equals(rejected)) {
      return; // Never resend a NACKed version.
    }
    if (latest.version() == 0 && served != null) {
      return; // Never replace a node's config by the empty config of a fresh store.
    }
    if (!initial && current.equals(sent)) {
      return;
    }
    send(current, latest);
  }

  private void send(VersionInfo version, @Nullable Snapshot snapshot) {
    String nonce = Long.toString(++nonceCounter);
    StreamConfigResponse.Builder response =
        StreamConfigResponse.newBuilder()
            .setVersionInfo(version.toString())
            .setNonce(nonce)
            .setControlPlaneId(controlPlaneId);
    if (snapshot != null) {
      response.setSnapshot(snapshot.proto());
    }
    // Record the send before writing: the ACK may be handled right after onNext returns.
    sentNonce = nonce;
    sent = version;
    awaitingAck = true;
    publishProgress();
    registry.responseSent();
    try {
      responses.onNext(response.build());
    } catch (RuntimeException e) {
      // The call was cancelled under us; the cancel handler ends the stream.
      logger.log(Level.FINE, "Sending to a discovery stream failed", e);
    }
  }

  private void fail(RuntimeException e) {
    try {
      responses.onError(ErrorMapper.toStatusRuntimeException(e));
    } catch (RuntimeException ignored) {
      // Already closed.
    }
    closed(false);
  }

  private void closed(boolean completeResponses) {
    if (closed) {
      return;
    }
    closed = true;
    if (completeResponses) {
      try {
        responses.onCompleted();
      } catch (RuntimeException e) {
        logger.log(Level.FINE, "Completing a discovery stream failed", e);
      }
    }
    registry.streamClosed(this);
  }

  private void publishProgress() {
    Node n = node;
    if (n == null) {
      return;
    }
    progress =
        new Progress(
            n,
            connectTime,
            lastSeen,
            sentNonce != null,
            sent,
            awaitingAck,
            served,
            source,
            rejected,
            errorDetail);
    registry.changed();
  }

  // ---- status

  /** The admin view of {@code p}, its state judged against {@code latest}. */
  static NodeReport report(Progress p, @Nullable Snapshot latest, String controlPlaneId, boolean open) {
    NodeStatus.Builder status =
        NodeStatus.newBuilder()
            .setNode(p.node())
            .setState(open ? state(p, latest) : NodeSyncState.NODE_SYNC_STATE_DISCONNECTED)
            .setAppliedVersion(p.served() == null ? 0 : p.served().version())
            .setConfigSource(p.source())
            .setSentVersion(p.sent() == null ? 0 : p.sent().version())
            .setRejectedVersion(p.rejected() == null ? 0 : p.rejected().version())
            .setLastSeenTime(Timestamps.fromMillis(p.lastSeen().toEpochMilli()))
            .setConnectTime(Timestamps.fromMillis(p.connectTime().toEpochMilli()))
            .setControlPlaneId(controlPlaneId);
    if (p.errorDetail() != null) {
      status.setErrorDetail(p.errorDetail());
    }
    return new NodeReport(status.build(), p.served(), p.rejected());
  }

  /**
   * SYNCED when the node serves the newest version; ERROR when the newest version sent to it was
   * rejected; NOT_SENT before the first response; STALE otherwise (a newer version is on its way
   * or waiting for the transport).
   */
  static NodeSyncState state(Progress p, @Nullable Snapshot latest) {
    if (latest != null
        && p.served() != null
        && !p.awaitingAck()
        && p.served().atLeast(latest.epoch(), latest.version())) {
      return NodeSyncState.NODE_SYNC_STATE_SYNCED;
    }
    if (!p.sentAny()) {
      return NodeSyncState.NODE_SYNC_STATE_NOT_SENT;
    }
    if (p.rejected() != null && p.rejected().equals(p.sent()) && !p.awaitingAck()) {
      return NodeSyncState.NODE_SYNC_STATE_ERROR;
    }
    return NodeSyncState.NODE_SYNC_STATE_STALE;
  }
}
