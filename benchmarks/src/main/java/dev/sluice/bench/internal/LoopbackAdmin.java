package dev.sluice.bench.internal;

import dev.sluice.admin.v1.AdminServiceGrpc;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.MetadataUtils;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * A session with the admin API of a control plane on 127.0.0.1, authenticated with an admin
 * token: how a benchmark applies its config. Close it when done (its channel is shut down).
 */
public final class LoopbackAdmin implements AutoCloseable {
  private static final Metadata.Key<String> AUTHORIZATION =
      Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

  private final ManagedChannel channel;
  private final AdminServiceGrpc.AdminServiceBlockingStub admin;

  private LoopbackAdmin(int port, String adminToken) {
    channel =
        NettyChannelBuilder.forAddress(new InetSocketAddress("127.0.0.1", port))
            .usePlaintext()
            .build();
    Metadata headers = new Metadata();
    headers.put(AUTHORIZATION, "Bearer " + adminToken);
    admin =
        AdminServiceGrpc.newBlockingStub(channel)
            .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers));
  }

  /** Connects (lazily, on the first call) to the admin API on {@code port}. */
  public static LoopbackAdmin connect(int port, String adminToken) {
    return new LoopbackAdmin(port, adminToken);
  }

  /** The admin stub for one call that must end within {@code deadline}. */
  public AdminServiceGrpc.AdminServiceBlockingStub within(Duration deadline) {
    return admin.withDeadlineAfter(deadline.toMillis(), TimeUnit.MILLISECONDS);
  }

  @Override
  public void close() throws InterruptedException {
    channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
  }
}
