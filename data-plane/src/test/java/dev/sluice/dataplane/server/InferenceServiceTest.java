package dev.sluice.dataplane.server;

import static dev.sluice.dataplane.server.GrpcErrors.badRequest;
import static dev.sluice.dataplane.server.GrpcErrors.errorInfo;
import static dev.sluice.dataplane.testing.TestConfigs.apiKey;
import static dev.sluice.dataplane.testing.TestConfigs.backend;
import static dev.sluice.dataplane.testing.TestConfigs.consumer;
import static dev.sluice.dataplane.testing.TestConfigs.expiring;
import static dev.sluice.dataplane.testing.TestConfigs.model;
import static dev.sluice.dataplane.testing.TestConfigs.plainKey;
import static dev.sluice.dataplane.testing.TestConfigs.runtimeConfig;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import com.google.rpc.BadRequest;
import com.google.rpc.ErrorInfo;
import dev.sluice.config.v1.PromptTemplate;
import dev.sluice.dataplane.auth.Authenticator;
import dev.sluice.dataplane.config.RuntimeConfig;
import dev.sluice.dataplane.config.ServingConfig;
import dev.sluice.dataplane.metrics.GatewayMetrics;
import dev.sluice.dataplane.overload.CallsInFlight;
import dev.sluice.dataplane.provider.UpstreamFailure;
import dev.sluice.dataplane.ratelimit.RateLimitTable;
import dev.sluice.dataplane.ratelimit.RateLimiter;
import dev.sluice.dataplane.ratelimit.TokenEstimator;
import dev.sluice.dataplane.routing.Router;
import dev.sluice.dataplane.testing.FakeProvider;
import dev.sluice.dataplane.testing.FakeProvider.Script;
import dev.sluice.inference.v1.ChatMessage;
import dev.sluice.inference.v1.ChatRequest;
import dev.sluice.inference.v1.ChatResponse;
import dev.sluice.inference.v1.ContentPart;
import dev.sluice.inference.v1.EmbedRequest;
import dev.sluice.inference.v1.EmbedResponse;
import dev.sluice.inference.v1.GetModelRequest;
import dev.sluice.inference.v1.ImagePart;
import dev.sluice.inference.v1.InferenceServiceGrpc;
import dev.sluice.inference.v1.ListModelsRequest;
import dev.sluice.inference.v1.ListModelsResponse;
import dev.sluice.inference.v1.ModelInfo;
import dev.sluice.inference.v1.PromptTemplateInput;
import dev.sluice.inference.v1.Role;
import dev.sluice.inference.v1.StreamChatRequest;
import dev.sluice.inference.v1.StreamChatResponse;
import dev.sluice.type.v1.ModelCapability;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import io.grpc.stub.MetadataUtils;
import java.net.InetSocketAddress;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

class InferenceServiceTest {
  private static final Duration WAIT = Duration.ofSeconds(10);
  private static final String ACME_KEY = plainKey("k-acme", "s3cret");
  private static final String ROOT_KEY = plainKey("k-root", "r00t");

  private final FakeProvider provider = new FakeProvider();
  private final ScheduledExecutorService scheduler = Executors.newSingleThreadScheduledExecutor();
  private final ServingConfig serving = new ServingConfig();
  private @Nullable Server server;
  private @Nullable ManagedChannel channel;

  static RuntimeConfig config(long version, Object... extra) {
    List<Object> resources = new ArrayList<>();
    resources.add(backend("b1"));
    resources.add(backend("b2"));
    resources.add(model("m1", "b1").toBuilder().addAliases("vendor/m1").build());
    resources.add(model("m2", "b2"));
    resources.add(model("premium", "b1").toBuilder().addGroups("gold").build());
    resources.add(
        model("e1", "b1").toBuilder()
            .addCapabilities(ModelCapability.MODEL_CAPABILITY_EMBEDDINGS)
            .build());
    resources.add(
        consumer("acme", "m1", "e1").toBuilder().addModelGroups("gold").setTenant("eu").build());
    resources.add(consumer("root", "*"));
    resources.add(apiKey("k-acme", "acme", "s3cret"));
    resources.add(apiKey("k-root", "root", "r00t"));
    resources.add(apiKey("k-revoked", "acme", "gone").toBuilder().setRevoked(true).build());
    resources.add(expiring(apiKey("k-old", "acme", "old"), Instant.now().minusSeconds(60)));
    resources.add(expiring(apiKey("k-fresh", "acme", "new"), Instant.now().plusSeconds(3600)));
    resources.addAll(List.of(extra));
    return runtimeConfig(version, resources.toArray());
  }

