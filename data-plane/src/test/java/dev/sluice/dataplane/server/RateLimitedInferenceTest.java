package dev.sluice.dataplane.server;

import static dev.sluice.dataplane.server.GrpcErrors.errorInfo;
import static dev.sluice.dataplane.server.GrpcErrors.quotaFailure;
import static dev.sluice.dataplane.server.GrpcErrors.retryInfo;
import static dev.sluice.dataplane.testing.TestConfigs.apiKey;
import static dev.sluice.dataplane.testing.TestConfigs.backend;
import static dev.sluice.dataplane.testing.TestConfigs.consumer;
import static dev.sluice.dataplane.testing.TestConfigs.model;
import static dev.sluice.dataplane.testing.TestConfigs.plainKey;
import static dev.sluice.dataplane.testing.TestConfigs.runtimeConfig;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import com.google.protobuf.util.Durations;
import com.google.rpc.QuotaFailure;
import dev.sluice.config.v1.RateLimit;
import dev.sluice.config.v1.RateLimitDimension;
import dev.sluice.config.v1.RateLimitMetric;
import dev.sluice.config.v1.RateLimitPolicy;
import dev.sluice.config.v1.RetryCondition;
import dev.sluice.config.v1.RetryPolicy;
import dev.sluice.config.v1.Route;
import dev.sluice.config.v1.RouteMatch;
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
import dev.sluice.grpc.ErrorMapper;
import dev.sluice.inference.v1.ChatMessage;
import dev.sluice.inference.v1.ChatRequest;
import dev.sluice.inference.v1.ContentPart;
import dev.sluice.inference.v1.EmbedRequest;
import dev.sluice.inference.v1.InferenceServiceGrpc;
import dev.sluice.inference.v1.Role;
import dev.sluice.inference.v1.StreamChatRequest;
import dev.sluice.inference.v1.StreamChatResponse;
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
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Rate limits on the inference API, over real gRPC: admission before any upstream call, refusals
 * as clients see them, and settlement of every admitted call however it ends.
 *
 * <p>The limiter's clock stands still, so nothing ages out of a window during a test: every
 * assertion about what fits follows from what was charged, never from timing. Where a test needs
 * a previous call to have settled, it relies on the fact that the server handles one connection's
 * frames in order: a call's end (or its cancellation) is processed, and its reservation settled,
 * before the next call on the same channel is admitted.
 */
class RateLimitedInferenceTest {
  private static final Duration WAIT = Duration.ofSeconds(10);
  private static final String ACME_KEY = plainKey("k-acme", "s3cret");
  private static final String ROOT_KEY = plainKey("k-root", "r00t");

  /** The estimator of the data plane, loaded once for the class. */
  private static final TokenEstimator ESTIMATOR = TokenEstimator.cl100k();

  /** Tokens allowed per minute by the token limits below. */
  private static final long TOKEN_LIMIT = 100;

  private final FakeProvider provider = new FakeProvider();
  private final ScheduledExecutorService scheduler = Executors.newSingleThreadScheduledExecutor();
  private final ServingConfig serving = new ServingConfig();
  private long version;
  private @Nullable Server server;
  private @Nullable ManagedChannel channel;

