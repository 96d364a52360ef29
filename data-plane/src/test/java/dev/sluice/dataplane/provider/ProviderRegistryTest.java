package dev.sluice.dataplane.provider;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.config.v1.Backend;
import dev.sluice.config.v1.BackendKind;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioSocketChannel;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class ProviderRegistryTest {
  private EventLoopGroup group;
  private ProviderRegistry registry;

  @BeforeEach
  void start() {
    group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
    registry = ProviderRegistry.create(group, NioSocketChannel.class, SecretResolver.fromEnvironment());
  }

  @AfterEach
  void stop() {
    registry.close();
    group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
  }

  @ParameterizedTest
  @EnumSource(
      value = BackendKind.class,
      names = {"BACKEND_KIND_OPENAI", "BACKEND_KIND_OPENAI_COMPATIBLE", "BACKEND_KIND_ANTHROPIC", "BACKEND_KIND_GEMINI", "BACKEND_KIND_SLUICE_GRPC", "BACKEND_KIND_MOCK"})
  void servesEachSupportedKindWithAnAdapterOfThatKind(BackendKind kind) {
    assertThat(registry.supports(kind)).isTrue();
    assertThat(registry.forKind(kind).kind()).isEqualTo(kind);
    assertThat(registry.forBackend(Backend.newBuilder().setName("b").setKind(kind).build()).kind())
        .isEqualTo(kind);
  }

  @Test
  void anUnsupportedKindIsMisconfiguredAndNamesTheBackend() {
    Backend backend = Backend.newBuilder().setName("nowhere").setKind(BackendKind.BACKEND_KIND_UNSPECIFIED).build();

    assertThat(registry.supports(BackendKind.BACKEND_KIND_UNSPECIFIED)).isFalse();
    assertThatThrownBy(() -> registry.forBackend(backend))
        .isInstanceOfSatisfying(
            UpstreamException.class,
            e -> {
              assertThat(e.failure()).isEqualTo(UpstreamFailure.MISCONFIGURED);
              assertThat(e.backend()).isEqualTo("nowhere");
            });
  }
}
