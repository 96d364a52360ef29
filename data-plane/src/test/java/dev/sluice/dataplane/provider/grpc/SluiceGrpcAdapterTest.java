package dev.sluice.dataplane.provider.grpc;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Any;
import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import com.google.rpc.ErrorInfo;
import com.google.rpc.RetryInfo;
import dev.sluice.config.v1.Backend;
import dev.sluice.config.v1.BackendKind;
import dev.sluice.config.v1.BackendTimeouts;
import dev.sluice.config.v1.Header;
import dev.sluice.config.v1.SecretRef;
import dev.sluice.dataplane.provider.ChatCall;
import dev.sluice.dataplane.provider.EmbedCall;
import dev.sluice.dataplane.provider.ProviderAdapter;
import dev.sluice.dataplane.provider.RecordingStreamListener;
import dev.sluice.dataplane.provider.SecretResolver;
import dev.sluice.dataplane.provider.UpstreamException;
import dev.sluice.dataplane.provider.UpstreamFailure;
import dev.sluice.dataplane.provider.UpstreamStream;
import dev.sluice.dataplane.provider.UpstreamTarget;
import dev.sluice.inference.v1.ChatMessage;
import dev.sluice.inference.v1.ChatRequest;
import dev.sluice.inference.v1.ChatResponse;
import dev.sluice.inference.v1.ChatStarted;
import dev.sluice.inference.v1.ChoiceFinished;
import dev.sluice.inference.v1.ContentDelta;
import dev.sluice.inference.v1.ContentPart;
import dev.sluice.inference.v1.EmbedRequest;
import dev.sluice.inference.v1.EmbedResponse;
import dev.sluice.inference.v1.Embedding;
import dev.sluice.inference.v1.FinishReason;
import dev.sluice.inference.v1.InferenceServiceGrpc;
import dev.sluice.inference.v1.Role;
import dev.sluice.inference.v1.StreamChatRequest;
import dev.sluice.inference.v1.StreamChatResponse;
import dev.sluice.inference.v1.Usage;
import io.grpc.Context;
import io.grpc.Deadline;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.protobuf.StatusProto;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioSocketChannel;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BiConsumer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

class SluiceGrpcAdapterTest {
  private static final Metadata.Key<String> AUTHORIZATION =
      Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
  private static final Metadata.Key<String> TENANT = Metadata.Key.of("x-tenant", Metadata.ASCII_STRING_MARSHALLER);

  private static EventLoopGroup group;

  /** The upstream gateway: a real gRPC server on loopback whose behaviour each test scripts. */
  private final class Upstream extends InferenceServiceGrpc.InferenceServiceImplBase {
    volatile BiConsumer<StreamChatRequest, ServerCallStreamObserver<StreamChatResponse>> stream =
        (r, o) -> {
          o.onNext(started());
          o.onNext(text(" hi"));
          o.onNext(finished());
          o.onNext(StreamChatResponse.newBuilder().setUsage(usage(3)).build());
          o.onCompleted();
        };
    final List<Object> requests = new CopyOnWriteArrayList<>();
    final List<Metadata> headers = new CopyOnWriteArrayList<>();
    final AtomicReference<Deadline> deadline = new AtomicReference<>();
    final CompletableFuture<Void> cancelled = new CompletableFuture<>();

    @Override
    public void chat(ChatRequest request, StreamObserver<ChatResponse> out) {
      requests.add(request);
      deadline.set(Context.current().getDeadline());
      out.onNext(
          ChatResponse.newBuilder()
              .setId("resp-up")
              .setModel("public-upstream-model")
              .setProvider("openai")
              .setBackend("their-backend")
              .setUsage(usage(5))
              .build());
      out.onCompleted();
    }

    @Override
    public void streamChat(StreamChatRequest request, StreamObserver<StreamChatResponse> out) {
      requests.add(request);
      deadline.set(Context.current().getDeadline());
      ServerCallStreamObserver<StreamChatResponse> server = (ServerCallStreamObserver<StreamChatResponse>) out;
      server.setOnCancelHandler(() -> cancelled.complete(null));
      stream.accept(request, server);
    }

    @Override
    public void embed(EmbedRequest request, StreamObserver<EmbedResponse> out) {
      requests.add(request);
      out.onNext(
          EmbedResponse.newBuilder()
              .setModel("embedder")
              .addEmbeddings(Embedding.newBuilder().setIndex(0).addValues(0.5f))
              .build());
      out.onCompleted();
    }
  }

  private Upstream upstream;
  private Server server;
  private ProviderAdapter grpc;