  @BeforeEach
  void start() throws Exception {
    RateLimiter limiter =
        RateLimiter.create(
            () -> {
              RuntimeConfig current = serving.current();
              return current == null ? RateLimitTable.empty() : current.rateLimits();
            },
            RateLimiter.Options.builder().nanoTicker(() -> 1_000_000_000L).build());
    server =
        NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
            .directExecutor()
            .addService(
                InferenceServiceImpl.definition(
                    serving,
                    Authenticator.apiKeys(false, Clock.systemUTC()),
                    Router.create(kind -> provider, scheduler, GatewayMetrics.NOOP),
                    GatewayMetrics.NOOP,
                    limiter,
                    ESTIMATOR,
                    () -> false,
                    CallsInFlight.unlimited()))
            .build()
            .start();
    channel = NettyChannelBuilder.forAddress("127.0.0.1", server.getPort()).usePlaintext().build();
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

  // ---------------------------------------------------------------------------------------------
  // Requests

  @Test
  void theFourthCallWithinAThreeRequestsPerMinuteLimitIsRefusedWithoutAnUpstreamCall() {
    serve(
        List.of("three-a-minute"),
        policy("three-a-minute", RateLimitDimension.RATE_LIMIT_DIMENSION_CONSUMER, requests(3)));
    for (int i = 0; i < 3; i++) {
      blocking(ACME_KEY).chat(chat("m1"));
    }

    StatusRuntimeException e = chatError(ACME_KEY, chat("m1"));

    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
    assertThat(errorInfo(e).getReason()).isEqualTo("RATE_LIMITED");
    assertThat(errorInfo(e).getMetadataMap()).containsEntry("policy", "three-a-minute");
    QuotaFailure.Violation violation = quotaFailure(e).getViolations(0);
    assertThat(quotaFailure(e).getViolationsCount()).isEqualTo(1);
    assertThat(violation.getSubject()).isEqualTo("consumer:acme/policy:three-a-minute/limit:0");
    assertThat(violation.getQuotaId()).isEqualTo("three-a-minute/limit:0");
    assertThat(violation.getQuotaValue()).isEqualTo(3);
    assertThat(violation.getQuotaDimensionsMap()).containsExactlyEntriesOf(Map.of("consumer", "acme"));
    long retryMillis = Durations.toMillis(retryInfo(e).getRetryDelay());
    // Until the first request leaves the window, rounded up to a whole millisecond.
    assertThat(retryMillis).isBetween(1L, Duration.ofMinutes(1).toMillis() + 1);
    assertThat(e.getTrailers().get(ErrorMapper.RETRY_PUSHBACK_MS))
        .isEqualTo(Long.toString(retryMillis));
    assertThat(provider.chatCalls).hasSize(3);
  }

  @Test
  void unaryChatsStreamsAndEmbeddingsDrawFromTheSameLimit() {
    serve(
        List.of("three-a-minute"),
        policy("three-a-minute", RateLimitDimension.RATE_LIMIT_DIMENSION_CONSUMER, requests(3)));
    blocking(ACME_KEY).chat(chat("m1"));
    assertThat(streamAll(ACME_KEY, stream(chat("m1"))).error()).isNull();
    blocking(ACME_KEY).embed(embed("a"));

    StatusRuntimeException stream = streamAll(ACME_KEY, stream(chat("m1"))).error();
    StatusRuntimeException embedding =
        catchThrowableOfType(StatusRuntimeException.class, () -> blocking(ACME_KEY).embed(embed("b")));

    assertThat(stream).isNotNull();
    assertThat(stream.getStatus().getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
    assertThat(stream.getTrailers().get(ErrorMapper.RETRY_PUSHBACK_MS)).isNotNull();
    assertThat(embedding.getStatus().getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
    assertThat(provider.chatCalls).hasSize(2);
    assertThat(provider.streams).hasSize(1);
    assertThat(provider.embedCalls).hasSize(1);
  }

  @Test
  void aRequestIsCountedOnceHoweverManyAttemptsTheRouterMakes() {
    serve(
        List.of("two-a-minute"),
        policy("two-a-minute", RateLimitDimension.RATE_LIMIT_DIMENSION_CONSUMER, requests(2)),
        Route.newBuilder()
            .setName("retrying")
            .setMatch(RouteMatch.newBuilder().addModels("m1"))
            .setRetryPolicy(
                RetryPolicy.newBuilder()
                    .setMaxAttempts(3)
                    .addRetryOn(RetryCondition.RETRY_CONDITION_SERVER_ERROR)
                    .setBackoffBaseInterval(Durations.fromMillis(1))
                    .setBackoffMaxInterval(Durations.fromMillis(5)))
            .build());
    provider.script(
        "b1",
        Script.failBeforeStart(UpstreamFailure.SERVER_ERROR),
        Script.failBeforeStart(UpstreamFailure.SERVER_ERROR));

    blocking(ACME_KEY).chat(chat("m1"));
    blocking(ACME_KEY).chat(chat("m1"));
    StatusRuntimeException third = chatError(ACME_KEY, chat("m1"));

    assertThat(provider.chatCalls).hasSize(4);
    assertThat(third.getStatus().getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
  }

  @Test
  void routePoliciesAndConsumerPoliciesBothApply() {
    serve(
        List.of("per-consumer"),
        policy("per-model", RateLimitDimension.RATE_LIMIT_DIMENSION_MODEL, requests(2)),
        policy("per-consumer", RateLimitDimension.RATE_LIMIT_DIMENSION_CONSUMER, requests(3)),
        Route.newBuilder()
            .setName("m1-route")
            .setMatch(RouteMatch.newBuilder().addModels("m1"))
            .addRateLimitPolicies("per-model")
            .build());

    blocking(ACME_KEY).chat(chat("m1"));
    blocking(ROOT_KEY).chat(chat("m1"));
    StatusRuntimeException byRoute = chatError(ACME_KEY, chat("m1"));
    blocking(ACME_KEY).chat(chat("premium"));
    blocking(ACME_KEY).chat(chat("premium"));
    StatusRuntimeException byConsumer = chatError(ACME_KEY, chat("premium"));
    StatusRuntimeException byBoth = chatError(ACME_KEY, chat("m1"));

    assertThat(subjects(byRoute)).containsExactly("model:m1/policy:per-model/limit:0");
    assertThat(subjects(byConsumer)).containsExactly("consumer:acme/policy:per-consumer/limit:0");
    assertThat(subjects(byBoth))
        .containsExactly(
            "model:m1/policy:per-model/limit:0", "consumer:acme/policy:per-consumer/limit:0");
    assertThat(provider.chatCalls).hasSize(4);
  }

  // ---------------------------------------------------------------------------------------------
  // Tokens: reservation and settlement

  @Test
  void aCompletedStreamSettlesWithItsRealUsageSoTheRestOfItsReservationIsGivenBack() {
    serveTokenLimit();
    long prompt = promptTokens();

    // Reserves the whole limit; uses FakeProvider.usage(3): 7 input + 3 output tokens.
    assertThat(streamAll(ACME_KEY, stream(chat("m1", TOKEN_LIMIT - prompt))).error()).isNull();
    long left = TOKEN_LIMIT - FakeProvider.usage(3).getTotalTokens();

    assertThat(refusedToReserve(left + 1)).isTrue();
    assertThat(streamAll(ACME_KEY, stream(chat("m1", left - prompt))).error()).isNull();
    assertThat(provider.streams).hasSize(2);
  }

  @Test
  void aCompletedStreamWithoutUsageIsChargedItsPromptAndTheOutputItStreamed() {
    serveTokenLimit();
    long prompt = promptTokens();
    provider.script("b1", Script.tokens(4).withoutUsage());

    assertThat(streamAll(ACME_KEY, stream(chat("m1", TOKEN_LIMIT - prompt))).error()).isNull();

    // "t0 t1 t2 t3 ": 12 characters, 3 tokens at four characters per token.
    long left = TOKEN_LIMIT - prompt - 3;
    assertThat(refusedToReserve(left + 1)).isTrue();
    assertThat(streamAll(ACME_KEY, stream(chat("m1", left - prompt))).error()).isNull();
  }

  @Test
  void aStreamInFlightHoldsItsReservationAndReleasesItWhenCancelledBeforeAnyUpstreamAnswered()
      throws Exception {
    serveTokenLimit();
    long prompt = promptTokens();
    provider.script("b1", Script.hanging());
    ClientCallStreamObserver<StreamChatRequest> first =
        startStream(stream(chat("m1", TOKEN_LIMIT - prompt)), new CountDownLatch(0));
    FakeProvider.FakeStream upstream = awaitStream(0);

    assertThat(refusedToReserve(prompt + 1)).isTrue();
    first.cancel("user pressed stop", null);
    assertThat(upstream.awaitCancelled(WAIT)).isTrue();

    assertThat(streamAll(ACME_KEY, stream(chat("m1", TOKEN_LIMIT - prompt))).error()).isNull();
  }

  @Test
  void aCancelledStreamIsChargedItsPromptAndTheOutputItStreamed() throws Exception {
    serveTokenLimit();
    long prompt = promptTokens();
    int tokens = 8;
    provider.script("b1", Script.stallAfter(tokens));
    CountDownLatch received = new CountDownLatch(1 + tokens);
    ClientCallStreamObserver<StreamChatRequest> call =
        startStream(stream(chat("m1", TOKEN_LIMIT - prompt)), received);
    assertThat(received.await(WAIT.toMillis(), TimeUnit.MILLISECONDS)).isTrue();

    call.cancel("user pressed stop", null);
    assertThat(awaitStream(0).awaitCancelled(WAIT)).isTrue();

    // Output measured at four characters per token: tokens "t0 " to "t7 ", 24 characters.
    long output = (FakeProvider.text(tokens).length() + 3) / 4;
    long left = TOKEN_LIMIT - prompt - output;
    assertThat(refusedToReserve(left + 1)).isTrue();
    assertThat(streamAll(ACME_KEY, stream(chat("m1", left - prompt))).error()).isNull();
  }

  @Test
  void aBrokenStreamIsChargedTheUsageReportedSoFar() {
    serveTokenLimit();
    long prompt = promptTokens();
    provider.script("b1", Script.breakAfter(5, UpstreamFailure.STREAM_BROKEN));

    Outcome broken = streamAll(ACME_KEY, stream(chat("m1", TOKEN_LIMIT - prompt)));

    assertThat(broken.error()).isNotNull();
    assertThat(broken.error().getStatus().getCode()).isNotEqualTo(Status.Code.RESOURCE_EXHAUSTED);
    long left = TOKEN_LIMIT - FakeProvider.usage(5).getTotalTokens();
    assertThat(refusedToReserve(left + 1)).isTrue();
    assertThat(streamAll(ACME_KEY, stream(chat("m1", left - prompt))).error()).isNull();
  }

  @Test
  void aStreamThatNoUpstreamAcceptedIsReleased() {
    serveTokenLimit();
    long prompt = promptTokens();
    provider.script("b1", Script.failBeforeStart(UpstreamFailure.SERVER_ERROR));

    Outcome failed = streamAll(ACME_KEY, stream(chat("m1", TOKEN_LIMIT - prompt)));

    assertThat(failed.error()).isNotNull();
    assertThat(failed.events()).isEmpty();
    assertThat(streamAll(ACME_KEY, stream(chat("m1", TOKEN_LIMIT - prompt))).error()).isNull();
  }

  @Test
  void aStreamSettlesAgainstItsOwnReservationWhenTheConfigChangesWhileItRuns() throws Exception {
    serveTokenLimit();
    long prompt = promptTokens();
    provider.script("b1", Script.tokens(3).paced(Duration.ofMillis(20)));
    CountDownLatch received = new CountDownLatch(1);
    AtomicReference<@Nullable Throwable> error = new AtomicReference<>();
    CountDownLatch done = new CountDownLatch(1);
    async(ACME_KEY)
        .streamChat(
            stream(chat("m1", TOKEN_LIMIT - prompt)), observer(received, error, done));
    awaitStream(0);

    serveTokenLimit(backend("b9"), model("other", "b9"));
    assertThat(done.await(WAIT.toMillis(), TimeUnit.MILLISECONDS)).isTrue();

    assertThat(error.get()).isNull();
    long left = TOKEN_LIMIT - FakeProvider.usage(3).getTotalTokens();
    assertThat(refusedToReserve(left + 1)).isTrue();
    assertThat(streamAll(ACME_KEY, stream(chat("m1", left - prompt))).error()).isNull();
  }

  @Test
  void aUnaryChatSettlesWithTheUsageOfItsResponse() {
    serveTokenLimit();
    long prompt = promptTokens();

    blocking(ACME_KEY).chat(chat("m1", TOKEN_LIMIT - prompt));

    long left = TOKEN_LIMIT - FakeProvider.usage(3).getTotalTokens();
    assertThat(refusedToReserve(left + 1)).isTrue();
    blocking(ACME_KEY).chat(chat("m1", left - prompt));
  }

  @Test
  void aUnaryChatWhoseProviderReportsNoUsageIsChargedItsPromptAndItsMeasuredOutput() {
    serveTokenLimit();
    long prompt = promptTokens();
    provider.script("b1", Script.tokens(3).withoutUsage());

    blocking(ACME_KEY).chat(chat("m1", TOKEN_LIMIT - prompt));

    // "t0 t1 t2 ": 9 characters, 3 tokens at four characters per token.
    long left = TOKEN_LIMIT - prompt - 3;
    assertThat(refusedToReserve(left + 1)).isTrue();
    blocking(ACME_KEY).chat(chat("m1", left - prompt));
  }

  @Test
  void aUnaryChatCutShortByItsDeadlineIsChargedItsPrompt() throws Exception {
    serveTokenLimit();
    long prompt = promptTokens();
    provider.script("b1", Script.hanging());

    StatusRuntimeException e =
        catchThrowableOfType(
            StatusRuntimeException.class,
            () ->
                blocking(ACME_KEY)
                    .withDeadlineAfter(200, TimeUnit.MILLISECONDS)
                    .chat(chat("m1", TOKEN_LIMIT - prompt)));
    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.DEADLINE_EXCEEDED);
    awaitUnaryCancelled(0);

    long left = TOKEN_LIMIT - prompt;
    assertThat(refusedToReserve(left + 1)).isTrue();
    blocking(ACME_KEY).chat(chat("m1", left - prompt));
  }

  @Test
  void embeddingsReserveTheTokensOfTheirInputsAndSettleWithTheirUsage() {
    serveTokenLimit();
    long prompt = promptTokens();

    blocking(ACME_KEY).embed(embed("a fairly short text to embed"));

    long left = TOKEN_LIMIT - FakeProvider.INPUT_TOKENS;
    assertThat(refusedToReserve(left + 1)).isTrue();
    blocking(ACME_KEY).chat(chat("m1", left - prompt));
  }

  @Test
  void aRequestLargerThanTheLimitIsRefusedWithoutRetryInfo() {
    serveTokenLimit();

    StatusRuntimeException e = chatError(ACME_KEY, chat("m1", TOKEN_LIMIT));

    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
    assertThat(quotaFailure(e).getViolations(0).getDescription()).contains("max_output_tokens");
    assertThat(e.getTrailers().get(ErrorMapper.RETRY_PUSHBACK_MS)).isNull();
    assertThat(provider.chatCalls).isEmpty();
  }

  // ---------------------------------------------------------------------------------------------
  // Config and fixtures

  /** Serves the test config: acme subject to {@code acmePolicies}, plus {@code extra}. */
  private void serve(List<String> acmePolicies, Object... extra) {
    List<Object> resources = new ArrayList<>();
    resources.add(backend("b1"));
    resources.add(backend("b2"));
    resources.add(model("m1", "b1"));
    resources.add(model("m2", "b2"));
    resources.add(model("premium", "b1").toBuilder().addGroups("gold").build());
    resources.add(model("e1", "b1"));
    resources.add(
        consumer("acme", "m1", "e1").toBuilder()
            .addModelGroups("gold")
            .setTenant("eu")
            .addAllRateLimitPolicies(acmePolicies)
            .build());
    resources.add(consumer("root", "*"));
    resources.add(apiKey("k-acme", "acme", "s3cret"));
    resources.add(apiKey("k-root", "root", "r00t"));
    resources.addAll(List.of(extra));
    serving.serve(runtimeConfig(++version, resources.toArray()));
  }

  /** Acme may use {@value #TOKEN_LIMIT} tokens (input plus output) per minute. */
  private void serveTokenLimit(Object... extra) {
    List<Object> resources = new ArrayList<>();
    resources.add(
        policy(
            "tokens",
            RateLimitDimension.RATE_LIMIT_DIMENSION_CONSUMER,
            limit(RateLimitMetric.RATE_LIMIT_METRIC_TOTAL_TOKENS, TOKEN_LIMIT)));
    resources.addAll(List.of(extra));
    serve(List.of("tokens"), resources.toArray());
  }

  static RateLimitPolicy policy(String name, RateLimitDimension dimension, RateLimit... limits) {
    return RateLimitPolicy.newBuilder()
        .setName(name)
        .addDimensions(dimension)
        .addAllLimits(List.of(limits))
        .build();
  }

  static RateLimit requests(long perMinute) {
    return limit(RateLimitMetric.RATE_LIMIT_METRIC_REQUESTS, perMinute);
  }

  static RateLimit limit(RateLimitMetric metric, long perMinute) {
    return RateLimit.newBuilder()
        .setMetric(metric)
        .setAmount(perMinute)
        .setWindow(Durations.fromSeconds(60))
        .build();
  }

  /** The prompt tokens the gateway reserves for {@link #chat}: the same for every such request. */
  private static long promptTokens() {
    return ESTIMATOR.estimateInputTokens(chat("m1"));
  }

  /**
   * Whether a stream reserving {@code tokens} (the prompt plus its maximum output) is refused by
   * the token limit; such a request never reaches an upstream and charges nothing.
   */
  private boolean refusedToReserve(long tokens) {
    int streamsBefore = provider.streams.size();
    Outcome outcome = streamAll(ACME_KEY, stream(chat("m1", tokens - promptTokens())));
    assertThat(provider.streams).hasSize(streamsBefore);
    return outcome.error() != null
        && outcome.error().getStatus().getCode() == Status.Code.RESOURCE_EXHAUSTED
        && subjects(outcome.error()).equals(List.of("consumer:acme/policy:tokens/limit:0"));
  }

  private static List<String> subjects(StatusRuntimeException e) {
    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
    return quotaFailure(e).getViolationsList().stream()
        .map(QuotaFailure.Violation::getSubject)
        .toList();
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

  static ChatRequest chat(String model, long maxOutputTokens) {
    return chat(model).toBuilder().setMaxOutputTokens(Math.toIntExact(maxOutputTokens)).build();
  }

  static StreamChatRequest stream(ChatRequest chat) {
    return StreamChatRequest.newBuilder().setChat(chat).build();
  }

  static EmbedRequest embed(String input) {
    return EmbedRequest.newBuilder().setModel("e1").addInputs(input).build();
  }

  private static Metadata bearer(String key) {
    Metadata headers = new Metadata();
    headers.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + key);
    return headers;
  }

  private InferenceServiceGrpc.InferenceServiceBlockingStub blocking(String key) {
    return InferenceServiceGrpc.newBlockingStub(channel)
        .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(bearer(key)))
        .withDeadlineAfter(WAIT.toMillis(), TimeUnit.MILLISECONDS);
  }

  private InferenceServiceGrpc.InferenceServiceStub async(String key) {
    return InferenceServiceGrpc.newStub(channel)
        .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(bearer(key)));
  }

  private StatusRuntimeException chatError(String key, ChatRequest request) {
    return catchThrowableOfType(StatusRuntimeException.class, () -> blocking(key).chat(request));
  }

  /** Everything a stream delivered, and how it ended. */
  record Outcome(List<StreamChatResponse> events, @Nullable StatusRuntimeException error) {}

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

  /** Starts a stream of acme's; {@code received} counts its events down. */
  private ClientCallStreamObserver<StreamChatRequest> startStream(
      StreamChatRequest request, CountDownLatch received) {
    CompletableFuture<ClientCallStreamObserver<StreamChatRequest>> call = new CompletableFuture<>();
    async(ACME_KEY)
        .streamChat(
            request,
            new ClientResponseObserver<StreamChatRequest, StreamChatResponse>() {
              @Override
              public void beforeStart(ClientCallStreamObserver<StreamChatRequest> requests) {
                call.complete(requests);
              }

              @Override
              public void onNext(StreamChatResponse value) {
                received.countDown();
              }

              @Override
              public void onError(Throwable t) {}

              @Override
              public void onCompleted() {}
            });
    return call.join();
  }

  private static io.grpc.stub.StreamObserver<StreamChatResponse> observer(
      CountDownLatch received, AtomicReference<@Nullable Throwable> error, CountDownLatch done) {
    return new io.grpc.stub.StreamObserver<>() {
      @Override
      public void onNext(StreamChatResponse value) {
        received.countDown();
      }

      @Override
      public void onError(Throwable t) {
        error.set(t);
        done.countDown();
      }

      @Override
      public void onCompleted() {
        done.countDown();
      }
    };
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

  private void awaitUnaryCancelled(int index) throws InterruptedException {
    long deadline = System.nanoTime() + WAIT.toNanos();
    while (provider.unaryCalls.size() <= index || !provider.unaryCalls.get(index).isCancelled()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("unary call " + index + " was not cancelled");
      }
      Thread.sleep(5);
    }
  }
}
