package dev.sluice.dataplane.server;

import dev.sluice.dataplane.metrics.GatewayMetrics;
import dev.sluice.dataplane.routing.ChatStreamSink;
import dev.sluice.dataplane.routing.RoutedStream;
import dev.sluice.grpc.ApiException;
import dev.sluice.inference.v1.StreamChatResponse;
import dev.sluice.inference.v1.Usage;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.LongSupplier;
import org.jspecify.annotations.Nullable;

/**
 * Sits between the router and the client's sink of one stream and reports what it sees: time to
 * first token, time per output token, token usage and the operation's duration and outcome.
 */
final class MeteredStream implements ChatStreamSink, RoutedStream {
  private static final String OPERATION = "chat";

  private final ChatStreamSink client;
  private final GatewayMetrics metrics;
  private final LongSupplier nanoTime;
  private final String model;
  private final long startNanos;
  private final AtomicBoolean reported = new AtomicBoolean();
  private volatile @Nullable RoutedStream routed;

  // Written on the router's thread for this stream only.
  private String provider = "";
  private long firstTokenNanos;
  private long lastTokenNanos;
  private @Nullable Usage usage;

  MeteredStream(
      ChatStreamSink client,
      GatewayMetrics metrics,
      LongSupplier nanoTime,
      String model,
      long startNanos) {
    this.client = client;
    this.metrics = metrics;
    this.nanoTime = nanoTime;
    this.model = model;
    this.startNanos = startNanos;
  }

  void attach(RoutedStream stream) {
    this.routed = stream;
  }

  @Override
  public boolean isReady() {
    return client.isReady();
  }

  @Override
  public void onEvent(StreamChatResponse event) {
    switch (event.getEventCase()) {
      case STARTED:
        provider = event.getStarted().getProvider();
        break;
      case CONTENT_DELTA:
      case TOOL_CALL_DELTA:
        long now = nanoTime.getAsLong();
        if (firstTokenNanos == 0) {
          firstTokenNanos = now;
          metrics.timeToFirstToken(OPERATION, provider, model, now - startNanos);
        }
        lastTokenNanos = now;
        break;
      case USAGE:
        usage = event.getUsage();
        break;
      default:
        break;
    }
    client.onEvent(event);
  }

  @Override
  public void onCompleted() {
    report(null);
    client.onCompleted();
  }

  @Override
  public void onError(ApiException error) {
    report(error.code().name());
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
    RoutedStream stream = routed;
    if (stream != null) {
      stream.cancel();
    }
    report("CANCELLED");
  }

  private void report(@Nullable String errorType) {
    if (!reported.compareAndSet(false, true)) {
      return;
    }
    metrics.operationFinished(
        OPERATION, provider, model, nanoTime.getAsLong() - startNanos, errorType);
    Usage u = usage;
    if (u != null) {
      metrics.tokensUsed(OPERATION, provider, model, u);
      if (u.getOutputTokens() > 1 && lastTokenNanos > firstTokenNanos) {
        metrics.timePerOutputToken(
            OPERATION,
            provider,
            model,
            (lastTokenNanos - firstTokenNanos) / (u.getOutputTokens() - 1));
      }
    }
  }
}