  @BeforeAll
  static void startLoops() {
    group = new MultiThreadIoEventLoopGroup(2, NioIoHandler.newFactory());
  }

  @AfterAll
  static void stopLoops() {
    group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
  }

  @BeforeEach
  void start() throws Exception {
    upstream = new Upstream();
    ServerInterceptor recordHeaders =
        new ServerInterceptor() {
          @Override
          public <ReqT, RespT> ServerCall.Listener<ReqT> interceptCall(
              ServerCall<ReqT, RespT> call, Metadata headers, ServerCallHandler<ReqT, RespT> next) {
            upstream.headers.add(headers);
            return next.startCall(call, headers);
          }
        };
    server =
        NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
            .addService(ServerInterceptors.intercept(upstream, recordHeaders))
            .build()
            .start();
    Map<String, String> env = Map.of("UPSTREAM_KEY", "sluice-key-123", "TENANT", "blue");
    grpc =
        SluiceGrpcProvider.create(
            group, NioSocketChannel.class, SecretResolver.create(env::get, System::nanoTime, Duration.ofSeconds(1)));
  }

  @AfterEach
  void stop() throws Exception {
    ((AutoCloseable) grpc).close();
    server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
  }

  private Backend.Builder backend() {
    return Backend.newBuilder()
        .setName("edge-gateway")
        .setKind(BackendKind.BACKEND_KIND_SLUICE_GRPC)
        .setBaseUrl("http://127.0.0.1:" + server.getPort())
        .setApiKey(SecretRef.newBuilder().setEnvVar("UPSTREAM_KEY"))
        .addHeaders(Header.newBuilder().setName("x-tenant").setSecret(SecretRef.newBuilder().setEnvVar("TENANT")));
  }

  private static ChatRequest request() {
    return ChatRequest.newBuilder()
        .setModel("public-here")
        .addMessages(
            ChatMessage.newBuilder().setRole(Role.ROLE_USER).addParts(ContentPart.newBuilder().setText("Hi")))
        .setProviderOptions(
            Struct.newBuilder()
                .putFields(
                    "sluice_grpc",
                    Value.newBuilder()
                        .setStructValue(
                            Struct.newBuilder().putFields("priority", Value.newBuilder().setStringValue("high").build()))
                        .build())
                .putFields("openai", Value.newBuilder().setStructValue(Struct.getDefaultInstance()).build()))
        .build();
  }

  private ChatCall call(Backend backend, Deadline deadline) {
    return new ChatCall(request(), new UpstreamTarget(backend, "upstream-model"), deadline, "req-g1");
  }

  private static StreamChatResponse started() {
    return StreamChatResponse.newBuilder()
        .setStarted(
            ChatStarted.newBuilder()
                .setId("up-1")
                .setModel("public-upstream-model")
                .setProvider("anthropic")
                .setBackend("their-claude")
                .setProviderModel("claude-x"))
        .build();
  }

  private static StreamChatResponse text(String text) {
    return StreamChatResponse.newBuilder()
        .setContentDelta(ContentDelta.newBuilder().setText(text))
        .build();
  }

  private static StreamChatResponse finished() {
    return StreamChatResponse.newBuilder()
        .setChoiceFinished(
            ChoiceFinished.newBuilder().setFinishReason(FinishReason.FINISH_REASON_STOP).setRawFinishReason("end_turn"))
        .build();
  }

  private static Usage usage(int output) {
    return Usage.newBuilder().setInputTokens(4).setOutputTokens(output).setTotalTokens(4 + output).build();
  }

  private RecordingStreamListener stream(Backend backend) {
    RecordingStreamListener listener = new RecordingStreamListener();
    grpc.streamChat(call(backend, Deadline.after(10, TimeUnit.SECONDS)), listener);
    return listener;
  }

  @Test
  void forwardsAUnaryChatWithCredentialsHeadersAndDeadline() throws Exception {
    ChatResponse r = grpc.chat(call(backend().build(), Deadline.after(5, TimeUnit.SECONDS))).get(10, TimeUnit.SECONDS);

    ChatRequest sent = (ChatRequest) upstream.requests.get(0);
    assertThat(sent.getModel()).isEqualTo("upstream-model");
    assertThat(sent.getRequestId()).isEqualTo("req-g1");
    assertThat(sent.getProviderOptions().getFieldsMap()).containsOnlyKeys("priority");
    Metadata headers = upstream.headers.get(0);
    assertThat(headers.get(AUTHORIZATION)).isEqualTo("Bearer sluice-key-123");
    assertThat(headers.get(TENANT)).isEqualTo("blue");
    assertThat(upstream.deadline.get()).isNotNull();
    assertThat(upstream.deadline.get().timeRemaining(TimeUnit.SECONDS)).isBetween(1L, 5L);
    assertThat(r.getId()).isEqualTo("resp-up");
    assertThat(r.getProvider()).isEqualTo("sluice_grpc");
    assertThat(r.getBackend()).isEqualTo("edge-gateway");
    assertThat(r.getProviderModel()).isEqualTo("public-upstream-model");
    assertThat(r.getModel()).as("set by this gateway's router").isEmpty();
    assertThat(r.getUsage()).isEqualTo(usage(5));
  }

