package dev.sluice.dataplane.routing;

import dev.sluice.dataplane.metrics.GatewayMetrics;
import dev.sluice.inference.v1.ChatRequest;
import dev.sluice.inference.v1.ChatResponse;
import dev.sluice.inference.v1.EmbedRequest;
import dev.sluice.inference.v1.EmbedResponse;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Sends a request for a model to a backend: matches a route, picks a destination by weight (or
 * stickiness), balances over the destination version's backends, and runs attempts with retries,
 * fallbacks and timeouts as the route says.
 *
 * <p>No attempt is ever started after output reached the client: a stream commits to its backend
 * when the upstream's {@code started} event arrives, and a unary call has no partial output.
 * Failures the router does not recover from reach the caller as {@link
 * dev.sluice.grpc.ApiException}s.
 *
 * <p>Every method returns at once; work continues on the upstream's and the scheduler's threads.
 * Nothing blocks.
 */
public interface Router {
  /**
   * One chat completion. The response carries the request id, the canonical model name, the
   * version, backend and provider that served it. Cancelling the returned future cancels the
   * attempt in flight.
   */
  CompletableFuture<ChatResponse> chat(
      RouteTable table, ModelEntry model, ChatRequest request, RoutingContext context);

  /**
   * A streamed chat completion, delivered to {@code sink}. The first event is a {@code started}
   * completed with the model, version, backend, provider, request id and create time.
   */
  RoutedStream streamChat(
      RouteTable table,
      ModelEntry model,
      ChatRequest request,
      RoutingContext context,
      ChatStreamSink sink);

  /** One embeddings call; cancelling the returned future cancels the attempt in flight. */
  CompletableFuture<EmbedResponse> embed(
      RouteTable table, ModelEntry model, EmbedRequest request, RoutingContext context);

  /**
   * A router calling adapters from {@code providers}, scheduling timeouts and retry backoffs on
   * {@code scheduler} (typically the shared event loops) and reporting to {@code metrics}.
   */
  static Router create(
      ProviderLookup providers, ScheduledExecutorService scheduler, GatewayMetrics metrics) {
    return new DefaultRouter(
        providers, scheduler, metrics, ThreadLocalRandom::current, System::nanoTime);
  }
}
