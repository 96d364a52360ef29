package dev.sluice.dataplane.routing;

import static dev.sluice.dataplane.testing.TestConfigs.backend;
import static dev.sluice.dataplane.testing.TestConfigs.model;
import static dev.sluice.dataplane.testing.TestConfigs.resource;
import static dev.sluice.dataplane.testing.TestConfigs.version;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.Timestamp;
import com.google.protobuf.util.Durations;
import dev.sluice.config.v1.Backend;
import dev.sluice.config.v1.Model;
import dev.sluice.config.v1.OutlierDetection;
import dev.sluice.config.v1.Resource;
import dev.sluice.config.v1.RetryCondition;
import dev.sluice.config.v1.RetryPolicy;
import dev.sluice.config.v1.Route;
import dev.sluice.config.v1.RouteDestination;
import dev.sluice.dataplane.metrics.GatewayMetrics;
import dev.sluice.dataplane.provider.UpstreamFailure;
import dev.sluice.dataplane.testing.FakeProvider;
import dev.sluice.dataplane.testing.FakeProvider.Script;
import dev.sluice.grpc.ApiException;
import dev.sluice.inference.v1.ChatMessage;
import dev.sluice.inference.v1.ChatRequest;
import dev.sluice.inference.v1.ChatResponse;
import dev.sluice.inference.v1.ContentPart;
import dev.sluice.inference.v1.EmbedRequest;
import dev.sluice.inference.v1.EmbedResponse;
import dev.sluice.inference.v1.Role;
import dev.sluice.inference.v1.StreamChatResponse;
import io.grpc.Status;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

class RouterTest {
  private static final Duration WAIT = Duration.ofSeconds(10);
  private static final Timestamp CREATED = Timestamp.newBuilder().setSeconds(1_700_000_000).build();

  private final FakeProvider provider = new FakeProvider();
  private final ScheduledExecutorService scheduler = Executors.newSingleThreadScheduledExecutor();
  private final Random random = new Random(42);
  private final List<String> repeats = new ArrayList<>();
  private final GatewayMetrics metrics =
      new GatewayMetrics() {
        @Override
        public void attemptRepeated(String backend, AttemptKind kind) {
          repeats.add(kind + ":" + backend);
        }
      };
  private final Router router =
      new DefaultRouter(kind -> provider, scheduler, metrics, () -> random, System::nanoTime);

  @AfterEach
  void stop() throws InterruptedException {
    provider.close();
    scheduler.shutdownNow();
    scheduler.awaitTermination(5, TimeUnit.SECONDS);
  }

  private static RouteTable table(Object... resources) {
    List<Resource> list = new ArrayList<>();
    for (Object r : resources) {
      list.add(resource(r));
    }
    return RouteTable.build(list, null);
  }

  private static ChatRequest chat(String model) {
    return ChatRequest.newBuilder()
        .setModel(model)
        .addMessages(
            ChatMessage.newBuilder()
                .setRole(Role.ROLE_USER)
                .addParts(ContentPart.newBuilder().setText("hello")))
        .build();
  }

  private static RoutingContext context() {
    return context(RequestHeaders.NONE, null);
  }

  private static RoutingContext context(RequestHeaders headers, io.grpc.Deadline deadline) {
    return new RoutingContext("req-1", "c1", "t1", headers, deadline, CREATED, System.nanoTime());
  }

  private RecordingSink stream(RouteTable table, String model) throws InterruptedException {
    RecordingSink sink = new RecordingSink();
    router.streamChat(table, table.model(model), chat(model), context(), sink);
    return sink.awaitDone(WAIT);
  }

  private static Route.Builder route(String name) {
    return Route.newBuilder().setName(name);
  }

  private static RouteDestination destination(String model, String version, int weight) {
    return RouteDestination.newBuilder()
        .setModel(model)
        .setModelVersion(version)
        .setWeight(weight)
        .build();
  }

  private static RetryPolicy retries(int attempts, RetryCondition... on) {
    return RetryPolicy.newBuilder()
        .setMaxAttempts(attempts)
        .addAllRetryOn(List.of(on))
        .setBackoffBaseInterval(Durations.fromMillis(1))
        .setBackoffMaxInterval(Durations.fromMillis(5))
        .build();
  }

