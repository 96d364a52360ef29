package dev.sluice.client;

import static java.util.Objects.requireNonNull;

import dev.sluice.inference.v1.ChatRequest;
import dev.sluice.inference.v1.ChatResponse;
import dev.sluice.inference.v1.EmbedRequest;
import dev.sluice.inference.v1.EmbedResponse;
import dev.sluice.inference.v1.GetModelRequest;
import dev.sluice.inference.v1.InferenceServiceGrpc;
import dev.sluice.inference.v1.InferenceServiceGrpc.InferenceServiceBlockingStub;
import dev.sluice.inference.v1.ListModelsRequest;
import dev.sluice.inference.v1.ListModelsResponse;
import dev.sluice.inference.v1.ModelInfo;
import dev.sluice.inference.v1.StreamChatRequest;
import io.grpc.CallOptions;
import io.grpc.Deadline;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ClientCalls;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/** The {@link SluiceClient} over a gRPC {@link ManagedChannel}. */
final class GrpcSluiceClient implements SluiceClient {
  private static final int LIST_PAGE_SIZE = 1000;
  private static final Duration SHUTDOWN_GRACE = Duration.ofSeconds(5);

  private final ManagedChannel channel;
  private final Duration deadline;
  private final GenerationRetryPolicy retryPolicy;
  // Runs the backoff timers of stream retries; its one thread starts on first use.
  private final ScheduledThreadPoolExecutor scheduler;
  private final boolean ownsChannel;

  private GrpcSluiceClient(
      ManagedChannel channel,
      Duration deadline,
      GenerationRetryPolicy retryPolicy,
      ScheduledThreadPoolExecutor scheduler,
      boolean ownsChannel) {
    this.channel = channel;
    this.deadline = deadline;
    this.retryPolicy = retryPolicy;
    this.scheduler = scheduler;
    this.ownsChannel = ownsChannel;
  }

  /** A client that shuts {@code channel} down when closed. */
  static GrpcSluiceClient owning(
      ManagedChannel channel, Duration deadline, GenerationRetryPolicy retryPolicy) {
    ScheduledThreadPoolExecutor scheduler =
        new ScheduledThreadPoolExecutor(
            1,
            runnable -> {
              Thread thread = new Thread(runnable, "sluice-client-retry");
              thread.setDaemon(true);
              return thread;
            });
    scheduler.setRemoveOnCancelPolicy(true);
    return new GrpcSluiceClient(channel, deadline, retryPolicy, scheduler, true);
  }

  @Override
  public ChatResponse chat(ChatRequest request) {
    requireNonNull(request, "request");
    Deadline callDeadline = newDeadline();
    boolean retriable = !request.getRequestId().isEmpty();
    for (int attempt = 1; ; attempt++) {
      try {
        return ClientCalls.blockingUnaryCall(
            channel,
            InferenceServiceGrpc.getChatMethod(),
            CallOptions.DEFAULT.withDeadline(callDeadline),
            request);
      } catch (StatusRuntimeException e) {
        SluiceException error = SluiceException.from(e);
        Optional<Duration> delay =
            retriable
                ? retryPolicy.delayBeforeRetry(attempt, error, callDeadline)
                : Optional.empty();
        if (delay.isEmpty()) {
          throw error;
        }
        sleep(delay.get());
      }
    }
  }

  @Override
  public ChatStream streamChat(ChatRequest request, ChatStreamListener listener) {
    requireNonNull(request, "request");
    requireNonNull(listener, "listener");
    StreamChatCall call = newStreamCall(request, new ListenerSink(listener), true);
    call.start();
    return call;
  }

  @Override
  public ChatEventStream streamChat(ChatRequest request) {
    requireNonNull(request, "request");
    BlockingChatEventStream events = new BlockingChatEventStream();
    StreamChatCall call = newStreamCall(request, events, false);
    events.attach(call);
    call.start();
    return events;
  }

  private StreamChatCall newStreamCall(
      ChatRequest request, StreamChatCall.Sink sink, boolean autoRequest) {
    return new StreamChatCall(
        channel,
        CallOptions.DEFAULT,
        newDeadline(),
        StreamChatRequest.newBuilder().setChat(request).build(),
        retryPolicy,
        scheduler,
        sink,
        autoRequest);
  }

  @Override
  public EmbedResponse embed(EmbedRequest request) {
    requireNonNull(request, "request");
    try {
      return stub().embed(request);
    } catch (StatusRuntimeException e) {
      throw SluiceException.from(e);
    }
  }

  @Override
  public List<ModelInfo> listModels() {
    InferenceServiceBlockingStub stub = stub();
    List<ModelInfo> models = new ArrayList<>();
    Set<String> seenTokens = new HashSet<>();
    String pageToken = "";
    try {
      do {
        ListModelsResponse page =
            stub.listModels(
                ListModelsRequest.newBuilder()
                    .setPageSize(LIST_PAGE_SIZE)
                    .setPageToken(pageToken)
                    .build());
        models.addAll(page.getModelsList());
        pageToken = page.getNextPageToken();
        if (!pageToken.isEmpty() && !seenTokens.add(pageToken)) {
          throw SluiceException.local(
              Status.Code.INTERNAL, "the gateway returned the same page token twice");
        }
      } while (!pageToken.isEmpty());
    } catch (StatusRuntimeException e) {
      throw SluiceException.from(e);
    }
    return List.copyOf(models);
  }

  @Override
  public ModelInfo getModel(String name) {
    requireNonNull(name, "name");
    try {
      return stub().getModel(GetModelRequest.newBuilder().setName(name).build()).getModel();
    } catch (StatusRuntimeException e) {
      throw SluiceException.from(e);
    }
  }

  @Override
  public SluiceClient withDeadline(Duration deadline) {
    return new GrpcSluiceClient(
        channel, SluiceClientBuilder.checkDeadline(deadline), retryPolicy, scheduler, false);
  }

  @Override
  public void close() {
    if (!ownsChannel) {
      return;
    }
    scheduler.shutdownNow();
    channel.shutdown();
    try {
      if (!channel.awaitTermination(SHUTDOWN_GRACE.toMillis(), TimeUnit.MILLISECONDS)) {
        channel.shutdownNow();
      }
    } catch (InterruptedException e) {
      channel.shutdownNow();
      Thread.currentThread().interrupt();
    }
  }

  private InferenceServiceBlockingStub stub() {
    return InferenceServiceGrpc.newBlockingStub(channel).withDeadline(newDeadline());
  }

  private Deadline newDeadline() {
    return Deadline.after(deadline.toNanos(), TimeUnit.NANOSECONDS);
  }

  private static void sleep(Duration delay) {
    try {
      Thread.sleep(delay.toMillis(), (int) (delay.toNanos() % 1_000_000));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw SluiceException.local(Status.Code.CANCELLED, "Interrupted while waiting to retry");
    }
  }

  /** Adapts a {@link ChatStreamListener} to the call's sink. */
  private record ListenerSink(ChatStreamListener listener) implements StreamChatCall.Sink {
    @Override
    public void onEvent(dev.sluice.inference.v1.StreamChatResponse event) {
      listener.onEvent(event);
    }

    @Override
    public void onCompleted() {
      listener.onCompleted();
    }

    @Override
    public void onError(SluiceException error) {
      listener.onError(error);
    }
  }
}
