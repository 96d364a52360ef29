package dev.sluice.dataplane.routing;

import dev.sluice.grpc.ApiException;
import dev.sluice.inference.v1.StreamChatResponse;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;

/** A client for router tests: records what reaches it and can refuse to be ready. */
final class RecordingSink implements ChatStreamSink {
  final List<StreamChatResponse> events = new CopyOnWriteArrayList<>();
  private final CountDownLatch done = new CountDownLatch(1);
  private volatile boolean ready = true;
  private volatile boolean completed;
  private volatile @Nullable ApiException error;
  private volatile int terminalCalls;

  void ready(boolean ready) {
    this.ready = ready;
  }

  @Override
  public boolean isReady() {
    return ready;
  }

  @Override
  public void onEvent(StreamChatResponse event) {
    events.add(event);
  }

  @Override
  public void onCompleted() {
    completed = true;
    terminalCalls++;
    done.countDown();
  }

  @Override
  public void onError(ApiException e) {
    error = e;
    terminalCalls++;
    done.countDown();
  }

  RecordingSink awaitDone(Duration timeout) throws InterruptedException {
    if (!done.await(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
      throw new AssertionError("stream did not end within " + timeout + "; events: " + events);
    }
    return this;
  }

  boolean completed() {
    return completed;
  }

  @Nullable ApiException error() {
    return error;
  }

  int terminalCalls() {
    return terminalCalls;
  }

  String text() {
    StringBuilder sb = new StringBuilder();
    for (StreamChatResponse e : events) {
      if (e.hasContentDelta()) {
        sb.append(e.getContentDelta().getText());
      }
    }
    return sb.toString();
  }
}