  @Nested
  class Streaming {
    @Test
    void completesStartedWithTheServingModelVersionBackendAndRequest() throws Exception {
      RouteTable table = table(backend("b1"), model("m1", "b1"));

      RecordingSink sink = stream(table, "m1");

      assertThat(sink.completed()).isTrue();
      var started = sink.events.get(0).getStarted();
      assertThat(started.getId()).isEqualTo("stream-b1");
      assertThat(started.getRequestId()).isEqualTo("req-1");
      assertThat(started.getModel()).isEqualTo("m1");
      assertThat(started.getModelVersion()).isEqualTo("v1");
      assertThat(started.getBackend()).isEqualTo("b1");
      assertThat(started.getProvider()).isEqualTo("openai_compatible");
      assertThat(started.getProviderModel()).isEqualTo("up-v1");
      assertThat(started.getCreateTime()).isEqualTo(CREATED);
    }

    @Test
    void forwardsEventsInOrderEndingWithUsage() throws Exception {
      provider.byDefault(Script.tokens(3));
      RouteTable table = table(backend("b1"), model("m1", "b1"));

      RecordingSink sink = stream(table, "m1");

      assertThat(sink.events)
          .extracting(StreamChatResponse::getEventCase)
          .containsExactly(
              StreamChatResponse.EventCase.STARTED,
              StreamChatResponse.EventCase.CONTENT_DELTA,
              StreamChatResponse.EventCase.CONTENT_DELTA,
              StreamChatResponse.EventCase.CONTENT_DELTA,
              StreamChatResponse.EventCase.CHOICE_FINISHED,
              StreamChatResponse.EventCase.USAGE);
      assertThat(sink.text()).isEqualTo("t0 t1 t2 ");
      assertThat(sink.events.get(5).getUsage()).isEqualTo(FakeProvider.usage(3));
    }

    @Test
    void sendsTheUpstreamModelAndTheClientsDeadlineUpstream() throws Exception {
      RouteTable table = table(backend("b1"), model("m1", "b1"));
      io.grpc.Deadline deadline = io.grpc.Deadline.after(30, TimeUnit.SECONDS);

      RecordingSink sink = new RecordingSink();
      router.streamChat(
          table, table.model("m1"), chat("m1"), context(RequestHeaders.NONE, deadline), sink);
      sink.awaitDone(WAIT);

      assertThat(provider.chatCalls.get(0).target().upstreamModel()).isEqualTo("up-v1");
      assertThat(provider.chatCalls.get(0).deadline()).isSameAs(deadline);
      assertThat(provider.chatCalls.get(0).requestId()).isEqualTo("req-1");
    }

    @Test
    void fallsBackWhenTheFirstChoiceFailsBeforeTheFirstToken() throws Exception {
      provider.script("b1", Script.failBeforeStart(UpstreamFailure.SERVER_ERROR));
      RouteTable table =
          table(
              backend("b1"),
              backend("b2"),
              model("m1", "b1"),
              model("m2", "b2"),
              route("r").addFallbacks(destination("m2", "", 0)).build());

      RecordingSink sink = stream(table, "m1");

      assertThat(sink.completed()).isTrue();
      assertThat(provider.backendsCalled()).containsExactly("b1", "b2");
      assertThat(sink.events.get(0).getStarted().getBackend()).isEqualTo("b2");
      assertThat(sink.events.get(0).getStarted().getModel()).isEqualTo("m1");
      assertThat(sink.text()).isEqualTo(FakeProvider.text(3));
      assertThat(repeats).containsExactly("FALLBACK:b1");
    }

    @Test
    void neverRetriesOrFallsBackAfterTheFirstToken() throws Exception {
      provider.script("b1", Script.breakAfter(2, UpstreamFailure.STREAM_BROKEN));
      RouteTable table =
          table(
              backend("b1"),
              backend("b2"),
              model("m1", "b1"),
              model("m2", "b2"),
              route("r")
                  .setRetryPolicy(
                      retries(
                          3,
                          RetryCondition.RETRY_CONDITION_SERVER_ERROR,
                          RetryCondition.RETRY_CONDITION_CONNECT_FAILURE))
                  .addFallbacks(destination("m2", "", 0))
                  .build());

      RecordingSink sink = stream(table, "m1");

      assertThat(provider.backendsCalled()).containsExactly("b1");
      assertThat(sink.text()).isEqualTo("t0 t1 ");
      assertThat(sink.error().code()).isEqualTo(Status.Code.UNAVAILABLE);
      assertThat(sink.error().metadata()).containsEntry("backend", "b1");
      assertThat(sink.error().metadata()).containsEntry("retryable", "false");
    }

