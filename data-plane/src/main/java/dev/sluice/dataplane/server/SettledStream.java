package dev.sluice.dataplane.server;

import static java.util.Objects.requireNonNull;

import dev.sluice.dataplane.ratelimit.CallSettlement;
import dev.sluice.dataplane.routing.ChatStreamSink;
import dev.sluice.dataplane.routing.RoutedStream;
import dev.sluice.grpc.ApiException;
import dev.sluice.inference.v1.StreamChatResponse;
import org.jspecify.annotations.Nullable;

/**
 * Sits between the router and the client's side of one rate-limited stream and ends its
 * reservation however the stream ends: completed (the provider's usage), broken by the upstream
 * (the usage reported so far, else the estimated input plus the output seen), cancelled by the
 * client, its deadline or the server's shutdown (the estimated input plus the output seen), or
 * failed before any upstream answered (released). {@link CallSettlement} makes the first of these
 * the only one.
 *
 * <p>The call counts as having reached a provider from its {@code started} event: the router
 * emits it once an upstream accepted the request and began answering, and no attempt follows it.
 * Every failure before it is an upstream's refusal (which providers do not bill), no backend being
 * available, or a time limit reached before the first event; releasing the reservation then keeps
 * the router's retries and a provider's outage from consuming the caller's quota.
 *
 * <p>Settlement happens before the outcome is passed on, so a client that has seen its stream end
 * also sees the quota it left. A config change does not affect it: the reservation holds its own
 * buckets.
 */
final class SettledStream implements ChatStreamSink, RoutedStream {
  private final ChatStreamSink client;
  private final CallSettlement settlement;
  private volatile @Nullable RoutedStream routed;

  SettledStream(ChatStreamSink client, CallSettlement settlement) {
    this.client = requireNonNull(client, "client");
    this.settlement = requireNonNull(settlement, "settlement");
  }

  /** The routed stream that feeds this one, for cancellation and flow control. */
  void attach(RoutedStream stream) {
    this.routed = stream;
  }

  @Override
  public boolean isReady() {
    return client.isReady();
  }

  @Override
  public void onEvent(StreamChatResponse event) {
    if (event.hasStarted()) {
      settlement.upstreamStarted();
    }
    settlement.onEvent(event);
    client.onEvent(event);
  }

  @Override
  public void onCompleted() {
    settlement.completed(null);
    client.onCompleted();
  }

  @Override
  public void onError(ApiException error) {
    // A broken stream's usage so far arrived as a usage event just before, when known.
    settlement.failed(null);
    client.onError(error);
  }

  @Override
  public void resume() {
    RoutedStream stream = routed;
    if (stream != null) {
      stream.resume();
    }
  }

  @Override
  public void cancel() {
    // Settles first, so the charge is in place by the time the upstream is seen to stop; events
    // racing the cancel go uncounted either way, and are at most the few already in flight.
    settlement.cancelled();
    RoutedStream stream = routed;
    if (stream != null) {
      stream.cancel();
    }
  }
}
