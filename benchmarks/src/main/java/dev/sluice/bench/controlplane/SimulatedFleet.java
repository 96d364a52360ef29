package dev.sluice.bench.controlplane;

import dev.sluice.discovery.v1.ConfigSource;
import dev.sluice.discovery.v1.DiscoveryServiceGrpc;
import dev.sluice.discovery.v1.Node;
import dev.sluice.discovery.v1.StreamConfigRequest;
import io.grpc.CallOptions;
import io.grpc.ClientCall;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.protobuf.ProtoUtils;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioSocketChannel;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

/**
 * N simulated data planes, each one {@code StreamConfig} stream, spread over a few HTTP/2
 * connections. A stream subscribes as a fresh node and acknowledges every response at once with the
 * response's version and nonce and the snapshot's digest, which is what a data plane does once it
 * serves a snapshot; it never NACKs.
 */
final class SimulatedFleet implements AutoCloseable {
  private static final MethodDescriptor<StreamConfigRequest, ConfigPush> METHOD =
      DiscoveryServiceGrpc.getStreamConfigMethod().toBuilder(
              ProtoUtils.marshaller(StreamConfigRequest.getDefaultInstance()),
              ConfigPush.MARSHALLER)
          .build();

  private final EventLoopGroup group;
  private final List<ManagedChannel> channels = new ArrayList<>();
  private final Convergence convergence;
  final LongAdder pushes = new LongAdder();
  final LongAdder snapshotBytes = new LongAdder();
  final LongAdder failedStreams = new LongAdder();
  final AtomicLong lastFailure = new AtomicLong();

  private SimulatedFleet(InetSocketAddress address, int streams, int connections, String runId) {
    group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
    convergence = new Convergence(streams);
    for (int c = 0; c < connections; c++) {
      channels.add(
          NettyChannelBuilder.forAddress(address)
              .usePlaintext()
              .directExecutor()
              .eventLoopGroup(group)
              .channelType(NioSocketChannel.class)
              .maxInboundMessageSize(256 << 20)
              .build());
    }
    for (int i = 0; i < streams; i++) {
      open(i, channels.get(i % connections), runId);
    }
  }

  /** Opens {@code streams} streams to the control plane at {@code address}. */
  static SimulatedFleet open(
      InetSocketAddress address, int streams, int connections, String runId) {
    return new SimulatedFleet(address, streams, Math.max(1, Math.min(connections, streams)), runId);
  }

  Convergence convergence() {
    return convergence;
  }

  private void open(int i, ManagedChannel channel, String runId) {
    ClientCall<StreamConfigRequest, ConfigPush> call = channel.newCall(METHOD, CallOptions.DEFAULT);
    Node node =
        Node.newBuilder()
            .setId("bench-" + runId + "-" + i)
            .setCluster("bench")
            .setBuildVersion("bench")
            .setZone("zone-" + (i % 3))
            .build();
    call.start(
        new ClientCall.Listener<>() {
          @Override
          public void onMessage(ConfigPush push) {
            pushes.increment();
            snapshotBytes.add(push.snapshotBytes());
            // Applied and serving: acknowledge at once, as the data plane does after its swap.
            long now = System.nanoTime();
            call.sendMessage(
                StreamConfigRequest.newBuilder()
                    .setVersionInfo(push.versionInfo())
                    .setResponseNonce(push.nonce())
                    .setAppliedDigest(push.digest())
                    .setConfigSource(ConfigSource.CONFIG_SOURCE_CONTROL_PLANE)
                    .build());
            convergence.acked(i, push.version(), now);
            call.request(1);
          }

          @Override
          public void onClose(Status status, Metadata trailers) {
            if (!status.isOk() && status.getCode() != Status.Code.CANCELLED) {
              failedStreams.increment();
              lastFailure.set(System.nanoTime());
            }
          }
        },
        new Metadata());
    call.request(1);
    call.sendMessage(
        StreamConfigRequest.newBuilder()
            .setNode(node)
            .setConfigSource(ConfigSource.CONFIG_SOURCE_NONE)
            .build());
  }

  @Override
  public void close() {
    // shutdownNow cancels every stream on the channels' own threads (ClientCall is not
    // thread-safe).
    for (ManagedChannel ch : channels) {
      ch.shutdownNow();
    }
    for (ManagedChannel ch : channels) {
      try {
        ch.awaitTermination(5, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        break;
      }
    }
    group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
  }
}