    @Test
    void reportsTheUsageSoFarBeforeTheErrorOfABrokenStream() throws Exception {
      provider.script("b1", Script.breakAfter(2, UpstreamFailure.STREAM_BROKEN));
      RouteTable table = table(backend("b1"), model("m1", "b1"));

      RecordingSink sink = stream(table, "m1");

      StreamChatResponse last = sink.events.get(sink.events.size() - 1);
      assertThat(last.hasUsage()).isTrue();
      assertThat(last.getUsage().getOutputTokens()).isEqualTo(2);
      assertThat(sink.error()).isNotNull();
      assertThat(sink.terminalCalls()).isEqualTo(1);
    }

    @Test
    void retriesOnAnotherBackendOfTheSameVersion() throws Exception {
      provider.script("b1", Script.failBeforeStart(UpstreamFailure.CONNECT_FAILED));
      provider.script("b2", Script.failBeforeStart(UpstreamFailure.CONNECT_FAILED));
      RouteTable table =
          table(
              backend("b1"),
              backend("b2"),
              Model.newBuilder().setName("m1").addVersions(version("v1", "b1", "b2")).build(),
              route("r").setRetryPolicy(retries(2)).build());

      RecordingSink sink = stream(table, "m1");

      // Two attempts, one on each backend, whichever came first; both failed.
      assertThat(provider.backendsCalled()).containsExactlyInAnyOrder("b1", "b2");
      assertThat(sink.error().reason()).isEqualTo("UPSTREAM_UNAVAILABLE");
      assertThat(repeats).hasSize(1).allMatch(r -> r.startsWith("RETRY:"));
    }

    @Test
    void doesNotRetryFailuresTheRequestCaused() throws Exception {
      provider.script("b1", Script.failBeforeStart(UpstreamFailure.BAD_REQUEST));
      RouteTable table =
          table(
              backend("b1"),
              backend("b2"),
              model("m1", "b1"),
              model("m2", "b2"),
              route("r").setRetryPolicy(retries(3)).addFallbacks(destination("m2", "", 0)).build());

      RecordingSink sink = stream(table, "m1");

      assertThat(provider.backendsCalled()).containsExactly("b1");
      assertThat(sink.error().code()).isEqualTo(Status.Code.INVALID_ARGUMENT);
    }

    @Test
    void aPerTryTimeoutCancelsTheSlowAttemptAndRetries() throws Exception {
      provider.script("b1", Script.hanging());
      RouteTable table =
          table(
              backend("b1"),
              backend("b2"),
              Model.newBuilder().setName("m1").addVersions(version("v1", "b1", "b2")).build(),
              route("r")
                  .setRetryPolicy(
                      retries(2, RetryCondition.RETRY_CONDITION_TIMEOUT).toBuilder()
                          .setPerTryTimeout(Durations.fromMillis(100)))
                  .build());
      // Make b1 the first choice: b2 looks busy.
      table.backend("b2").load().tryAcquire(0);

      RecordingSink sink = stream(table, "m1");

      assertThat(provider.backendsCalled()).containsExactly("b1", "b2");
      assertThat(provider.streams.get(0).cancelled()).isTrue();
      assertThat(sink.completed()).isTrue();
      assertThat(sink.events.get(0).getStarted().getBackend()).isEqualTo("b2");
    }

    @Test
    void theRouteTimeoutEndsTheRequestWithDeadlineExceeded() throws Exception {
      provider.byDefault(Script.hanging());
      RouteTable table =
          table(
              backend("b1"),
              model("m1", "b1"),
              route("r").setTimeout(Durations.fromMillis(100)).build());

      RecordingSink sink = stream(table, "m1");

      assertThat(sink.error().code()).isEqualTo(Status.Code.DEADLINE_EXCEEDED);
      assertThat(provider.streams.get(0).cancelled()).isTrue();
    }