  @BeforeEach
  void serveConfig() {
    serving.serve(config(1));
  }

  void start(boolean allowAnonymous) throws Exception {
    server = server(serving, allowAnonymous, () -> false);
    channel =
        NettyChannelBuilder.forAddress("127.0.0.1", server.getPort())
            .usePlaintext()
            .flowControlWindow(64 * 1024)
            .build();
  }

  /** A rate limiter over the limits of the config {@code serving} serves. */
  static RateLimiter limiterOf(ServingConfig serving) {
    return RateLimiter.create(
        () -> {
          RuntimeConfig current = serving.current();
          return current == null ? RateLimitTable.empty() : current.rateLimits();
        },
        RateLimiter.Options.defaults());
  }

  @AfterEach
  void stop() throws Exception {
    if (channel != null) {
      channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
    if (server != null) {
      server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
    provider.close();
    scheduler.shutdownNow();
  }

  private static Metadata bearer(@Nullable String key) {
    Metadata headers = new Metadata();
    if (key != null) {
      headers.put(
          Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + key);
    }
    return headers;
  }

  private InferenceServiceGrpc.InferenceServiceBlockingStub blocking(@Nullable String key) {
    return InferenceServiceGrpc.newBlockingStub(channel)
        .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(bearer(key)))
        .withDeadlineAfter(WAIT.toMillis(), TimeUnit.MILLISECONDS);
  }

  private InferenceServiceGrpc.InferenceServiceStub async(@Nullable String key) {
    return InferenceServiceGrpc.newStub(channel)
        .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(bearer(key)));
  }

  static ChatRequest chat(String model) {
    return ChatRequest.newBuilder()
        .setModel(model)
        .addMessages(
            ChatMessage.newBuilder()
                .setRole(Role.ROLE_USER)
                .addParts(ContentPart.newBuilder().setText("hello")))
        .build();
  }

  static StreamChatRequest stream(String model) {
    return StreamChatRequest.newBuilder().setChat(chat(model)).build();
  }

  /** Everything a stream delivered, and how it ended. */
  record Outcome(List<StreamChatResponse> events, @Nullable StatusRuntimeException error) {
    String text() {
      StringBuilder sb = new StringBuilder();
      for (StreamChatResponse e : events) {
        sb.append(e.getContentDelta().getText());
      }
      return sb.toString();
    }
  }

  private Outcome streamAll(String key, StreamChatRequest request) {
    List<StreamChatResponse> events = new ArrayList<>();
    Iterator<StreamChatResponse> it = blocking(key).streamChat(request);
    try {
      while (it.hasNext()) {
        events.add(it.next());
      }
      return new Outcome(events, null);
    } catch (StatusRuntimeException e) {
      return new Outcome(events, e);
    }
  }

  private StatusRuntimeException chatError(@Nullable String key, String model) {
    return catchThrowableOfType(
        StatusRuntimeException.class, () -> blocking(key).chat(chat(model)));
  }

  @Nested
  class Authentication {
    @BeforeEach
    void startServer() throws Exception {
      start(false);
    }

    @Test
    void aCallWithoutAKeyIsUnauthenticated() {
      StatusRuntimeException e = chatError(null, "m1");

      assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED);
      assertThat(errorInfo(e).getReason()).isEqualTo("API_KEY_INVALID");
      assertThat(errorInfo(e).getDomain()).isEqualTo("sluice.dev");
      assertThat(provider.chatCalls).isEmpty();
    }