  @Test
  void streamsEventsRelabelledWithUsageLast() throws Exception {
    RecordingStreamListener listener = stream(backend().build());
    List<StreamChatResponse> events = listener.awaitCompletion();

    assertThat(listener.kinds())
        .containsExactly(
            StreamChatResponse.EventCase.STARTED,
            StreamChatResponse.EventCase.CONTENT_DELTA,
            StreamChatResponse.EventCase.CHOICE_FINISHED,
            StreamChatResponse.EventCase.USAGE);
    ChatStarted s = events.get(0).getStarted();
    assertThat(s.getProvider()).isEqualTo("sluice_grpc");
    assertThat(s.getBackend()).isEqualTo("edge-gateway");
    assertThat(s.getProviderModel()).isEqualTo("public-upstream-model");
    assertThat(s.getProviderMetadata().getFieldsMap().get("upstream_provider").getStringValue()).isEqualTo("anthropic");
    assertThat(s.getProviderMetadata().getFieldsMap().get("upstream_backend").getStringValue()).isEqualTo("their-claude");
    assertThat(events.get(3).getUsage()).isEqualTo(usage(3));
    assertThat(upstream.deadline.get()).as("the deadline travels as grpc-timeout").isNotNull();
  }

  @Test
  void aStatusBeforeOutputKeepsItsMeaningAndRetryInfo() throws Exception {
    upstream.stream =
        (r, o) ->
            o.onError(
                StatusProto.toStatusRuntimeException(
                    com.google.rpc.Status.newBuilder()
                        .setCode(Status.Code.RESOURCE_EXHAUSTED.value())
                        .setMessage("their internal text")
                        .addDetails(Any.pack(ErrorInfo.newBuilder().setReason("UPSTREAM_RATE_LIMITED").setDomain("sluice.dev").build()))
                        .addDetails(
                            Any.pack(
                                RetryInfo.newBuilder()
                                    .setRetryDelay(com.google.protobuf.Duration.newBuilder().setSeconds(3))
                                    .build()))
                        .build()));

    RecordingStreamListener listener = stream(backend().build());
    UpstreamException error = listener.awaitError();

    assertThat(error.failure()).isEqualTo(UpstreamFailure.RATE_LIMITED);
    assertThat(error.retryAfter()).isEqualTo(Duration.ofSeconds(3));
    assertThat(error.getMessage()).contains("RESOURCE_EXHAUSTED").contains("UPSTREAM_RATE_LIMITED").doesNotContain("their internal");
    assertThat(listener.events()).isEmpty();
  }

  @Test
  void anUpstreamContextWindowVerdictIsKept() throws Exception {
    upstream.stream =
        (r, o) ->
            o.onError(
                StatusProto.toStatusRuntimeException(
                    com.google.rpc.Status.newBuilder()
                        .setCode(Status.Code.INVALID_ARGUMENT.value())
                        .setMessage("too long")
                        .addDetails(Any.pack(ErrorInfo.newBuilder().setReason("CONTEXT_WINDOW_EXCEEDED").setDomain("sluice.dev").build()))
                        .build()));

    assertThat(stream(backend().build()).awaitError().failure()).isEqualTo(UpstreamFailure.CONTEXT_WINDOW_EXCEEDED);
  }

  @Test
  void aFailureAfterOutputBreaksTheStreamWithTheUsageItReported() throws Exception {
    upstream.stream =
        (r, o) -> {
          o.onNext(started());
          o.onNext(text("partial"));
          o.onNext(StreamChatResponse.newBuilder().setUsage(usage(1)).build());
          o.onError(Status.UNAVAILABLE.withDescription("backend went away").asRuntimeException());
        };

    RecordingStreamListener listener = stream(backend().build());
    UpstreamException error = listener.awaitError();

    assertThat(error.failure()).isEqualTo(UpstreamFailure.STREAM_BROKEN);
    assertThat(listener.text(0)).isEqualTo("partial");
    assertThat(listener.usageSoFar()).isEqualTo(usage(1));
    assertThat(listener.kinds()).doesNotContain(StreamChatResponse.EventCase.USAGE);
  }