    @Test
    void clientCancellationCancelsTheUpstreamAtOnce() throws Exception {
      provider.byDefault(Script.tokens(1000).paced(Duration.ofMillis(20)));
      RouteTable table = table(backend("b1"), model("m1", "b1"));
      RecordingSink sink = new RecordingSink();

      RoutedStream routed =
          router.streamChat(table, table.model("m1"), chat("m1"), context(), sink);
      routed.cancel();

      assertThat(provider.streams.get(0).awaitCancelled(WAIT)).isTrue();
      assertThat(sink.terminalCalls()).isZero();
      assertThat(table.backend("b1").load().inFlight()).isZero();
    }

    @Test
    void pausesTheUpstreamWhileTheClientIsNotReadyAndResumesWhenItIs() throws Exception {
      provider.byDefault(Script.tokens(5));
      RouteTable table = table(backend("b1"), model("m1", "b1"));
      RecordingSink sink = new RecordingSink();
      sink.ready(false);

      RoutedStream routed =
          router.streamChat(table, table.model("m1"), chat("m1"), context(), sink);
      FakeProvider.FakeStream upstream = awaitStream(0);
      assertThat(upstream.awaitPaused(WAIT)).isTrue();
      int beforeResume = sink.events.size();
      sink.ready(true);
      routed.resume();
      sink.awaitDone(WAIT);

      assertThat(beforeResume).isEqualTo(1); // started only: nothing more was read
      assertThat(sink.completed()).isTrue();
      assertThat(sink.text()).isEqualTo(FakeProvider.text(5));
    }

    @Test
    void failsFastWhenEveryBackendIsAtItsConcurrencyLimit() throws Exception {
      Backend limited = backend("b1").toBuilder().setMaxConcurrentRequests(1).build();
      RouteTable table = table(limited, model("m1", "b1"));
      table.backend("b1").load().tryAcquire(1);

      RecordingSink sink = stream(table, "m1");

      assertThat(provider.chatCalls).isEmpty();
      assertThat(sink.error().code()).isEqualTo(Status.Code.UNAVAILABLE);
      assertThat(sink.error().reason()).isEqualTo("UPSTREAM_UNAVAILABLE");
    }

    @Test
    void movesToTheFallbackWhenThePrimaryIsAtItsConcurrencyLimit() throws Exception {
      Backend limited = backend("b1").toBuilder().setMaxConcurrentRequests(1).build();
      RouteTable table =
          table(
              limited,
              backend("b2"),
              model("m1", "b1"),
              model("m2", "b2"),
              route("r").addFallbacks(destination("m2", "", 0)).build());
      table.backend("b1").load().tryAcquire(1);

      RecordingSink sink = stream(table, "m1");

      assertThat(provider.backendsCalled()).containsExactly("b2");
      assertThat(sink.completed()).isTrue();
    }

    @Test
    void ejectsABackendAfterConsecutiveFailuresAndRoutesAroundIt() throws Exception {
      Backend flaky =
          backend("b1").toBuilder()
              .setOutlierDetection(OutlierDetection.newBuilder().setConsecutiveFailures(2))
              .build();
      provider.script(
          "b1",
          Script.failBeforeStart(UpstreamFailure.SERVER_ERROR),
          Script.failBeforeStart(UpstreamFailure.SERVER_ERROR));
      RouteTable table =
          table(
              flaky,
              backend("b2"),
              model("m1", "b1"),
              model("m2", "b2"),
              route("r").addFallbacks(destination("m2", "", 0)).build());

      stream(table, "m1");
      stream(table, "m1");
      RecordingSink third = stream(table, "m1");

      assertThat(provider.backendsCalled()).containsExactly("b1", "b2", "b1", "b2", "b2");
      assertThat(table.backend("b1").load().isEjected(System.nanoTime())).isTrue();
      assertThat(third.completed()).isTrue();
    }

