package dev.sluice.dataplane.provider.http;

import io.netty.buffer.ByteBuf;
import io.netty.handler.codec.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/** A {@link ResponseHandler} that records everything, for tests. */
class RecordingHandler implements ResponseHandler {
  final CompletableFuture<String> outcome = new CompletableFuture<>();
  final CompletableFuture<Void> firstContent = new CompletableFuture<>();
  final AtomicInteger callbacks = new AtomicInteger();
  final AtomicInteger contentPieces = new AtomicInteger();
  volatile int status;
  volatile boolean ready = true;
  /** When >= 0, becomes not ready after this many content pieces. */
  volatile int pauseAfterPieces = -1;
  private final StringBuilder body = new StringBuilder();

  @Override
  public void onHeaders(HttpResponse response) {
    callbacks.incrementAndGet();
    status = response.status().code();
  }

  @Override
  public void onContent(ByteBuf content) {
    callbacks.incrementAndGet();
    synchronized (body) {
      body.append(content.toString(StandardCharsets.UTF_8));
    }
    if (contentPieces.incrementAndGet() == pauseAfterPieces) {
      ready = false;
    }
    firstContent.complete(null);
  }

  @Override
  public void onComplete() {
    callbacks.incrementAndGet();
    outcome.complete(body());
  }

  @Override
  public void onFailure(HttpFailure failure) {
    callbacks.incrementAndGet();
    outcome.completeExceptionally(failure);
  }

  @Override
  public boolean isReady() {
    return ready;
  }

  String body() {
    synchronized (body) {
      return body.toString();
    }
  }

  int bodyLength() {
    synchronized (body) {
      return body.length();
    }
  }

  String await() throws Exception {
    return outcome.get(10, TimeUnit.SECONDS);
  }

  HttpFailure awaitFailure() throws Exception {
    try {
      outcome.get(10, TimeUnit.SECONDS);
    } catch (java.util.concurrent.ExecutionException e) {
      return (HttpFailure) e.getCause();
    }
    throw new AssertionError("expected a failure, got a response: " + body());
  }

  void awaitFirstContent(Duration timeout) throws Exception {
    firstContent.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
  }
}
