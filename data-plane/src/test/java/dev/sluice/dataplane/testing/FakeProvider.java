package dev.sluice.dataplane.testing;

import dev.sluice.config.v1.BackendKind;
import dev.sluice.dataplane.provider.ChatCall;
import dev.sluice.dataplane.provider.ChatStreamListener;
import dev.sluice.dataplane.provider.EmbedCall;
import dev.sluice.dataplane.provider.ProviderAdapter;
import dev.sluice.dataplane.provider.UpstreamException;
import dev.sluice.dataplane.provider.UpstreamFailure;
import dev.sluice.dataplane.provider.UpstreamStream;
import dev.sluice.inference.v1.ChatMessage;
import dev.sluice.inference.v1.ChatResponse;
import dev.sluice.inference.v1.ChatStarted;
import dev.sluice.inference.v1.Choice;
import dev.sluice.inference.v1.ChoiceFinished;
import dev.sluice.inference.v1.ContentDelta;
import dev.sluice.inference.v1.ContentPart;
import dev.sluice.inference.v1.EmbedResponse;
import dev.sluice.inference.v1.Embedding;
import dev.sluice.inference.v1.FinishReason;
import dev.sluice.inference.v1.Role;
import dev.sluice.inference.v1.StreamChatResponse;
import dev.sluice.inference.v1.Usage;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.jspecify.annotations.Nullable;

/**
 * A provider adapter for tests, scripted per backend: streams a number of tokens (pausing while the
 * listener is not ready, exactly as real adapters must), fails before or after its first event,
 * stalls after some tokens, or hangs. Emits on its own thread, one event at a time, and records every call, pause and cancel.
 */
public final class FakeProvider implements ProviderAdapter, AutoCloseable {
  /** What one call does. */
  public record Script(
      int tokens,
      @Nullable UpstreamFailure failBeforeStart,
      @Nullable UpstreamFailure failAfterTokens,
      boolean hangs,
      Duration perToken,
      boolean reportUsage,
      int padding,
      boolean stalls) {
    public static Script tokens(int n) {
      return new Script(n, null, null, false, Duration.ZERO, true, 0, false);
    }

    public static Script failBeforeStart(UpstreamFailure failure) {
      return new Script(0, failure, null, false, Duration.ZERO, true, 0, false);
    }

    /** Streams {@code n} tokens, then breaks with {@code failure}, reporting the usage so far. */
    public static Script breakAfter(int n, UpstreamFailure failure) {
      return new Script(n, null, failure, false, Duration.ZERO, true, 0, false);
    }

    /**
     * Streams {@code started} and {@code n} tokens, then sends nothing more (no finish, no usage,
     * no end) until cancelled: a generation cut short by its client.
     */
    public static Script stallAfter(int n) {
      return new Script(n, null, null, false, Duration.ZERO, false, 0, true);
    }

    public static Script hanging() {
      return new Script(0, null, null, true, Duration.ZERO, true, 0, false);
    }

    public Script paced(Duration perTokenDelay) {
      return new Script(
          tokens,
          failBeforeStart,
          failAfterTokens,
          hangs,
          perTokenDelay,
          reportUsage,
          padding,
          stalls);
    }

    public Script withoutUsage() {
      return new Script(
          tokens, failBeforeStart, failAfterTokens, hangs, perToken, false, padding, stalls);
    }

    /** Each token's text grows by {@code bytes} characters, to fill flow-control windows. */
    public Script padded(int bytes) {
      return new Script(
          tokens, failBeforeStart, failAfterTokens, hangs, perToken, reportUsage, bytes, stalls);
    }
  }

  public static final int INPUT_TOKENS = 7;

  private final BackendKind kind;
  private final ScheduledExecutorService executor =
      Executors.newSingleThreadScheduledExecutor(
          r -> {
            Thread t = new Thread(r, "fake-provider");
            t.setDaemon(true);
            return t;
          });
  private final Map<String, Deque<Script>> scripts = new HashMap<>();
  private volatile Script defaultScript = Script.tokens(3);

  /** Every chat call made, streamed or not, in order. */
  public final List<ChatCall> chatCalls = new CopyOnWriteArrayList<>();

  /** Every embed call made, in order. */
  public final List<EmbedCall> embedCalls = new CopyOnWriteArrayList<>();