    @Test
    void anEjectedBackendReturnsOnceItsEjectionTimeHasPassed() throws Exception {
      AtomicLong now = new AtomicLong(1_000_000_000L);
      Router clocked =
          new DefaultRouter(kind -> provider, scheduler, metrics, () -> random, now::get);
      Backend flaky =
          backend("b1").toBuilder()
              .setOutlierDetection(
                  OutlierDetection.newBuilder()
                      .setConsecutiveFailures(1)
                      .setBaseEjectionTime(Durations.fromSeconds(30)))
              .build();
      provider.script("b1", Script.failBeforeStart(UpstreamFailure.CONNECT_FAILED));
      RouteTable table =
          table(
              flaky,
              backend("b2"),
              model("m1", "b1"),
              model("m2", "b2"),
              route("r").addFallbacks(destination("m2", "", 0)).build());

      for (int i = 0; i < 3; i++) {
        RecordingSink sink = new RecordingSink();
        clocked.streamChat(table, table.model("m1"), chat("m1"), context(), sink);
        sink.awaitDone(WAIT);
        now.addAndGet(TimeUnit.SECONDS.toNanos(10));
      }
      RecordingSink afterEjection = new RecordingSink();
      clocked.streamChat(table, table.model("m1"), chat("m1"), context(), afterEjection);
      afterEjection.awaitDone(WAIT);

      // b1 fails and is ejected for 30 s: the next two requests skip it, the fourth tries it again.
      assertThat(provider.backendsCalled()).containsExactly("b1", "b2", "b2", "b2", "b1");
      assertThat(afterEjection.events.get(0).getStarted().getBackend()).isEqualTo("b1");
    }

    @Test
    void anEjectedBackendStillServesWhenItIsTheLastResort() throws Exception {
      Backend flaky =
          backend("b1").toBuilder()
              .setOutlierDetection(OutlierDetection.newBuilder().setConsecutiveFailures(1))
              .build();
      provider.script("b1", Script.failBeforeStart(UpstreamFailure.SERVER_ERROR));
      RouteTable table = table(flaky, model("m1", "b1"));

      stream(table, "m1");
      RecordingSink second = stream(table, "m1");

      assertThat(table.backend("b1").load().isEjected(System.nanoTime())).isTrue();
      assertThat(second.completed()).isTrue();
    }

    @Test
    void retriesBeyondTheBudgetAreSkippedButFallbacksStillApply() throws Exception {
      // A frozen clock keeps all requests within one second of the budget's minimum of 3.
      Router frozen =
          new DefaultRouter(
              kind -> provider, scheduler, metrics, () -> random, () -> 5_000_000_000L);
      provider.byDefault(Script.failBeforeStart(UpstreamFailure.SERVER_ERROR));
      provider.script("b2", Script.tokens(1), Script.tokens(1), Script.tokens(1), Script.tokens(1));
      Backend noEjection =
          backend("b1").toBuilder()
              .setOutlierDetection(OutlierDetection.newBuilder().setDisabled(true))
              .build();
      RetryPolicy stingy =
          retries(2).toBuilder()
              .setBudget(dev.sluice.config.v1.RetryBudget.newBuilder().setBudgetPercent(1))
              .build();
      RouteTable table =
          table(
              noEjection,
              backend("b2"),
              model("m1", "b1"),
              model("m2", "b2"),
              route("r").setRetryPolicy(stingy).addFallbacks(destination("m2", "", 0)).build());

      for (int i = 0; i < 4; i++) {
        RecordingSink sink = new RecordingSink();
        frozen.streamChat(table, table.model("m1"), chat("m1"), context(), sink);
        assertThat(sink.awaitDone(WAIT).completed()).isTrue();
      }

      assertThat(provider.backendsCalled())
          .containsExactly("b1", "b1", "b2", "b1", "b1", "b2", "b1", "b1", "b2", "b1", "b2");
      assertThat(repeats.stream().filter(r -> r.startsWith("RETRY"))).hasSize(3);
      assertThat(repeats.stream().filter(r -> r.startsWith("FALLBACK"))).hasSize(4);
    }
  }

  @Nested
  class Unary {
    @Test
    void chatFillsTheGatewayFieldsOfTheResponse() {
      RouteTable table = table(backend("b1"), model("m1", "b1"));

      ChatResponse response = router.chat(table, table.model("m1"), chat("m1"), context()).join();

      assertThat(response.getRequestId()).isEqualTo("req-1");
      assertThat(response.getModel()).isEqualTo("m1");
      assertThat(response.getModelVersion()).isEqualTo("v1");
      assertThat(response.getBackend()).isEqualTo("b1");
      assertThat(response.getProvider()).isEqualTo("openai_compatible");
      assertThat(response.getProviderModel()).isEqualTo("up-v1");
      assertThat(response.getCreateTime()).isEqualTo(CREATED);
      assertThat(response.getChoices(0).getMessage().getParts(0).getText())
          .isEqualTo(FakeProvider.text(3));
    }

