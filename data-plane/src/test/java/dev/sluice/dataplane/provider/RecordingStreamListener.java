package dev.sluice.dataplane.provider;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.inference.v1.ContentDelta;
import dev.sluice.inference.v1.StreamChatResponse;
import dev.sluice.inference.v1.ToolCallDelta;
import dev.sluice.inference.v1.Usage;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.jspecify.annotations.Nullable;

/** A {@link ChatStreamListener} that records events and the outcome, for adapter tests. */
public class RecordingStreamListener implements ChatStreamListener {
  private final List<StreamChatResponse> events = new ArrayList<>();
  private final CompletableFuture<Void> outcome = new CompletableFuture<>();
  private final CompletableFuture<Void> firstContent = new CompletableFuture<>();
  private final AtomicInteger terminalCalls = new AtomicInteger();
  private final AtomicInteger callbacks = new AtomicInteger();
  private volatile @Nullable Usage usageSoFar;
  private volatile @Nullable Thread thread;
  private volatile boolean concurrentCallback;
  /** Whether the listener takes more events; tests flip it for flow control. */
  public volatile boolean ready = true;
  /** When >= 0, becomes not ready after this many events. */
  public volatile int pauseAfterEvents = -1;

  @Override
  public void onEvent(StreamChatResponse event) {
    enter();
    synchronized (events) {
      events.add(event);
      if (events.size() == pauseAfterEvents) {
        ready = false;
      }
    }
    if (event.hasContentDelta() || event.hasToolCallDelta()) {
      firstContent.complete(null);
    }
    exit();
  }

  @Override
  public boolean isReady() {
    return ready;
  }

  @Override
  public void onCompleted() {
    enter();
    terminalCalls.incrementAndGet();
    outcome.complete(null);
    exit();
  }

  @Override
  public void onError(UpstreamException error, @Nullable Usage usageSoFar) {
    enter();
    terminalCalls.incrementAndGet();
    this.usageSoFar = usageSoFar;
    outcome.completeExceptionally(error);
    exit();
  }

  private void enter() {
    callbacks.incrementAndGet();
    if (thread != null) {
      concurrentCallback = true;
    }
    thread = Thread.currentThread();
  }

  private void exit() {
    thread = null;
  }

  /** Waits for a proper completion and checks the stream's invariants. */
  public List<StreamChatResponse> awaitCompletion() throws Exception {
    outcome.get(10, TimeUnit.SECONDS);
    checkInvariants();
    return events();
  }

  /** Waits for an error and returns it. */
  public UpstreamException awaitError() throws Exception {
    try {
      outcome.get(10, TimeUnit.SECONDS);
    } catch (ExecutionException e) {
      checkInvariants();
      return (UpstreamException) e.getCause();
    }
    throw new AssertionError("expected an error, the stream completed: " + events());
  }

  public void awaitFirstContent(Duration timeout) throws Exception {
    firstContent.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
  }

  public boolean isDone() {
    return outcome.isDone();
  }

  public int callbacks() {
    return callbacks.get();
  }

  public @Nullable Usage usageSoFar() {
    return usageSoFar;
  }

  public List<StreamChatResponse> events() {
    synchronized (events) {
      return List.copyOf(events);
    }
  }

  /** The text deltas of a choice, concatenated. */
  public String text(int choice) {
    StringBuilder b = new StringBuilder();
    for (StreamChatResponse e : events()) {
      if (e.hasContentDelta() && e.getContentDelta().getChoiceIndex() == choice
          && e.getContentDelta().getDeltaCase() == ContentDelta.DeltaCase.TEXT) {
        b.append(e.getContentDelta().getText());
      }
    }
    return b.toString();
  }

  /** The events' kinds in order, e.g. {@code STARTED, CONTENT_DELTA, ...}. */
  public List<StreamChatResponse.EventCase> kinds() {
    List<StreamChatResponse.EventCase> kinds = new ArrayList<>();
    for (StreamChatResponse e : events()) {
      kinds.add(e.getEventCase());
    }
    return kinds;
  }

  public List<ToolCallDelta> toolCallDeltas() {
    List<ToolCallDelta> deltas = new ArrayList<>();
    for (StreamChatResponse e : events()) {
      if (e.hasToolCallDelta()) {
        deltas.add(e.getToolCallDelta());
      }
    }
    return deltas;
  }

  private void checkInvariants() {
    assertThat(terminalCalls.get()).as("exactly one terminal callback").isEqualTo(1);
    assertThat(concurrentCallback).as("callbacks never overlap").isFalse();
    List<StreamChatResponse> all = events();
    if (!all.isEmpty()) {
      assertThat(all.get(0).hasStarted()).as("the first event is started").isTrue();
      for (int i = 1; i < all.size(); i++) {
        assertThat(all.get(i).hasStarted()).as("started only once").isFalse();
      }
      for (int i = 0; i < all.size() - 1; i++) {
        assertThat(all.get(i).hasUsage()).as("usage only as the last event").isFalse();
      }
    }
  }
}
