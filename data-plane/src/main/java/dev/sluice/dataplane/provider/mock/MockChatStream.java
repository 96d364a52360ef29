package dev.sluice.dataplane.provider.mock;

import dev.sluice.dataplane.provider.ChatStreamListener;
import dev.sluice.dataplane.provider.UpstreamException;
import dev.sluice.dataplane.provider.UpstreamFailure;
import dev.sluice.dataplane.provider.UpstreamStream;
import dev.sluice.inference.v1.ChatStarted;
import dev.sluice.inference.v1.ChoiceFinished;
import dev.sluice.inference.v1.ContentDelta;
import dev.sluice.inference.v1.FinishReason;
import dev.sluice.inference.v1.StreamChatResponse;
import dev.sluice.inference.v1.Usage;
import io.netty.channel.EventLoop;
import io.netty.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;

/**
 * One mock generation streamed on an event loop.
 *
 * <p>Pacing uses the loop's scheduler, never a sleeping thread: at each wake-up the stream emits
 * every token that is due by then (so a late timer catches up instead of drifting), then sleeps
 * until the next one is due. At unlimited pace it emits in batches and yields the loop between
 * them. It emits only while the listener is ready; when it is not, the stream parks until {@link
 * #resume()}. Confined to its loop; {@link #resume()} and {@link #cancel()} hop onto it.
 */
final class MockChatStream implements UpstreamStream, Runnable {
  private static final int BATCH = 64;

  private final EventLoop loop;
  private final MockModel model;
  private final ChatStreamListener listener;
  private final String id;
  private final String requestId;
  private final String backend;
  private final String providerModel;
  private final long deadlineNanos;
  private final boolean hasDeadline;
  private final MockText.Generator[] generators;

  private volatile boolean cancelled;
  private boolean started;
  private boolean done;
  private boolean parked;
  private long startNanos;
  /** Token position reached; with several choices each position is one token per choice. */
  private int position;
  private @Nullable ScheduledFuture<?> timer;

  MockChatStream(
      EventLoop loop, MockModel model, ChatStreamListener listener, String id, String requestId,
      String backend, String providerModel, long deadlineNanos, boolean hasDeadline) {
    this.loop = loop;
    this.model = model;
    this.listener = listener;
    this.id = id;
    this.requestId = requestId;
    this.backend = backend;
    this.providerModel = providerModel;
    this.deadlineNanos = deadlineNanos;
    this.hasDeadline = hasDeadline;
    this.generators = new MockText.Generator[model.choices()];
    for (int c = 0; c < generators.length; c++) {
      generators[c] = new MockText.Generator(model.seed(), c);
    }
  }

  void start() {
    startNanos = System.nanoTime();
    loop.execute(() -> schedule(model.firstTokenNanos()));
  }

  @Override
  public void resume() {
    loop.execute(
        () -> {
          if (parked && !done && !cancelled) {
            parked = false;
            run();
          }
        });
  }

  @Override
  public void cancel() {
    cancelled = true;
    loop.execute(
        () -> {
          done = true;
          ScheduledFuture<?> t = timer;
          timer = null;
          if (t != null) {
            t.cancel(false);
          }
        });
  }

  @Override
  public void run() {
    timer = null;
    if (done || cancelled) {
      return;
    }
    long now = System.nanoTime();
    if (hasDeadline && deadlineNanos - now <= 0) {
      fail();
      return;
    }
    if (!started) {
      started = true;
      emit(
          StreamChatResponse.newBuilder()
              .setStarted(
                  ChatStarted.newBuilder()
                      .setId(id)
                      .setRequestId(requestId)
                      .setProvider(MockAdapter.PROVIDER)
                      .setBackend(backend)
                      .setProviderModel(providerModel))
              .build());
    }
    int total = model.tokensPerChoice();
    int due = dueBy(now, total);
    int budget = BATCH;
    while (position < due && budget-- > 0) {
      if (cancelled) {
        return;
      }
      if (!listener.isReady()) {
        parked = true;
        return;
      }
      for (int c = 0; c < generators.length; c++) {
        emit(
            StreamChatResponse.newBuilder()
                .setContentDelta(
                    ContentDelta.newBuilder()
                        .setChoiceIndex(c)
                        .setPartIndex(0)
                        .setText(generators[c].next(total)))
                .build());
      }
      position++;
    }
    if (position < total) {
      if (position < due) {
        loop.execute(this); // batch used up: let other work on the loop run
      } else {
        schedule(startNanos + model.firstTokenNanos() + position * model.nanosPerToken() - now);
      }
      return;
    }
    finish();
  }

  /** How many token positions are due at {@code now}. */
  private int dueBy(long now, int total) {
    if (model.nanosPerToken() == 0) {
      return total;
    }
    long elapsed = now - startNanos - model.firstTokenNanos();
    if (elapsed < 0) {
      return 0;
    }
    return (int) Math.min(total, elapsed / model.nanosPerToken() + 1);
  }

  private void finish() {
    done = true;
    FinishReason reason =
        model.truncated() ? FinishReason.FINISH_REASON_LENGTH : FinishReason.FINISH_REASON_STOP;
    String raw = model.truncated() ? "length" : "stop";
    for (int c = 0; c < generators.length; c++) {
      emit(
          StreamChatResponse.newBuilder()
              .setChoiceFinished(
                  ChoiceFinished.newBuilder()
                      .setChoiceIndex(c)
                      .setFinishReason(reason)
                      .setRawFinishReason(raw))
              .build());
    }
    emit(StreamChatResponse.newBuilder().setUsage(usage()).build());
    if (!cancelled) {
      listener.onCompleted();
    }
  }

  private void fail() {
    done = true;
    if (!cancelled) {
      listener.onError(
          new UpstreamException(
              UpstreamFailure.TIMEOUT, backend, 0, null, "the mock model exceeded the deadline",
              null),
          usage());
    }
  }

  private Usage usage() {
    int output = position * generators.length;
    return Usage.newBuilder()
        .setInputTokens(model.inputTokens())
        .setOutputTokens(output)
        .setTotalTokens(model.inputTokens() + output)
        .build();
  }

  private void schedule(long delayNanos) {
    if (done || cancelled) {
      return;
    }
    if (hasDeadline) {
      // Wake up at the deadline at the latest, so a slow mock fails on time.
      delayNanos = Math.min(delayNanos, deadlineNanos - System.nanoTime());
    }
    if (delayNanos <= 0) {
      run();
    } else {
      timer = loop.schedule(this, delayNanos, TimeUnit.NANOSECONDS);
    }
  }

  private void emit(StreamChatResponse event) {
    if (!cancelled) {
      listener.onEvent(event);
    }
  }
}