    @Test
    void unknownWrongRevokedAndExpiredKeysGetTheSameAnswer() {
      List<StatusRuntimeException> errors =
          List.of(
              chatError(plainKey("k-nobody", "s3cret"), "m1"),
              chatError(plainKey("k-acme", "wrong"), "m1"),
              chatError(plainKey("k-revoked", "gone"), "m1"),
              chatError(plainKey("k-old", "old"), "m1"),
              chatError("not-even-a-sluice-key", "m1"));

      for (StatusRuntimeException e : errors) {
        assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED);
        assertThat(e.getStatus().getDescription()).isEqualTo("invalid API key");
        assertThat(errorInfo(e).getReason()).isEqualTo("API_KEY_INVALID");
      }
    }

    @Test
    void theErrorNeverEchoesThePresentedSecret() {
      StatusRuntimeException e = chatError(plainKey("k-acme", "wrong-secret-value"), "m1");

      assertThat(e.toString()).doesNotContain("wrong-secret-value");
      assertThat(errorInfo(e).toString()).doesNotContain("wrong-secret-value");
    }

    @Test
    void aValidKeyIsAcceptedAsBearerOrAsXApiKey() {
      Metadata xApiKey = new Metadata();
      xApiKey.put(Metadata.Key.of("x-api-key", Metadata.ASCII_STRING_MARSHALLER), ACME_KEY);

      ChatResponse viaBearer = blocking(ACME_KEY).chat(chat("m1"));
      ChatResponse viaHeader =
          InferenceServiceGrpc.newBlockingStub(channel)
              .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(xApiKey))
              .chat(chat("m1"));
      ChatResponse notYetExpired = blocking(plainKey("k-fresh", "new")).chat(chat("m1"));

      assertThat(viaBearer.getModel()).isEqualTo("m1");
      assertThat(viaHeader.getModel()).isEqualTo("m1");
      assertThat(notYetExpired.getModel()).isEqualTo("m1");
    }

    @Test
    void anUngrantedModelAndAnUnknownModelGetTheSamePermissionDenied() {
      StatusRuntimeException exists = chatError(ACME_KEY, "m2");
      StatusRuntimeException unknown = chatError(ACME_KEY, "nope");

      for (StatusRuntimeException e : List.of(exists, unknown)) {
        assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.PERMISSION_DENIED);
        assertThat(errorInfo(e).getReason()).isEqualTo("MODEL_NOT_ALLOWED");
      }
      assertThat(exists.getStatus().getDescription().replace("m2", "X"))
          .isEqualTo(unknown.getStatus().getDescription().replace("nope", "X"));
      assertThat(provider.chatCalls).isEmpty();
    }

    @Test
    void aCallerGrantedEveryModelLearnsThatAModelDoesNotExist() {
      StatusRuntimeException e = chatError(ROOT_KEY, "nope");

      assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.NOT_FOUND);
      assertThat(errorInfo(e).getReason()).isEqualTo("MODEL_NOT_FOUND");
    }

    @Test
    void grantsCoverAliasesAndModelGroups() {
      assertThat(blocking(ACME_KEY).chat(chat("vendor/m1")).getModel()).isEqualTo("m1");
      assertThat(blocking(ACME_KEY).chat(chat("premium")).getModel()).isEqualTo("premium");
    }

    @Test
    void revokingAKeyTakesEffectWithTheNextConfig() {
      assertThat(blocking(ACME_KEY).chat(chat("m1")).getModel()).isEqualTo("m1");

      RuntimeConfig revoked =
          runtimeConfig(
              2,
              backend("b1"),
              model("m1", "b1"),
              consumer("acme", "m1"),
              apiKey("k-acme", "acme", "s3cret").toBuilder().setRevoked(true).build());
      serving.serve(revoked);

      assertThat(chatError(ACME_KEY, "m1").getStatus().getCode())
          .isEqualTo(Status.Code.UNAUTHENTICATED);
    }
  }

  @Nested
  class AnonymousAccess {
    @BeforeEach
    void startServer() throws Exception {
      start(true);
    }

    @Test
    void letsCallsWithoutAKeyUseEveryModel() {
      assertThat(blocking(null).chat(chat("m2")).getModel()).isEqualTo("m2");
      assertThat(chatError(null, "nope").getStatus().getCode()).isEqualTo(Status.Code.NOT_FOUND);
    }

    @Test
    void stillVerifiesAKeyThatIsPresented() {
      assertThat(chatError(plainKey("k-acme", "wrong"), "m1").getStatus().getCode())
          .isEqualTo(Status.Code.UNAUTHENTICATED);
      assertThat(chatError(ACME_KEY, "m2").getStatus().getCode())
          .isEqualTo(Status.Code.PERMISSION_DENIED);
    }
  }

  @Nested
  class Streaming {
    @BeforeEach
    void startServer() throws Exception {
      start(false);
    }

    @Test
    void deliversStartedThenDeltasThenChoiceFinishedThenUsage() {
      provider.byDefault(Script.tokens(4));

      Outcome outcome = streamAll(ACME_KEY, stream("m1"));

      assertThat(outcome.error()).isNull();
      assertThat(outcome.events())
          .extracting(StreamChatResponse::getEventCase)
          .containsExactly(
              StreamChatResponse.EventCase.STARTED,
              StreamChatResponse.EventCase.CONTENT_DELTA,
              StreamChatResponse.EventCase.CONTENT_DELTA,
              StreamChatResponse.EventCase.CONTENT_DELTA,
              StreamChatResponse.EventCase.CONTENT_DELTA,
              StreamChatResponse.EventCase.CHOICE_FINISHED,
              StreamChatResponse.EventCase.USAGE);
      var started = outcome.events().get(0).getStarted();
      assertThat(started.getModel()).isEqualTo("m1");
      assertThat(started.getModelVersion()).isEqualTo("v1");
      assertThat(started.getBackend()).isEqualTo("b1");
      assertThat(started.getProvider()).isEqualTo("openai_compatible");
      assertThat(started.getRequestId()).isNotEmpty();
      assertThat(started.getCreateTime().getSeconds()).isPositive();
      assertThat(outcome.text()).isEqualTo(FakeProvider.text(4));
      assertThat(outcome.events().get(6).getUsage()).isEqualTo(FakeProvider.usage(4));
    }

    @Test
    void echoesTheClientsRequestId() {
      StreamChatRequest request =
          StreamChatRequest.newBuilder()
              .setChat(chat("m1").toBuilder().setRequestId("client-req-42"))
              .build();

      Outcome outcome = streamAll(ACME_KEY, request);

      assertThat(outcome.events().get(0).getStarted().getRequestId()).isEqualTo("client-req-42");
      assertThat(provider.chatCalls.get(0).requestId()).isEqualTo("client-req-42");
    }

    @Test
    void anUpstreamFailureMidStreamEndsWithAnErrorAfterThePartialOutputAndUsage() {
      provider.byDefault(Script.breakAfter(3, UpstreamFailure.STREAM_BROKEN));

      Outcome outcome = streamAll(ACME_KEY, stream("m1"));

      assertThat(outcome.text()).isEqualTo(FakeProvider.text(3));
      StreamChatResponse last = outcome.events().get(outcome.events().size() - 1);
      assertThat(last.getUsage().getOutputTokens()).isEqualTo(3);
      assertThat(outcome.error()).isNotNull();
      assertThat(outcome.error().getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
      ErrorInfo info = errorInfo(outcome.error());
      assertThat(info.getReason()).isEqualTo("UPSTREAM_UNAVAILABLE");
      assertThat(info.getMetadataMap())
          .containsEntry("backend", "b1")
          .containsEntry("failure", "STREAM_BROKEN")
          .containsEntry("retryable", "false");
    }

    @Test
    void aFailureBeforeTheFirstEventIsAnErrorWithoutEvents() {
      provider.byDefault(Script.failBeforeStart(UpstreamFailure.SERVER_ERROR));

      Outcome outcome = streamAll(ACME_KEY, stream("m1"));

      assertThat(outcome.events()).isEmpty();
      assertThat(outcome.error().getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    }

    @Test
    void aSlowReaderPausesTheUpstreamUntilItReadsAgain() throws Exception {
      int tokens = 400;
      provider.byDefault(Script.tokens(tokens).padded(1024));
      List<StreamChatResponse> received = new CopyOnWriteArrayList<>();
      CountDownLatch done = new CountDownLatch(1);
      AtomicReference<ClientCallStreamObserver<StreamChatRequest>> requests =
          new AtomicReference<>();

      async(ACME_KEY)
          .streamChat(
              stream("m1"),
              new ClientResponseObserver<StreamChatRequest, StreamChatResponse>() {
                @Override
                public void beforeStart(ClientCallStreamObserver<StreamChatRequest> r) {
                  requests.set(r);
                  r.disableAutoRequestWithInitial(1);
                }

                @Override
                public void onNext(StreamChatResponse value) {
                  received.add(value);
                }

                @Override
                public void onError(Throwable t) {
                  done.countDown();
                }

                @Override
                public void onCompleted() {
                  done.countDown();
                }
              });
      FakeProvider.FakeStream upstream = awaitStream(0);

      assertThat(upstream.awaitPaused(WAIT)).isTrue();
      // Once the flow-control windows are full the upstream stays paused: nothing more is read.
      int emittedWhileStalled = awaitQuiescent(upstream, Duration.ofMillis(300));
      assertThat(emittedWhileStalled).isLessThan(tokens / 2);
      assertThat(received).hasSizeLessThan(3);

      requests.get().request(Integer.MAX_VALUE);
      assertThat(done.await(WAIT.toMillis(), TimeUnit.MILLISECONDS)).isTrue();
      assertThat(received).hasSize(tokens + 3);
    }

    @Test
    void clientCancellationCancelsTheUpstreamAtOnce() throws Exception {
      provider.byDefault(Script.tokens(10_000).paced(Duration.ofMillis(5)));
      CountDownLatch firstDelta = new CountDownLatch(2);
      AtomicReference<ClientCallStreamObserver<StreamChatRequest>> requests =
          new AtomicReference<>();

      async(ACME_KEY)
          .streamChat(
              stream("m1"),
              new ClientResponseObserver<StreamChatRequest, StreamChatResponse>() {
                @Override
                public void beforeStart(ClientCallStreamObserver<StreamChatRequest> r) {
                  requests.set(r);
                }

                @Override
                public void onNext(StreamChatResponse value) {
                  firstDelta.countDown();
                }

                @Override
                public void onError(Throwable t) {}

                @Override
                public void onCompleted() {}
              });
      assertThat(firstDelta.await(WAIT.toMillis(), TimeUnit.MILLISECONDS)).isTrue();
      requests.get().cancel("user pressed stop", null);

      FakeProvider.FakeStream upstream = provider.streams.get(0);
      assertThat(upstream.awaitCancelled(WAIT)).isTrue();
      assertThat(upstream.emitted()).isLessThan(10_000);
    }

    @Test
    void theClientsDeadlineCancelsTheUpstream() throws Exception {
      provider.byDefault(Script.hanging());

      StatusRuntimeException e =
          catchThrowableOfType(
              StatusRuntimeException.class,
              () ->
                  blocking(ACME_KEY)
                      .withDeadlineAfter(200, TimeUnit.MILLISECONDS)
                      .streamChat(stream("m1"))
                      .hasNext());

      assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.DEADLINE_EXCEEDED);
      FakeProvider.FakeStream upstream = awaitStream(0);
      assertThat(upstream.awaitCancelled(WAIT)).isTrue();
      assertThat(upstream.call.deadline()).isNotNull();
    }

    @Test
    void aConfigSwapDuringOpenStreamsBreaksNone() throws Exception {
      int streams = 40;
      provider.byDefault(Script.tokens(20).paced(Duration.ofMillis(10)));
      List<Outcome> outcomes = new CopyOnWriteArrayList<>();
      CountDownLatch done = new CountDownLatch(streams);
      ExecutorService clients = Executors.newFixedThreadPool(streams);
      try {
        for (int i = 0; i < streams; i++) {
          clients.execute(
              () -> {
                outcomes.add(streamAll(ACME_KEY, stream("m1")));
                done.countDown();
              });
        }

        awaitStream(streams - 1);
        for (long v = 2; v < 12; v++) {
          // Every other version drops model m1 altogether; streams in flight must not notice.
          serving.serve(
              v % 2 == 0 ? runtimeConfig(v, backend("b9"), model("other", "b9")) : config(v));
          Thread.sleep(10);
        }

        assertThat(done.await(WAIT.toMillis(), TimeUnit.MILLISECONDS)).isTrue();
      } finally {
        clients.shutdownNow();
      }
      assertThat(outcomes).hasSize(streams);
      for (Outcome outcome : outcomes) {
        assertThat(outcome.error()).isNull();
        assertThat(outcome.text()).isEqualTo(FakeProvider.text(20));
      }
    }
  }

  @Nested
  class Validation {
    @BeforeEach
    void startServer() throws Exception {
      start(false);
    }

    @Test
    void namesEachBadFieldByItsPath() {
      ChatRequest bad =
          chat("m1").toBuilder()
              .addMessages(
                  ChatMessage.newBuilder()
                      .setRole(Role.ROLE_USER)
                      .addParts(
                          ContentPart.newBuilder()
                              .setImage(
                                  ImagePart.newBuilder()
                                      .setData(
                                          com.google.protobuf.ByteString.copyFromUtf8("png")))))
              .setTemperature(3)
              .build();

      StatusRuntimeException e =
          catchThrowableOfType(
              StatusRuntimeException.class,
              () ->
                  blocking(ACME_KEY)
                      .streamChat(StreamChatRequest.newBuilder().setChat(bad).build())
                      .hasNext());

      assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
      assertThat(errorInfo(e).getReason()).isEqualTo("INVALID_REQUEST");
      assertThat(badRequest(e).getFieldViolationsList())
          .extracting(BadRequest.FieldViolation::getField)
          .containsExactly("chat.messages[1].parts[0].image.mime_type", "chat.temperature");
      assertThat(provider.chatCalls).isEmpty();
    }

    @Test
    void rejectsAMessageWithoutParts() {
      ChatRequest bad =
          chat("m1").toBuilder()
              .addMessages(ChatMessage.newBuilder().setRole(Role.ROLE_USER))
              .build();

      StatusRuntimeException e =
          catchThrowableOfType(StatusRuntimeException.class, () -> blocking(ACME_KEY).chat(bad));

      assertThat(badRequest(e).getFieldViolations(0).getField()).isEqualTo("messages[1].parts");
    }

    @Test
    void rejectsAStreamRequestWithoutItsChat() {
      StatusRuntimeException e =
          catchThrowableOfType(
              StatusRuntimeException.class,
              () ->
                  blocking(ACME_KEY).streamChat(StreamChatRequest.getDefaultInstance()).hasNext());

      assertThat(badRequest(e).getFieldViolations(0).getField()).isEqualTo("chat");
    }

    @Test
    void rejectsAnOperationTheModelDoesNotSupport() {
      StatusRuntimeException e =
          catchThrowableOfType(
              StatusRuntimeException.class, () -> blocking(ACME_KEY).chat(chat("e1")));

      assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
      assertThat(badRequest(e).getFieldViolations(0).getField()).isEqualTo("model");
    }
  }

  @Nested
  class UnaryCalls {
    @BeforeEach
    void startServer() throws Exception {
      start(false);
    }

    @Test
    void chatAnswersWithTheGatewayFieldsFilledIn() {
      ChatResponse response = blocking(ACME_KEY).chat(chat("vendor/m1"));

      assertThat(response.getModel()).isEqualTo("m1");
      assertThat(response.getModelVersion()).isEqualTo("v1");
      assertThat(response.getBackend()).isEqualTo("b1");
      assertThat(response.getRequestId()).isNotEmpty();
      assertThat(response.getUsage()).isEqualTo(FakeProvider.usage(3));
    }

    @Test
    void upstreamErrorsAreMappedFaithfully() {
      provider.byDefault(Script.failBeforeStart(UpstreamFailure.RATE_LIMITED));

      StatusRuntimeException e = chatError(ACME_KEY, "m1");

      assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
      assertThat(errorInfo(e).getMetadataMap()).containsEntry("backend", "b1");
    }

    @Test
    void embedServesAnEmbeddingModel() {
      EmbedResponse response =
          blocking(ACME_KEY).embed(EmbedRequest.newBuilder().setModel("e1").addInputs("a").build());

      assertThat(response.getEmbeddingsCount()).isEqualTo(1);
      assertThat(response.getModel()).isEqualTo("e1");
    }

    @Test
    void rendersAPromptTemplateBeforeTheInstructions() {
      PromptTemplate template =
          PromptTemplate.newBuilder()
              .setName("greeter")
              .setText("Greet {{ who }} in {{lang}}. \\{{x}}")
              .build();
      serving.serve(config(2, template));
      ChatRequest request =
          chat("m1").toBuilder()
              .addInstructions(ContentPart.newBuilder().setText("Be brief."))
              .setPromptTemplate(
                  PromptTemplateInput.newBuilder()
                      .setName("greeter")
                      .setVariables(
                          Struct.newBuilder()
                              .putFields("who", Value.newBuilder().setStringValue("Ada").build())
                              .putFields("lang", Value.newBuilder().setNumberValue(3).build())))
              .build();

      blocking(ACME_KEY).chat(request);

      ChatRequest sent = provider.chatCalls.get(0).request();
      assertThat(sent.hasPromptTemplate()).isFalse();
      assertThat(sent.getInstructionsList())
          .extracting(ContentPart::getText)
          .containsExactly("Greet Ada in 3.0. {{x}}", "Be brief.");
    }

    @Test
    void anUnknownPromptTemplateIsABadRequest() {
      ChatRequest request =
          chat("m1").toBuilder()
              .setPromptTemplate(PromptTemplateInput.newBuilder().setName("nope"))
              .build();

      StatusRuntimeException e =
          catchThrowableOfType(
              StatusRuntimeException.class, () -> blocking(ACME_KEY).chat(request));

      assertThat(badRequest(e).getFieldViolations(0).getField()).isEqualTo("prompt_template.name");
    }
  }

  @Nested
  class ModelCatalog {
    @BeforeEach
    void startServer() throws Exception {
      start(false);
    }

    @Test
    void listsOnlyTheModelsTheCallerIsGrantedInNameOrder() {
      ListModelsResponse response =
          blocking(ACME_KEY).listModels(ListModelsRequest.getDefaultInstance());

      assertThat(response.getModelsList())
          .extracting(ModelInfo::getName)
          .containsExactly("e1", "m1", "premium");
      assertThat(response.getModels(1).getAliasesList()).containsExactly("vendor/m1");
      assertThat(response.getNextPageToken()).isEmpty();
    }

    @Test
    void pagesThroughTheModels() {
      ListModelsResponse first =
          blocking(ROOT_KEY).listModels(ListModelsRequest.newBuilder().setPageSize(2).build());
      ListModelsResponse second =
          blocking(ROOT_KEY)
              .listModels(
                  ListModelsRequest.newBuilder()
                      .setPageSize(2)
                      .setPageToken(first.getNextPageToken())
                      .build());

      assertThat(first.getModelsList()).extracting(ModelInfo::getName).containsExactly("e1", "m1");
      assertThat(first.getNextPageToken()).isNotEmpty();
      assertThat(second.getModelsList())
          .extracting(ModelInfo::getName)
          .containsExactly("m2", "premium");
      assertThat(second.getNextPageToken()).isEmpty();
    }

    @Test
    void rejectsAMalformedPageToken() {
      StatusRuntimeException e =
          catchThrowableOfType(
              StatusRuntimeException.class,
              () ->
                  blocking(ROOT_KEY)
                      .listModels(ListModelsRequest.newBuilder().setPageToken("%%%").build()));

      assertThat(badRequest(e).getFieldViolations(0).getField()).isEqualTo("page_token");
    }

    @Test
    void getsAModelByAliasOnlyWhenGranted() {
      assertThat(
              blocking(ACME_KEY)
                  .getModel(GetModelRequest.newBuilder().setName("vendor/m1").build())
                  .getModel()
                  .getName())
          .isEqualTo("m1");
      assertThatThrownBy(
              () -> blocking(ACME_KEY).getModel(GetModelRequest.newBuilder().setName("m2").build()))
          .isInstanceOfSatisfying(
              StatusRuntimeException.class,
              e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.PERMISSION_DENIED));
    }
  }

  /** An inference server on loopback over {@code config}; stop it after. */
  private Server server(
      ServingConfig config, boolean allowAnonymous, java.util.function.BooleanSupplier overloaded)
      throws java.io.IOException {
    return server(config, allowAnonymous, overloaded, CallsInFlight.unlimited());
  }

  private Server server(
      ServingConfig config,
      boolean allowAnonymous,
      java.util.function.BooleanSupplier overloaded,
      CallsInFlight inFlight)
      throws java.io.IOException {
    return NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
        .directExecutor()
        .addService(
            InferenceServiceImpl.definition(
                config,
                Authenticator.apiKeys(allowAnonymous, Clock.systemUTC()),
                Router.create(kind -> provider, scheduler, GatewayMetrics.NOOP),
                GatewayMetrics.NOOP,
                limiterOf(config),
                TokenEstimator.charsPerToken(),
                overloaded,
                inFlight))
        .build()
        .start();
  }

  @Nested
  class Overload {
    @Test
    void anOverloadedNodeRefusesNewCallsWithRetryInfoAndLetsRunningStreamsFinish() throws Exception {
      provider.byDefault(Script.tokens(20).paced(Duration.ofMillis(20)));
      java.util.concurrent.atomic.AtomicBoolean overloaded =
          new java.util.concurrent.atomic.AtomicBoolean();
      Server shedding = server(serving, true, overloaded::get);
      ManagedChannel c =
          NettyChannelBuilder.forAddress("127.0.0.1", shedding.getPort()).usePlaintext().build();
      try {
        java.util.Iterator<StreamChatResponse> running =
            InferenceServiceGrpc.newBlockingStub(c)
                .withDeadlineAfter(WAIT.toMillis(), TimeUnit.MILLISECONDS)
                .streamChat(StreamChatRequest.newBuilder().setChat(chat("m1")).build());
        assertThat(running.next().hasStarted()).isTrue();

        overloaded.set(true);
        StatusRuntimeException refused =
            catchThrowableOfType(
                StatusRuntimeException.class,
                () -> InferenceServiceGrpc.newBlockingStub(c).chat(chat("m1")));
        int eventsAfter = 0;
        while (running.hasNext()) {
          running.next();
          eventsAfter++;
        }
        overloaded.set(false);

        assertThat(refused.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
        assertThat(errorInfo(refused).getReason()).isEqualTo("OVERLOADED");
        assertThat(GrpcErrors.retryInfo(refused).getRetryDelay().getSeconds()).isEqualTo(1);
        assertThat(eventsAfter).as("the running stream went on to its end").isGreaterThan(20);
        assertThat(InferenceServiceGrpc.newBlockingStub(c).chat(chat("m1")).getModel())
            .isEqualTo("m1");
      } finally {
        c.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        shedding.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      }
    }
  }

  @Nested
  class CallsInFlightCeiling {
    @Test
    void aNodeAtItsCeilingRefusesTheNextCallUntilARunningOneEnds() throws Exception {
      provider.byDefault(Script.tokens(20).paced(Duration.ofMillis(20)));
      CallsInFlight inFlight = CallsInFlight.atMost(1);
      onServerWith(
          inFlight,
          c -> {
            java.util.Iterator<StreamChatResponse> running =
                InferenceServiceGrpc.newBlockingStub(c)
                    .withDeadlineAfter(WAIT.toMillis(), TimeUnit.MILLISECONDS)
                    .streamChat(StreamChatRequest.newBuilder().setChat(chat("m1")).build());
            assertThat(running.next().hasStarted()).isTrue();

            StatusRuntimeException refused =
                catchThrowableOfType(
                    StatusRuntimeException.class,
                    () -> InferenceServiceGrpc.newBlockingStub(c).chat(chat("m1")));
            assertThat(inFlight.current()).as("the refused call took no place").isEqualTo(1);
            while (running.hasNext()) {
              running.next();
            }

            assertThat(refused.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
            assertThat(errorInfo(refused).getReason()).isEqualTo("OVERLOADED");
            assertThat(errorInfo(refused).getMetadataMap())
                .containsEntry("signal", "calls_in_flight");
            assertThat(GrpcErrors.retryInfo(refused).getRetryDelay().getNanos())
                .isEqualTo(100_000_000);
            assertThat(InferenceServiceGrpc.newBlockingStub(c).chat(chat("m1")).getModel())
                .isEqualTo("m1");
            assertThat(inFlight.current()).as("every call gave its place back").isZero();
          });
    }

    @Test
    void aStreamTheClientCancelsGivesItsPlaceBack() throws Exception {
      provider.byDefault(Script.tokens(10_000).paced(Duration.ofMillis(5)));
      CallsInFlight inFlight = CallsInFlight.atMost(1);
      onServerWith(
          inFlight,
          c -> {
            io.grpc.Context.CancellableContext cancellable =
                io.grpc.Context.current().withCancellation();
            java.util.Iterator<StreamChatResponse> running =
                cancellable.call(
                    () ->
                        InferenceServiceGrpc.newBlockingStub(c)
                            .streamChat(
                                StreamChatRequest.newBuilder().setChat(chat("m1")).build()));
            assertThat(running.next().hasStarted()).isTrue();
            assertThat(inFlight.current()).isEqualTo(1);

            cancellable.cancel(null);

            long deadline = System.nanoTime() + WAIT.toNanos();
            while (inFlight.current() != 0 && System.nanoTime() < deadline) {
              Thread.sleep(5);
            }
            assertThat(inFlight.current()).as("the cancelled stream's place").isZero();
            assertThat(InferenceServiceGrpc.newBlockingStub(c).chat(chat("m1")).getModel())
                .isEqualTo("m1");
          });
    }

    /** Runs {@code test} with a channel to a server that admits {@code inFlight}; stops both. */
    private void onServerWith(CallsInFlight inFlight, ChannelTest test) throws Exception {
      Server bounded = server(serving, true, () -> false, inFlight);
      ManagedChannel c =
          NettyChannelBuilder.forAddress("127.0.0.1", bounded.getPort()).usePlaintext().build();
      try {
        test.run(c);
      } finally {
        c.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        bounded.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      }
    }
  }

  /** A test body that talks to a server over a channel. */
  private interface ChannelTest {
    void run(ManagedChannel channel) throws Exception;
  }

  @Nested
  class WithoutConfig {
    @Test
    void aNodeWithoutConfigIsUnavailable() throws Exception {
      ServingConfig empty = new ServingConfig();
      Server bare = server(empty, true, () -> false);
      ManagedChannel c =
          NettyChannelBuilder.forAddress("127.0.0.1", bare.getPort()).usePlaintext().build();
      try {
        StatusRuntimeException e =
            catchThrowableOfType(
                StatusRuntimeException.class,
                () -> InferenceServiceGrpc.newBlockingStub(c).chat(chat("m1")));

        assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
        assertThat(errorInfo(e).getReason()).isEqualTo("NOT_SERVING");
      } finally {
        c.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        bare.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      }
    }
  }

  /** Waits until the stream emitted nothing for {@code quiet}; returns how much it emitted. */
  private static int awaitQuiescent(FakeProvider.FakeStream stream, Duration quiet)
      throws InterruptedException {
    long deadline = System.nanoTime() + WAIT.toNanos();
    int last = stream.emitted();
    while (System.nanoTime() < deadline) {
      Thread.sleep(quiet.toMillis());
      int now = stream.emitted();
      if (now == last) {
        return now;
      }
      last = now;
    }
    throw new AssertionError("the stream never stopped emitting: " + last);
  }

  private FakeProvider.FakeStream awaitStream(int index) throws InterruptedException {
    long deadline = System.nanoTime() + WAIT.toNanos();
    while (provider.streams.size() <= index) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("no stream " + index);
      }
      Thread.sleep(5);
    }
    return provider.streams.get(index);
  }
}
