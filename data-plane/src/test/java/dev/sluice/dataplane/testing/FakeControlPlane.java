package dev.sluice.dataplane.testing;

import dev.sluice.config.v1.ConfigSnapshot;
import dev.sluice.discovery.v1.DiscoveryServiceGrpc;
import dev.sluice.discovery.v1.LeaseQuotaRequest;
import dev.sluice.discovery.v1.LeaseQuotaResponse;
import dev.sluice.discovery.v1.StreamConfigRequest;
import dev.sluice.discovery.v1.StreamConfigResponse;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.jspecify.annotations.Nullable;

/**
 * A control plane for tests: a real gRPC server on loopback implementing StreamConfig. It records
 * every request the node sends and lets the test decide each response. It records LeaseQuota
 * requests too, and answers them UNIMPLEMENTED, as a control plane that leases no shares yet.
 */
public final class FakeControlPlane implements AutoCloseable {
  private final String id;
  private final Server server;
  private final BlockingQueue<StreamConfigRequest> requests = new LinkedBlockingQueue<>();
  private final BlockingQueue<LeaseQuotaRequest> leaseRequests = new LinkedBlockingQueue<>();
  private final AtomicReference<@Nullable StreamObserver<StreamConfigResponse>> stream =
      new AtomicReference<>();
  private final AtomicInteger nonces = new AtomicInteger();
  private final AtomicInteger streamsOpened = new AtomicInteger();

  public FakeControlPlane(String id) throws IOException {
    this.id = id;
    this.server =
        NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
            .addService(new Service())
            .build()
            .start();
  }

  public String target() {
    return "127.0.0.1:" + server.getPort();
  }

  public int streamsOpened() {
    return streamsOpened.get();
  }

  /** The next request the node sent, waiting up to {@code timeout}. */
  public StreamConfigRequest nextRequest(Duration timeout) throws InterruptedException {
    StreamConfigRequest request = requests.poll(timeout.toMillis(), TimeUnit.MILLISECONDS);
    if (request == null) {
      throw new AssertionError(id + ": no request from the node within " + timeout);
    }
    return request;
  }

  /** The next LeaseQuota request the node sent, waiting up to {@code timeout}. */
  public LeaseQuotaRequest nextLeaseRequest(Duration timeout) throws InterruptedException {
    LeaseQuotaRequest request = leaseRequests.poll(timeout.toMillis(), TimeUnit.MILLISECONDS);
    if (request == null) {
      throw new AssertionError(id + ": no LeaseQuota request from the node within " + timeout);
    }
    return request;
  }

  /** Whether the node sends nothing more within {@code timeout}. */
  public boolean quietFor(Duration timeout) throws InterruptedException {
    return requests.poll(timeout.toMillis(), TimeUnit.MILLISECONDS) == null;
  }

  /** Sends {@code snapshot} at {@code versionInfo} on the open stream; returns the nonce. */
  public String send(String versionInfo, @Nullable ConfigSnapshot snapshot) {
    String nonce = id + "-" + nonces.incrementAndGet();
    StreamConfigResponse.Builder response =
        StreamConfigResponse.newBuilder()
            .setVersionInfo(versionInfo)
            .setNonce(nonce)
            .setControlPlaneId(id);
    if (snapshot != null) {
      response.setSnapshot(snapshot);
    }
    StreamObserver<StreamConfigResponse> s = stream.get();
    if (s == null) {
      throw new AssertionError(id + ": no stream open");
    }
    synchronized (s) {
      s.onNext(response.build());
    }
    return nonce;
  }

  @Override
  public void close() {
    server.shutdownNow();
    try {
      server.awaitTermination(5, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private final class Service extends DiscoveryServiceGrpc.DiscoveryServiceImplBase {
    @Override
    public void leaseQuota(
        LeaseQuotaRequest request, StreamObserver<LeaseQuotaResponse> responseObserver) {
      leaseRequests.add(request);
      responseObserver.onError(
          Status.UNIMPLEMENTED.withDescription(id + " leases no shares").asRuntimeException());
    }

    @Override
    public StreamObserver<StreamConfigRequest> streamConfig(
        StreamObserver<StreamConfigResponse> responses) {
      stream.set(responses);
      streamsOpened.incrementAndGet();
      return new StreamObserver<>() {
        @Override
        public void onNext(StreamConfigRequest request) {
          requests.add(request);
        }

        @Override
        public void onError(Throwable t) {
          stream.compareAndSet(responses, null);
        }

        @Override
        public void onCompleted() {
          stream.compareAndSet(responses, null);
        }
      };
    }
  }
}