  /** Every stream started, in order. */
  public final List<FakeStream> streams = new CopyOnWriteArrayList<>();

  /** Every unary future handed out, in order. */
  public final List<CompletableFuture<?>> unaryCalls = new CopyOnWriteArrayList<>();

  public FakeProvider(BackendKind kind) {
    this.kind = kind;
  }

  public FakeProvider() {
    this(BackendKind.BACKEND_KIND_OPENAI_COMPATIBLE);
  }

  /** Calls to {@code backend} follow {@code next} in order, then the default script. */
  public synchronized FakeProvider script(String backend, Script... next) {
    scripts.computeIfAbsent(backend, b -> new ArrayDeque<>()).addAll(List.of(next));
    return this;
  }

  public FakeProvider byDefault(Script script) {
    this.defaultScript = script;
    return this;
  }

  private synchronized Script scriptFor(String backend) {
    Deque<Script> queue = scripts.get(backend);
    Script next = queue == null ? null : queue.poll();
    return next == null ? defaultScript : next;
  }

  /** Backends called, in order. */
  public List<String> backendsCalled() {
    List<String> names = new ArrayList<>();
    for (ChatCall call : chatCalls) {
      names.add(call.target().backend().getName());
    }
    for (EmbedCall call : embedCalls) {
      names.add(call.target().backend().getName());
    }
    return names;
  }

  @Override
  public BackendKind kind() {
    return kind;
  }

  @Override
  public CompletableFuture<ChatResponse> chat(ChatCall call) {
    chatCalls.add(call);
    Script script = scriptFor(call.target().backend().getName());
    CompletableFuture<ChatResponse> future = new CompletableFuture<>();
    unaryCalls.add(future);
    if (script.hangs()) {
      return future;
    }
    executor.execute(
        () -> {
          if (script.failBeforeStart() != null) {
            future.completeExceptionally(failure(script.failBeforeStart(), call));
            return;
          }
          ChatResponse.Builder response =
              ChatResponse.newBuilder()
                  .setId("resp-" + chatCalls.size())
                  .setProviderModel(call.target().upstreamModel())
                  .addChoices(
                      Choice.newBuilder()
                          .setMessage(
                              ChatMessage.newBuilder()
                                  .setRole(Role.ROLE_ASSISTANT)
                                  .addParts(
                                      ContentPart.newBuilder().setText(text(script.tokens()))))
                          .setFinishReason(FinishReason.FINISH_REASON_STOP)
                          .setRawFinishReason("stop"));
          if (script.reportUsage()) {
            response.setUsage(usage(script.tokens()));
          }
          future.complete(response.build());
        });
    return future;
  }

  @Override
  public UpstreamStream streamChat(ChatCall call, ChatStreamListener listener) {
    chatCalls.add(call);
    FakeStream stream =
        new FakeStream(call, listener, scriptFor(call.target().backend().getName()));
    streams.add(stream);
    if (!stream.script.hangs()) {
      executor.execute(stream::pump);
    }
    return stream;
  }

  @Override
  public CompletableFuture<EmbedResponse> embed(EmbedCall call) {
    embedCalls.add(call);
    Script script = scriptFor(call.target().backend().getName());
    CompletableFuture<EmbedResponse> future = new CompletableFuture<>();
    unaryCalls.add(future);
    if (script.hangs()) {
      return future;
    }
    executor.execute(
        () -> {
          if (script.failBeforeStart() != null) {
            future.completeExceptionally(
                failure(script.failBeforeStart(), call.target().backend().getName()));
            return;
          }
          EmbedResponse.Builder b = EmbedResponse.newBuilder();
          for (int i = 0; i < call.request().getInputsCount(); i++) {
            b.addEmbeddings(Embedding.newBuilder().setIndex(i).addValues(i).addValues(1));
          }
          future.complete(
              b.setUsage(
                      Usage.newBuilder().setInputTokens(INPUT_TOKENS).setTotalTokens(INPUT_TOKENS))
                  .build());
        });
    return future;
  }