  @Test
  void cancelResetsTheUpstreamStreamAtOnce() throws Exception {
    upstream.stream = (r, o) -> o.onNext(started()); // then nothing: a long generation
    RecordingStreamListener listener = new RecordingStreamListener();
    UpstreamStream stream = grpc.streamChat(call(backend().build(), null), listener);
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
    while (listener.events().isEmpty() && System.nanoTime() < deadline) {
      Thread.sleep(1);
    }

    stream.cancel();

    upstream.cancelled.get(100, TimeUnit.MILLISECONDS);
    assertThat(listener.isDone()).isFalse();
  }

  @Test
  void aListenerThatIsNotReadyStopsRequestingSoTheUpstreamSeesBackpressure() throws Exception {
    int total = 20_000;
    AtomicInteger sent = new AtomicInteger();
    CompletableFuture<Void> stalled = new CompletableFuture<>();
    upstream.stream =
        (r, o) -> {
          o.onNext(started());
          o.setOnReadyHandler(
              () -> {
                while (o.isReady() && sent.get() < total) {
                  o.onNext(text("x".repeat(64)));
                  sent.incrementAndGet();
                }
                if (sent.get() < total) {
                  stalled.complete(null);
                } else if (sent.get() == total) {
                  sent.incrementAndGet();
                  o.onNext(finished());
                  o.onCompleted();
                }
              });
        };
    RecordingStreamListener listener = new RecordingStreamListener();
    listener.pauseAfterEvents = 3;

    UpstreamStream stream = grpc.streamChat(call(backend().build(), null), listener);

    stalled.get(10, TimeUnit.SECONDS);
    // The server's own buffer may stall it briefly first; wait until it stops for good.
    int sentWhenStalled = sent.get();
    long settleBy = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    do {
      sentWhenStalled = sent.get();
      Thread.sleep(150);
    } while (sent.get() != sentWhenStalled && System.nanoTime() < settleBy);
    Thread.sleep(200);
    assertThat(sent.get()).as("the upstream cannot write while we do not read").isEqualTo(sentWhenStalled);
    assertThat(sentWhenStalled).isLessThan(total);
    assertThat((long) sentWhenStalled * 64)
        .as("what is in flight is bounded by the flow-control window and the server's buffer")
        .isLessThan(GrpcChannels.FLOW_CONTROL_WINDOW + 256 * 1024);
    assertThat(listener.events()).hasSize(3);

    listener.ready = true;
    stream.resume();
    listener.awaitCompletion();
    assertThat(listener.events().stream().filter(StreamChatResponse::hasContentDelta)).hasSize(total);
  }

  @Test
  void aSilentUpstreamHitsTheIdleTimeout() throws Exception {
    upstream.stream = (r, o) -> o.onNext(started());
    Backend backend =
        backend()
            .setTimeouts(
                BackendTimeouts.newBuilder()
                    .setStreamIdleTimeout(com.google.protobuf.Duration.newBuilder().setNanos(200_000_000)))
            .build();

    RecordingStreamListener listener = stream(backend);

    assertThat(listener.awaitError().failure()).isEqualTo(UpstreamFailure.TIMEOUT);
    upstream.cancelled.get(5, TimeUnit.SECONDS);
  }

  @Test
  void forwardsEmbeddings() throws Exception {
    EmbedResponse r =
        grpc.embed(
                new EmbedCall(
                    EmbedRequest.newBuilder().setModel("public").addInputs("a").build(),
                    new UpstreamTarget(backend().build(), "upstream-embedder"), null, "req-e"))
            .get(10, TimeUnit.SECONDS);

    EmbedRequest sent = (EmbedRequest) upstream.requests.get(0);
    assertThat(sent.getModel()).isEqualTo("upstream-embedder");
    assertThat(sent.getRequestId()).isEqualTo("req-e");
    assertThat(r.getProvider()).isEqualTo("sluice_grpc");
    assertThat(r.getProviderModel()).isEqualTo("embedder");
    assertThat(r.getEmbeddings(0).getValuesList()).containsExactly(0.5f);
  }

  @Test
  void anUnreachableUpstreamFailsBeforeAnyOutputAsRetryable() throws Exception {
    int port;
    try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
      port = s.getLocalPort();
    }
    RecordingStreamListener listener = stream(backend().setBaseUrl("http://127.0.0.1:" + port).build());

