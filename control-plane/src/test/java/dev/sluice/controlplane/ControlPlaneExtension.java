package dev.sluice.controlplane;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Any;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import com.google.rpc.ErrorInfo;
import dev.sluice.admin.v1.AdminServiceGrpc;
import dev.sluice.controlplane.store.ConfigStore;
import dev.sluice.discovery.v1.DiscoveryServiceGrpc;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.protobuf.StatusProto;
import io.grpc.stub.MetadataUtils;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * A real control plane per test: an embedded store in a temporary directory and the gRPC server
 * on an ephemeral loopback port, with a plaintext channel to it. Everything is stopped and deleted
 * after each test.
 */
public final class ControlPlaneExtension implements BeforeEachCallback, AfterEachCallback {
  public static final String ADMIN_TOKEN = "test-admin-token-0123456789";
  public static final String PRINCIPAL = "ci-bot";

  private final Duration quiet;
  private final Duration max;
  private Path dir;
  private ConfigStore store;
  private ControlPlane controlPlane;
  private ManagedChannel channel;

  private ControlPlaneExtension(Duration quiet, Duration max) {
    this.quiet = quiet;
    this.max = max;
  }

  /** A control plane that builds snapshots within about 20 ms of a change. */
  public static ControlPlaneExtension create() {
    return new ControlPlaneExtension(Duration.ofMillis(10), Duration.ofMillis(50));
  }

  @Override
  public void beforeEach(ExtensionContext context) throws Exception {
    dir = Files.createTempDirectory("sluice-cp-test-");
    store = ConfigStore.embedded(dir.resolve("store"));
    controlPlane =
        ControlPlane.builder()
            .listenAddress(new InetSocketAddress("127.0.0.1", 0))
            .store(store)
            .adminTokens(Map.of(PRINCIPAL, ADMIN_TOKEN))
            .controlPlaneId("cp-test")
            .debounce(quiet, max)
            .build();
    controlPlane.start();
    assertThat(controlPlane.awaitReady(Duration.ofSeconds(10))).isTrue();
    channel = NettyChannelBuilder.forAddress("127.0.0.1", controlPlane.port()).usePlaintext().build();
  }

  @Override
  public void afterEach(ExtensionContext context) throws Exception {
    if (channel != null) {
      channel.shutdownNow();
      channel.awaitTermination(5, TimeUnit.SECONDS);
    }
    if (controlPlane != null) {
      controlPlane.close();
    }
    if (store != null) {
      store.close();
    }
    if (dir != null) {
      try (Stream<Path> paths = Files.walk(dir)) {
        paths.sorted(Comparator.reverseOrder()).forEach(ControlPlaneExtension::delete);
      }
    }
  }

  public ControlPlane controlPlane() {
    return controlPlane;
  }

  public ConfigStore store() {
    return store;
  }

  public ManagedChannel channel() {
    return channel;
  }

  /** An admin stub carrying the admin token, with a 10 s deadline per call. */
  public AdminServiceGrpc.AdminServiceBlockingStub admin() {
    return adminWith("Bearer " + ADMIN_TOKEN);
  }

  /** An admin stub sending {@code authorization} as given (null: no header). */
  public AdminServiceGrpc.AdminServiceBlockingStub adminWith(String authorization) {
    AdminServiceGrpc.AdminServiceBlockingStub stub =
        AdminServiceGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS);
    if (authorization == null) {
      return stub;
    }
    Metadata headers = new Metadata();
    headers.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), authorization);
    return stub.withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers));
  }

  public AdminServiceGrpc.AdminServiceStub adminAsync() {
    Metadata headers = new Metadata();
    headers.put(
        Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + ADMIN_TOKEN);
    return AdminServiceGrpc.newStub(channel)
        .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers));
  }

  public DiscoveryServiceGrpc.DiscoveryServiceStub discovery() {
    return DiscoveryServiceGrpc.newStub(channel);
  }

  // ---- error inspection

  /** The ErrorInfo reason of a failed call. */
  public static String reason(StatusRuntimeException e) {
    return detail(e, ErrorInfo.class).map(ErrorInfo::getReason).orElse("");
  }

  /** The first detail of type {@code type} in a failed call's google.rpc.Status. */
  public static <T extends Message> Optional<T> detail(StatusRuntimeException e, Class<T> type) {
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

  private static void delete(Path path) {
    try {
      Files.deleteIfExists(path);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