    @Test
    void chatFallsBackAndReportsTheFinalFailureFaithfully() {
      provider.script("b1", Script.failBeforeStart(UpstreamFailure.RATE_LIMITED));
      provider.script("b2", Script.failBeforeStart(UpstreamFailure.RATE_LIMITED));
      RouteTable table =
          table(
              backend("b1"),
              backend("b2"),
              model("m1", "b1"),
              model("m2", "b2"),
              route("r").addFallbacks(destination("m2", "", 0)).build());

      CompletableFuture<ChatResponse> response =
          router.chat(table, table.model("m1"), chat("m1"), context());

      assertThatThrownBy(response::join)
          .isInstanceOf(CompletionException.class)
          .cause()
          .isInstanceOfSatisfying(
              ApiException.class,
              e -> {
                assertThat(e.code()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
                assertThat(e.metadata()).containsEntry("backend", "b2");
              });
      assertThat(provider.backendsCalled()).containsExactly("b1", "b2");
    }

    @Test
    void aPerTryTimeoutTightensTheDeadlineSentUpstreamAndRetries() {
      provider.script("b1", Script.hanging());
      RouteTable table =
          table(
              backend("b1"),
              backend("b2"),
              Model.newBuilder().setName("m1").addVersions(version("v1", "b1", "b2")).build(),
              route("r")
                  .setRetryPolicy(
                      retries(2, RetryCondition.RETRY_CONDITION_TIMEOUT).toBuilder()
                          .setPerTryTimeout(Durations.fromMillis(100)))
                  .build());
      table.backend("b2").load().tryAcquire(0);

      ChatResponse response = router.chat(table, table.model("m1"), chat("m1"), context()).join();

      assertThat(response.getBackend()).isEqualTo("b2");
      assertThat(provider.chatCalls.get(0).deadline().timeRemaining(TimeUnit.MILLISECONDS))
          .isLessThanOrEqualTo(100);
      assertThat(provider.unaryCalls.get(0).isCancelled()).isTrue();
    }

    @Test
    void cancellingTheResultCancelsTheUpstreamCall() throws Exception {
      provider.byDefault(Script.hanging());
      RouteTable table = table(backend("b1"), model("m1", "b1"));

      CompletableFuture<ChatResponse> response =
          router.chat(table, table.model("m1"), chat("m1"), context());
      response.cancel(false);

      assertThat(provider.unaryCalls.get(0).isCancelled()).isTrue();
      assertThat(table.backend("b1").load().inFlight()).isZero();
    }

    @Test
    void embedFillsTheGatewayFieldsOfTheResponse() {
      RouteTable table = table(backend("b1"), model("e1", "b1"));

      EmbedResponse response =
          router
              .embed(
                  table,
                  table.model("e1"),
                  EmbedRequest.newBuilder().setModel("e1").addInputs("a").addInputs("b").build(),
                  context())
              .join();

      assertThat(response.getEmbeddingsCount()).isEqualTo(2);
      assertThat(response.getModel()).isEqualTo("e1");
      assertThat(response.getBackend()).isEqualTo("b1");
      assertThat(response.getRequestId()).isEqualTo("req-1");
    }

    @Test
    void fillsTheModelsMaximumOutputWhenTheRequestSetsNone() {
      Model capped = model("m1", "b1").toBuilder().setMaxOutputTokens(321).build();
      RouteTable table = table(backend("b1"), capped);

      router.chat(table, table.model("m1"), chat("m1"), context()).join();
      router
          .chat(
              table,
              table.model("m1"),
              chat("m1").toBuilder().setMaxOutputTokens(5).build(),
              context())
          .join();

      assertThat(provider.chatCalls.get(0).request().getMaxOutputTokens()).isEqualTo(321);
      assertThat(provider.chatCalls.get(1).request().getMaxOutputTokens()).isEqualTo(5);
    }
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