  @Override
  public void close() {
    executor.shutdownNow();
    try {
      executor.awaitTermination(5, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  public static String token(int i) {
    return "t" + i + " ";
  }

  public static String text(int tokens) {
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < tokens; i++) {
      sb.append(token(i));
    }
    return sb.toString();
  }

  public static Usage usage(int outputTokens) {
    return Usage.newBuilder()
        .setInputTokens(INPUT_TOKENS)
        .setOutputTokens(outputTokens)
        .setTotalTokens(INPUT_TOKENS + outputTokens)
        .build();
  }

  private static UpstreamException failure(UpstreamFailure failure, ChatCall call) {
    return failure(failure, call.target().backend().getName());
  }

  private static UpstreamException failure(UpstreamFailure failure, String backend) {
    return new UpstreamException(failure, backend, 0, null, "scripted " + failure, null);
  }

  /** One scripted upstream stream. */
  public final class FakeStream implements UpstreamStream {
    public final ChatCall call;
    final ChatStreamListener listener;
    final Script script;
    private final List<Runnable> steps = new ArrayList<>();
    private int next;
    private boolean paused;
    private final AtomicBoolean cancelled = new AtomicBoolean();
    private final CountDownLatch cancelledLatch = new CountDownLatch(1);
    private final CountDownLatch pausedLatch = new CountDownLatch(1);
    private final AtomicInteger pauses = new AtomicInteger();
    private final AtomicInteger emitted = new AtomicInteger();

    FakeStream(ChatCall call, ChatStreamListener listener, Script script) {
      this.call = call;
      this.listener = listener;
      this.script = script;
      String backend = call.target().backend().getName();
      if (script.failBeforeStart() != null) {
        steps.add(() -> listener.onError(failure(script.failBeforeStart(), backend), null));
        return;
      }
      steps.add(
          () ->
              listener.onEvent(
                  StreamChatResponse.newBuilder()
                      .setStarted(ChatStarted.newBuilder().setId("stream-" + backend))
                      .build()));
      String pad = "x".repeat(script.padding());
      for (int i = 0; i < script.tokens(); i++) {
        String token = token(i) + pad;
        steps.add(
            () ->
                listener.onEvent(
                    StreamChatResponse.newBuilder()
                        .setContentDelta(ContentDelta.newBuilder().setText(token))
                        .build()));
      }
      if (script.stalls()) {
        return;
      }
      if (script.failAfterTokens() != null) {
        steps.add(
            () ->
                listener.onError(
                    failure(script.failAfterTokens(), backend), usage(script.tokens())));
        return;
      }
      steps.add(
          () ->
              listener.onEvent(
                  StreamChatResponse.newBuilder()
                      .setChoiceFinished(
                          ChoiceFinished.newBuilder()
                              .setFinishReason(FinishReason.FINISH_REASON_STOP)
                              .setRawFinishReason("stop"))
                      .build()));
      if (script.reportUsage()) {
        steps.add(
            () ->
                listener.onEvent(
                    StreamChatResponse.newBuilder().setUsage(usage(script.tokens())).build()));
      }
      steps.add(listener::onCompleted);
    }

    /** Runs on the provider's thread: emits while the listener is ready. */
    void pump() {
      while (next < steps.size()) {
        if (cancelled.get()) {
          return;
        }
        if (!listener.isReady()) {
          paused = true;
          pauses.incrementAndGet();
          pausedLatch.countDown();
          return;
        }
        steps.get(next++).run();
        emitted.incrementAndGet();
        if (!script.perToken().isZero() && next < steps.size()) {
          executor.schedule(this::pump, script.perToken().toNanos(), TimeUnit.NANOSECONDS);
          return;
        }
      }
    }

    @Override
    public void resume() {
      try {
        executor.execute(
            () -> {
              if (paused) {
                paused = false;
                pump();
              }
            });
      } catch (java.util.concurrent.RejectedExecutionException closed) {
        // The test is over.
      }
    }

    @Override
    public void cancel() {
      if (cancelled.compareAndSet(false, true)) {
        cancelledLatch.countDown();
      }
    }

    public boolean cancelled() {
      return cancelled.get();
    }

    public boolean awaitCancelled(Duration timeout) throws InterruptedException {
      return cancelledLatch.await(timeout.toMillis(), TimeUnit.MILLISECONDS);
    }

    public boolean awaitPaused(Duration timeout) throws InterruptedException {
      return pausedLatch.await(timeout.toMillis(), TimeUnit.MILLISECONDS);
    }

    public int pauses() {
      return pauses.get();
    }

    /** Steps taken so far: events delivered plus the final completion or error. */
    public int emitted() {
      return emitted.get();
    }
  }
}
