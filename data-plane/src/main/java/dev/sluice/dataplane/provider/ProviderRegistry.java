package dev.sluice.dataplane.provider;

import static java.util.Objects.requireNonNull;

import dev.sluice.config.v1.Backend;
import dev.sluice.config.v1.BackendKind;
import dev.sluice.dataplane.provider.anthropic.AnthropicProvider;
import dev.sluice.dataplane.provider.gemini.GeminiProvider;
import dev.sluice.dataplane.provider.grpc.SluiceGrpcProvider;
import dev.sluice.dataplane.provider.http.HttpUpstreamClient;
import dev.sluice.dataplane.provider.http.TlsContexts;
import dev.sluice.dataplane.provider.mock.MockProvider;
import dev.sluice.dataplane.provider.openai.OpenAiProvider;
import io.netty.channel.Channel;
import io.netty.channel.EventLoopGroup;
import java.util.EnumMap;
import java.util.Map;

/**
 * The provider adapters of one data plane, one per {@link BackendKind}, sharing one upstream HTTP
 * client (connection pools), one set of TLS contexts and the data plane's {@link SecretResolver}.
 *
 * <p>Created once at startup on the data plane's event loop group (the one its gRPC server uses,
 * so an upstream call runs on the loop its downstream call arrived on), looked up per call with
 * {@link #forBackend}, closed at shutdown. Thread-safe; lookups are a map read.
 *
 * <pre>{@code
 * ProviderRegistry providers =
 *     ProviderRegistry.create(group, NioSocketChannel.class, SecretResolver.fromEnvironment());
 * ProviderAdapter adapter = providers.forBackend(backend);
 * UpstreamStream stream = adapter.streamChat(call, listener);
 * }</pre>
 */
public final class ProviderRegistry implements AutoCloseable {
  private final HttpUpstreamClient http;
  private final Map<BackendKind, ProviderAdapter> adapters = new EnumMap<>(BackendKind.class);

  private ProviderRegistry(
      HttpUpstreamClient http,
      EventLoopGroup group,
      Class<? extends Channel> channelType,
      SecretResolver secrets) {
    this.http = http;
    TlsContexts tls = new TlsContexts();
    for (BackendKind kind :
        new BackendKind[] {BackendKind.BACKEND_KIND_OPENAI, BackendKind.BACKEND_KIND_OPENAI_COMPATIBLE}) {
      adapters.put(kind, OpenAiProvider.create(kind, http, secrets, tls));
    }
    adapters.put(BackendKind.BACKEND_KIND_ANTHROPIC, AnthropicProvider.create(http, secrets, tls));
    adapters.put(BackendKind.BACKEND_KIND_GEMINI, GeminiProvider.create(http, secrets, tls));
    adapters.put(BackendKind.BACKEND_KIND_MOCK, MockProvider.create(group));
    adapters.put(
        BackendKind.BACKEND_KIND_SLUICE_GRPC, SluiceGrpcProvider.create(group, channelType, secrets));
  }

  /**
   * Creates the registry.
   *
   * @param group the event loops upstream connections and mock streams run on; not closed by
   *     {@link #close()}
   * @param channelType the socket channel class matching {@code group}, e.g. {@code
   *     NioSocketChannel.class} or {@code EpollSocketChannel.class}
   * @param secrets resolves backend credentials
   */
  public static ProviderRegistry create(
      EventLoopGroup group, Class<? extends Channel> channelType, SecretResolver secrets) {
    requireNonNull(group, "group");
    requireNonNull(channelType, "channelType");
    requireNonNull(secrets, "secrets");
    return new ProviderRegistry(
        HttpUpstreamClient.create(group, channelType), group, channelType, secrets);
  }

  /** Whether backends of {@code kind} can be served. */
  public boolean supports(BackendKind kind) {
    return adapters.containsKey(kind);
  }

  /**
   * The adapter for {@code kind}.
   *
   * @throws UpstreamException {@code MISCONFIGURED} for a kind without an adapter (yet)
   */
  public ProviderAdapter forKind(BackendKind kind) {
    return lookup(kind, "");
  }

  /**
   * The adapter for {@code backend}'s kind.
   *
   * @throws UpstreamException {@code MISCONFIGURED}, naming the backend, for a kind without an
   *     adapter (yet)
   */
  public ProviderAdapter forBackend(Backend backend) {
    return lookup(backend.getKind(), backend.getName());
  }

  private ProviderAdapter lookup(BackendKind kind, String backend) {
    ProviderAdapter adapter = adapters.get(kind);
    if (adapter == null) {
      throw new UpstreamException(
          UpstreamFailure.MISCONFIGURED, backend, 0, null,
          "backend kind " + kind + " is not supported by this data plane", null);
    }
    return adapter;
  }

  /** Closes all upstream connections and channels. In-flight calls fail. */
  @Override
  public void close() {
    http.close();
    for (ProviderAdapter adapter : adapters.values()) {
      if (adapter instanceof AutoCloseable closeable) {
        try {
          closeable.close();
        } catch (Exception e) {
          // closing is best effort at shutdown; nothing useful to do with the failure
        }
      }
    }
  }
}