    UpstreamException error = listener.awaitError();
    assertThat(error.failure()).isIn(UpstreamFailure.CONNECT_FAILED, UpstreamFailure.SERVER_ERROR);
    assertThat(error.failure().retryable()).isTrue();
  }

  @Test
  void aBackendWithoutBaseUrlIsMisconfigured() throws Exception {
    RecordingStreamListener listener = stream(backend().clearBaseUrl().build());

    assertThat(listener.awaitError().failure()).isEqualTo(UpstreamFailure.MISCONFIGURED);
  }

  /** Channels to endpoints the config stopped naming are released, without breaking calls. */
  @Nested
  class IdleChannels {
    private final AtomicLong now = new AtomicLong(1_000_000_000L);
    private final SecretResolver secrets =
        SecretResolver.create(Map.of("UPSTREAM_KEY", "k", "TENANT", "t")::get, System::nanoTime, Duration.ofSeconds(1));
    private final GrpcChannels channels =
        new GrpcChannels(
            group,
            NioSocketChannel.class,
            secrets,
            new com.google.common.base.Ticker() {
              @Override
              public long read() {
                return now.get();
              }
            },
            Duration.ofMinutes(30),
            Duration.ofMillis(200),
            false);
    private final SluiceGrpcAdapter adapter = new SluiceGrpcAdapter(channels, secrets, group);

    @AfterEach
    void closeChannels() {
      channels.close();
    }

    private void advance(Duration d) {
      now.addAndGet(d.toNanos());
    }

    private static void awaitCondition(java.util.function.BooleanSupplier condition, Duration timeout, String what)
        throws InterruptedException {
      long deadline = System.nanoTime() + timeout.toNanos();
      while (!condition.getAsBoolean()) {
        assertThat(System.nanoTime() - deadline).as("timed out waiting for " + what).isNegative();
        Thread.sleep(5);
      }
    }

    @Test
    void aChannelUnusedForTheIdleTimeoutIsDroppedAndShutDownAfterItsGrace() throws Exception {
      ManagedChannel first = channels.get(backend().build());

      advance(Duration.ofMinutes(30));
      assertThat(channels.dropIdle()).isEqualTo(1);

      assertThat(channels.size()).isZero();
      assertThat(first.isShutdown()).as("still in its grace").isFalse();
      ManagedChannel second = channels.get(backend().build());
      assertThat(second).isNotSameAs(first);
      awaitCondition(first::isShutdown, Duration.ofSeconds(5), "the dropped channel shut down");
      assertThat(second.isShutdown()).isFalse();
    }

    @Test
    void aChannelHandedOutWithinTheIdleTimeoutIsKept() {
      ManagedChannel first = channels.get(backend().build());
      advance(Duration.ofMinutes(20));
      channels.get(backend().build());
      advance(Duration.ofMinutes(20));

      assertThat(channels.dropIdle()).isZero();
      assertThat(channels.get(backend().build())).isSameAs(first);
    }

    @Test
    void aStreamOpenOnADroppedChannelRunsToItsEnd() throws Exception {
      CompletableFuture<Void> release = new CompletableFuture<>();
      upstream.stream =
          (r, o) -> {
            o.onNext(started());
            release.thenRun(
                () -> {
                  o.onNext(text(" late"));
                  o.onNext(finished());
                  o.onNext(StreamChatResponse.newBuilder().setUsage(usage(1)).build());
                  o.onCompleted();
                });
          };
      RecordingStreamListener listener = new RecordingStreamListener();
      adapter.streamChat(call(backend().build(), Deadline.after(10, TimeUnit.SECONDS)), listener);
      awaitCondition(() -> !listener.events().isEmpty(), Duration.ofSeconds(5), "the stream started");

      ManagedChannel carrying = channels.get(backend().build());

      advance(Duration.ofHours(1));
      assertThat(channels.dropIdle()).isEqualTo(1);
      awaitCondition(carrying::isShutdown, Duration.ofSeconds(5), "the dropped channel shut down");
      release.complete(null);

      listener.awaitCompletion();
      assertThat(listener.text(0)).isEqualTo(" late");
    }

    @Test
    void closeShutsDownDroppedChannelsAtOnce() {
      ManagedChannel first = channels.get(backend().build());
      advance(Duration.ofHours(1));
      channels.dropIdle();

      channels.close();

      assertThat(first.isShutdown()).isTrue();
    }
  }
}
