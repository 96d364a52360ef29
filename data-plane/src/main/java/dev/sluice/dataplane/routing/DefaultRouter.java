package dev.sluice.dataplane.routing;

import static java.util.Objects.requireNonNull;

import dev.sluice.dataplane.metrics.GatewayMetrics;
import dev.sluice.dataplane.provider.ChatCall;
import dev.sluice.dataplane.provider.EmbedCall;
import dev.sluice.dataplane.provider.ProviderAdapter;
import dev.sluice.inference.v1.ChatRequest;
import dev.sluice.inference.v1.ChatResponse;
import dev.sluice.inference.v1.ChatStarted;
import dev.sluice.inference.v1.EmbedRequest;
import dev.sluice.inference.v1.EmbedResponse;
import io.grpc.Deadline;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ScheduledExecutorService;
import java.util.function.LongSupplier;
import java.util.function.Supplier;
import java.util.logging.Logger;
import java.util.random.RandomGenerator;
import org.jspecify.annotations.Nullable;

/** The {@link Router}: plans each request, then works through it in an {@link Exchange}. */
final class DefaultRouter implements Router {
  static final Logger logger = Logger.getLogger(Router.class.getName());

  private final ProviderLookup providers;
  private final ScheduledExecutorService scheduler;
  private final GatewayMetrics metrics;
  private final Supplier<? extends RandomGenerator> random;
  private final LongSupplier nanoTime;

  /**
   * @param random the random source for weighted choices and jitter, fetched per use (a seeded
   *     generator in tests, {@code ThreadLocalRandom::current} otherwise)
   * @param nanoTime the monotonic clock, {@code System::nanoTime} outside tests
   */
  DefaultRouter(
      ProviderLookup providers,
      ScheduledExecutorService scheduler,
      GatewayMetrics metrics,
      Supplier<? extends RandomGenerator> random,
      LongSupplier nanoTime) {
    this.providers = requireNonNull(providers, "providers");
    this.scheduler = requireNonNull(scheduler, "scheduler");
    this.metrics = requireNonNull(metrics, "metrics");
    this.random = requireNonNull(random, "random");
    this.nanoTime = requireNonNull(nanoTime, "nanoTime");
  }

  @Override
  public CompletableFuture<ChatResponse> chat(
      RouteTable table, ModelEntry model, ChatRequest request, RoutingContext context) {
    RoutePlan plan = RoutePlan.of(table, model, context, request.getEndUser(), random());
    UnaryExchange<ChatResponse> exchange =
        new UnaryExchange<>(
            this,
            plan,
            context,
            model,
            new UnaryExchange.Operation<>() {
              @Override
              public CompletableFuture<ChatResponse> call(
                  ProviderAdapter adapter,
                  Endpoint endpoint,
                  Destination destination,
                  @Nullable Deadline deadline) {
                return adapter.chat(
                    new ChatCall(
                        withModelDefaults(request, destination.model()),
                        endpoint.target(),
                        deadline,
                        context.requestId()));
              }

              @Override
              public ChatResponse complete(
                  ChatResponse response, Endpoint endpoint, Destination destination) {
                ChatResponse.Builder b =
                    response.toBuilder()
                        .setRequestId(context.requestId())
                        .setModel(model.name())
                        .setModelVersion(destination.version().name())
                        .setProvider(provider(endpoint))
                        .setBackend(endpoint.backendName())
                        .setCreateTime(context.createTime());
                if (b.getId().isEmpty()) {
                  b.setId("sluice-" + context.requestId());
                }
                if (b.getProviderModel().isEmpty()) {
                  b.setProviderModel(endpoint.target().upstreamModel());
                }
                return b.build();
              }
            });
    exchange.start();
    return exchange.result();
  }

  @Override
  public RoutedStream streamChat(
      RouteTable table,
      ModelEntry model,
      ChatRequest request,
      RoutingContext context,
      ChatStreamSink sink) {
    RoutePlan plan = RoutePlan.of(table, model, context, request.getEndUser(), random());
    StreamExchange exchange = new StreamExchange(this, plan, context, model, request, sink);
    exchange.start();
    return exchange;
  }

  @Override
  public CompletableFuture<EmbedResponse> embed(
      RouteTable table, ModelEntry model, EmbedRequest request, RoutingContext context) {
    RoutePlan plan = RoutePlan.of(table, model, context, request.getEndUser(), random());
    UnaryExchange<EmbedResponse> exchange =
        new UnaryExchange<>(
            this,
            plan,
            context,
            model,
            new UnaryExchange.Operation<>() {
              @Override
              public CompletableFuture<EmbedResponse> call(
                  ProviderAdapter adapter,
                  Endpoint endpoint,
                  Destination destination,
                  @Nullable Deadline deadline) {
                return adapter.embed(
                    new EmbedCall(request, endpoint.target(), deadline, context.requestId()));
              }

              @Override
              public EmbedResponse complete(
                  EmbedResponse response, Endpoint endpoint, Destination destination) {
                EmbedResponse.Builder b =
                    response.toBuilder()
                        .setRequestId(context.requestId())
                        .setModel(model.name())
                        .setModelVersion(destination.version().name())
                        .setProvider(provider(endpoint))
                        .setBackend(endpoint.backendName());
                if (b.getProviderModel().isEmpty()) {
                  b.setProviderModel(endpoint.target().upstreamModel());
                }
                return b.build();
              }
            });
    exchange.start();
    return exchange.result();
  }

  /** {@code started} as the client sees it: the provider's fields plus the gateway's. */
  ChatStarted completeStarted(
      ChatStarted provided,
      RoutingContext context,
      ModelEntry requested,
      Destination destination,
      Endpoint endpoint) {
    ChatStarted.Builder b =
        provided.toBuilder()
            .setRequestId(context.requestId())
            .setModel(requested.name())
            .setModelVersion(destination.version().name())
            .setProvider(provider(endpoint))
            .setBackend(endpoint.backendName())
            .setCreateTime(context.createTime());
    if (b.getId().isEmpty()) {
      b.setId("sluice-" + context.requestId());
    }
    if (b.getProviderModel().isEmpty()) {
      b.setProviderModel(endpoint.target().upstreamModel());
    }
    return b.build();
  }

  /**
   * The request as sent to a destination's model: an unset {@code max_output_tokens} becomes the
   * model's configured maximum, as ChatRequest documents ("unset means the model's configured
   * maximum").
   */
  static ChatRequest withModelDefaults(ChatRequest request, ModelEntry model) {
    int max = model.model().getMaxOutputTokens();
    if (request.hasMaxOutputTokens() || max <= 0) {
      return request;
    }
    return request.toBuilder().setMaxOutputTokens(max).build();
  }

  private static String provider(Endpoint endpoint) {
    return BackendEntry.providerName(endpoint.target().backend().getKind());
  }

  ProviderLookup providers() {
    return providers;
  }

  ScheduledExecutorService scheduler() {
    return scheduler;
  }

  GatewayMetrics metrics() {
    return metrics;
  }

  RandomGenerator random() {
    return random.get();
  }

  long nanoTime() {
    return nanoTime.getAsLong();
  }
}
