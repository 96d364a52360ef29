package dev.sluice.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.Any;
import com.google.protobuf.ByteString;
import com.google.protobuf.Message;
import com.google.protobuf.util.Durations;
import com.google.rpc.BadRequest;
import com.google.rpc.ErrorInfo;
import com.google.rpc.QuotaFailure;
import com.google.rpc.RetryInfo;
import dev.sluice.inference.v1.ChatRequest;
import dev.sluice.inference.v1.ChatResponse;
import dev.sluice.inference.v1.ChatStarted;
import dev.sluice.inference.v1.ChoiceFinished;
import dev.sluice.inference.v1.ContentDelta;
import dev.sluice.inference.v1.ContentPart;
import dev.sluice.inference.v1.EmbedRequest;
import dev.sluice.inference.v1.EmbedResponse;
import dev.sluice.inference.v1.FinishReason;
import dev.sluice.inference.v1.GetModelResponse;
import dev.sluice.inference.v1.ListModelsResponse;
import dev.sluice.inference.v1.ModelInfo;
import dev.sluice.inference.v1.StreamChatResponse;
import dev.sluice.inference.v1.Usage;
import io.grpc.Deadline;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.StatusProto;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(60)
class SluiceClientTest {
  private static final ChatRequest HELLO =
      ChatRequest.newBuilder().setModel("mock-chat").addMessages(Messages.user("Hello")).build();

  private FakeGateway gateway;
  private SluiceClient client;

  @BeforeEach
  void startGateway() throws Exception {
    gateway = FakeGateway.start();
    client = SluiceClient.builder().target(gateway.target()).plaintext().apiKey("sk-test").build();
  }

  @AfterEach
  void stopGateway() throws Exception {
    client.close();
    gateway.close();
  }

  @Nested
  class Chat {
    @Test
    void returnsTheGatewaysAnswer() {
      gateway.chat = (request, response) -> reply(response, answer(request.getModel(), "Hi!"));

      ChatResponse answer = client.chat(HELLO);

      assertThat(answer.getModel()).isEqualTo("mock-chat");
      assertThat(answer.getChoices(0).getMessage().getParts(0).getText()).isEqualTo("Hi!");
    }

    @Test
    void sendsTheApiKeyAsABearerToken() {
      gateway.chat = (request, response) -> reply(response, answer("m", "ok"));

      client.chat(HELLO);

      assertThat(gateway.lastAuthorization()).isEqualTo("Bearer sk-test");
    }

    @Test
    void sendsNoCredentialWithoutAnApiKey() {
      gateway.chat = (request, response) -> reply(response, answer("m", "ok"));

      try (SluiceClient anonymous =
          SluiceClient.builder().target(gateway.target()).plaintext().build()) {
        anonymous.chat(HELLO);
      }

      assertThat(gateway.lastAuthorization()).isNull();
    }

    @Test
    void carriesTheDefaultDeadline() {
      gateway.chat = (request, response) -> reply(response, answer("m", "ok"));

      client.chat(HELLO);

      Deadline deadline = gateway.deadlines.get(0);
      assertThat(deadline).isNotNull();
      assertThat(deadline.timeRemaining(TimeUnit.SECONDS)).isBetween(1L, 600L);
    }

    @Test
    void carriesTheDeadlineOfWithDeadline() {
      gateway.chat = (request, response) -> reply(response, answer("m", "ok"));

      client.withDeadline(Duration.ofSeconds(30)).chat(HELLO);

      assertThat(gateway.deadlines.get(0).timeRemaining(TimeUnit.SECONDS)).isBetween(1L, 30L);
    }

    @Test
    void failsWithDeadlineExceededWhenTheGatewayDoesNotAnswerInTime() {
      gateway.chat = (request, response) -> {}; // never answers

      assertThatThrownBy(() -> client.withDeadline(Duration.ofMillis(300)).chat(HELLO))
          .isInstanceOfSatisfying(
              SluiceException.class,
              e -> assertThat(e.code()).isEqualTo(Status.Code.DEADLINE_EXCEEDED));
    }

    @Test
    void exposesTheReasonRetryDelayAndFieldViolationsOfAnError() {
      gateway.chat =
          (request, response) ->
              response.onError(
                  error(
                      Status.Code.INVALID_ARGUMENT,
                      "messages[0].role: not set",
                      ErrorInfo.newBuilder()
                          .setDomain("sluice.dev")
                          .setReason("INVALID_REQUEST")
                          .putMetadata("model", "mock-chat")
                          .build(),
                      RetryInfo.newBuilder()
                          .setRetryDelay(com.google.protobuf.Duration.newBuilder().setSeconds(2))
                          .build(),
                      BadRequest.newBuilder()
                          .addFieldViolations(
                              BadRequest.FieldViolation.newBuilder()
                                  .setField("messages[0].role")
                                  .setDescription("not set"))
                          .build()));

      assertThatThrownBy(() -> client.chat(HELLO))
          .isInstanceOfSatisfying(
              SluiceException.class,
              e -> {
                assertThat(e.code()).isEqualTo(Status.Code.INVALID_ARGUMENT);
                assertThat(e.reason()).isEqualTo("INVALID_REQUEST");
                assertThat(e.domain()).isEqualTo("sluice.dev");
                assertThat(e.metadata()).containsEntry("model", "mock-chat");
                assertThat(e.retryDelay()).contains(Duration.ofSeconds(2));
                assertThat(e.fieldViolations())
                    .containsExactly(
                        new SluiceException.FieldViolation("messages[0].role", "not set"));
                assertThat(e.getMessage())
                    .isEqualTo("INVALID_ARGUMENT: messages[0].role: not set [INVALID_REQUEST]");
              });
    }

    @Test
    void exposesQuotaViolationsAndThePushbackTrailerOfARateLimit() {
      gateway.chat =
          (request, response) -> {
            Metadata trailers = new Metadata();
            trailers.put(SluiceException.RETRY_PUSHBACK_MS, "1500");
            response.onError(
                Status.RESOURCE_EXHAUSTED.withDescription("limit").asRuntimeException(trailers));
          };

      assertThatThrownBy(() -> client.chat(HELLO))
          .isInstanceOfSatisfying(
              SluiceException.class,
              e -> {
                assertThat(e.code()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
                assertThat(e.reason()).isEmpty();
                assertThat(e.retryDelay()).contains(Duration.ofMillis(1500));
              });

      gateway.chat =
          (request, response) ->
              response.onError(
                  error(
                      Status.Code.RESOURCE_EXHAUSTED,
                      "rate limited",
                      QuotaFailure.newBuilder()
                          .addViolations(
                              QuotaFailure.Violation.newBuilder()
                                  .setSubject("policy/team-a:requests-per-minute")
                                  .setDescription("600 per minute"))
                          .build()));

      assertThatThrownBy(() -> client.chat(HELLO))
          .isInstanceOfSatisfying(
              SluiceException.class,
              e ->
                  assertThat(e.quotaViolations())
                      .containsExactly(
                          new SluiceException.QuotaViolation(
                              "policy/team-a:requests-per-minute", "600 per minute")));
    }

    @Test
    void isNotRetriedWithoutARequestId() {
      gateway.chat = failingOnce(Status.UNAVAILABLE, answer("m", "second try"));

      assertThatThrownBy(() -> client.chat(HELLO))
          .isInstanceOfSatisfying(
              SluiceException.class,
              e -> assertThat(e.code()).isEqualTo(Status.Code.UNAVAILABLE));
      assertThat(gateway.calls).hasValue(1);
    }

    @Test
    void isRetriedOnUnavailableWhenTheRequestHasARequestId() {
      gateway.chat = failingOnce(retryAfterMillis(10), answer("m", "second try"));

      ChatResponse answer = client.chat(HELLO.toBuilder().setRequestId("req-1").build());

      assertThat(answer.getChoices(0).getMessage().getParts(0).getText()).isEqualTo("second try");
      assertThat(gateway.calls).hasValue(2);
    }

    @Test
    void isNotRetriedOnOtherCodesEvenWithARequestId() {
      gateway.chat = failingOnce(Status.INTERNAL, answer("m", "second try"));

      assertThatThrownBy(() -> client.chat(HELLO.toBuilder().setRequestId("req-1").build()))
          .isInstanceOf(SluiceException.class);
      assertThat(gateway.calls).hasValue(1);
    }

    @Test
    void givesUpAfterMaxAttempts() {
      gateway.chat = (request, response) -> response.onError(retryAfterMillis(1));

      assertThatThrownBy(() -> client.chat(HELLO.toBuilder().setRequestId("req-1").build()))
          .isInstanceOfSatisfying(
              SluiceException.class,
              e -> assertThat(e.code()).isEqualTo(Status.Code.UNAVAILABLE));
      assertThat(gateway.calls).hasValue(3);
    }
  }

  @Nested
  class StreamChatWithAListener {
    @Test
    void deliversTheEventsInOrderAndThenCompletes() throws Exception {
      gateway.streamChat = (request, response) -> streamTokens(response, "Hel", "lo");
      RecordingListener listener = new RecordingListener();

      client.streamChat(HELLO, listener);

      assertThat(listener.outcome.get(10, TimeUnit.SECONDS)).isNull();
      assertThat(listener.kinds())
          .containsExactly(
              "STARTED", "CONTENT_DELTA", "CONTENT_DELTA", "CHOICE_FINISHED", "USAGE", "COMPLETED");
      assertThat(listener.text()).isEqualTo("Hello");
    }

    @Test
    void cancelCancelsTheGatewaysCall() throws Exception {
      CountDownLatch serverSawCancel = new CountDownLatch(1);
      gateway.streamChat =
          (request, response) -> {
            ServerCallStreamObserver<StreamChatResponse> call =
                (ServerCallStreamObserver<StreamChatResponse>) response;
            call.setOnCancelHandler(serverSawCancel::countDown);
            call.onNext(started());
          };
      RecordingListener listener = new RecordingListener();

      ChatStream stream = client.streamChat(HELLO, listener);
      listener.started.await(10, TimeUnit.SECONDS);
      stream.cancel();

      assertThat(serverSawCancel.await(10, TimeUnit.SECONDS)).isTrue();
      assertThat(listener.outcome.get(10, TimeUnit.SECONDS).code())
          .isEqualTo(Status.Code.CANCELLED);
      assertThat(stream.isDone()).isTrue();
    }

    @Test
    void isRetriedBeforeTheFirstEventWhenTheRequestHasARequestId() throws Exception {
      AtomicInteger attempts = new AtomicInteger();
      gateway.streamChat =
          (request, response) -> {
            if (attempts.incrementAndGet() == 1) {
              response.onError(retryAfterMillis(10));
            } else {
              streamTokens(response, "ok");
            }
          };
      RecordingListener listener = new RecordingListener();

      client.streamChat(HELLO.toBuilder().setRequestId("req-7").build(), listener);

      assertThat(listener.outcome.get(10, TimeUnit.SECONDS)).isNull();
      assertThat(listener.text()).isEqualTo("ok");
      assertThat(gateway.calls).hasValue(2);
    }

    @Test
    void isNeverRetriedAfterTheFirstEvent() throws Exception {
      gateway.streamChat =
          (request, response) -> {
            response.onNext(started());
            response.onNext(text("partial"));
            response.onError(retryAfterMillis(10));
          };
      RecordingListener listener = new RecordingListener();

      client.streamChat(HELLO.toBuilder().setRequestId("req-8").build(), listener);

      assertThat(listener.outcome.get(10, TimeUnit.SECONDS).code())
          .isEqualTo(Status.Code.UNAVAILABLE);
      assertThat(listener.kinds()).containsExactly("STARTED", "CONTENT_DELTA", "ERROR");
      assertThat(gateway.calls).hasValue(1);
    }

    @Test
    void isNotRetriedWithoutARequestId() throws Exception {
      gateway.streamChat = (request, response) -> response.onError(retryAfterMillis(10));
      RecordingListener listener = new RecordingListener();

      client.streamChat(HELLO, listener);

      assertThat(listener.outcome.get(10, TimeUnit.SECONDS).code())
          .isEqualTo(Status.Code.UNAVAILABLE);
      assertThat(gateway.calls).hasValue(1);
    }

    @Test
    void aListenerThatThrowsCancelsTheStreamAndLearnsWhy() throws Exception {
      CountDownLatch serverSawCancel = new CountDownLatch(1);
      gateway.streamChat =
          (request, response) -> {
            ((ServerCallStreamObserver<StreamChatResponse>) response)
                .setOnCancelHandler(serverSawCancel::countDown);
            response.onNext(started());
            response.onNext(text("boom"));
          };
      IllegalStateException bug = new IllegalStateException("listener bug");
      RecordingListener listener =
          new RecordingListener() {
            @Override
            public void onContentDelta(ContentDelta delta) {
              throw bug;
            }
          };

      client.streamChat(HELLO, listener);

      SluiceException error = listener.outcome.get(10, TimeUnit.SECONDS);
      assertThat(error.code()).isEqualTo(Status.Code.CANCELLED);
      assertThat(error).hasRootCause(bug);
      assertThat(serverSawCancel.await(10, TimeUnit.SECONDS)).isTrue();
    }

    @Test
    void cancellingDuringARetryBackoffEndsTheStreamAsCancelled() throws Exception {
      gateway.streamChat = (request, response) -> response.onError(retryAfterMillis(60_000));
      RecordingListener listener = new RecordingListener();

      ChatStream stream =
          client
              .withDeadline(Duration.ofMinutes(5))
              .streamChat(HELLO.toBuilder().setRequestId("req-9").build(), listener);
      awaitCalls(1);
      stream.cancel();

      assertThat(listener.outcome.get(10, TimeUnit.SECONDS).code())
          .isEqualTo(Status.Code.CANCELLED);
      assertThat(gateway.calls).hasValue(1);
    }
  }

  @Nested
  class StreamChatAsAnIterator {
    @Test
    void yieldsEveryEventAndThenEnds() {
      gateway.streamChat = (request, response) -> streamTokens(response, "a", "b", "c");
      List<StreamChatResponse.EventCase> kinds = new ArrayList<>();

      try (ChatEventStream events = client.streamChat(HELLO)) {
        events.forEachRemaining(event -> kinds.add(event.getEventCase()));
        assertThat(events.hasNext()).isFalse();
      }

      assertThat(kinds)
          .containsExactly(
              StreamChatResponse.EventCase.STARTED,
              StreamChatResponse.EventCase.CONTENT_DELTA,
              StreamChatResponse.EventCase.CONTENT_DELTA,
              StreamChatResponse.EventCase.CONTENT_DELTA,
              StreamChatResponse.EventCase.CHOICE_FINISHED,
              StreamChatResponse.EventCase.USAGE);
    }

    @Test
    void throwsTheErrorAfterTheEventsSentBeforeIt() {
      gateway.streamChat =
          (request, response) -> {
            response.onNext(started());
            response.onNext(text("partial"));
            response.onError(Status.INTERNAL.withDescription("upstream broke").asException());
          };

      try (ChatEventStream events = client.streamChat(HELLO)) {
        assertThat(events.next().hasStarted()).isTrue();
        assertThat(events.next().getContentDelta().getText()).isEqualTo("partial");
        assertThatThrownBy(events::hasNext)
            .isInstanceOfSatisfying(
                SluiceException.class,
                e -> {
                  assertThat(e.code()).isEqualTo(Status.Code.INTERNAL);
                  assertThat(e.description()).isEqualTo("upstream broke");
                });
      }
    }

    @Test
    void closingBeforeTheEndCancelsTheGatewaysCall() throws Exception {
      CountDownLatch serverSawCancel = new CountDownLatch(1);
      gateway.streamChat =
          (request, response) -> {
            ((ServerCallStreamObserver<StreamChatResponse>) response)
                .setOnCancelHandler(serverSawCancel::countDown);
            response.onNext(started());
          };

      try (ChatEventStream events = client.streamChat(HELLO)) {
        assertThat(events.next().hasStarted()).isTrue();
      }

      assertThat(serverSawCancel.await(10, TimeUnit.SECONDS)).isTrue();
    }

    @Test
    void aReaderThatDoesNotReadHoldsTheGatewayBack() throws Exception {
      int eventCount = 400;
      ByteString chunk = ByteString.copyFrom(new byte[16 * 1024]);
      AtomicInteger sent = new AtomicInteger();
      gateway.streamChat =
          (request, response) -> {
            ServerCallStreamObserver<StreamChatResponse> call =
                (ServerCallStreamObserver<StreamChatResponse>) response;
            call.setOnReadyHandler(
                () -> {
                  while (call.isReady() && sent.get() < eventCount) {
                    call.onNext(signature(chunk));
                    sent.incrementAndGet();
                  }
                  if (sent.get() == eventCount) {
                    call.onCompleted();
                    sent.incrementAndGet(); // never again
                  }
                });
          };

      try (ChatEventStream events = client.streamChat(HELLO)) {
        assertThat(events.hasNext()).isTrue();
        // 400 x 16 KiB = 6.4 MiB, far more than the HTTP/2 windows hold. Were the client to
        // buffer without bound, the gateway would send everything at once, long within a second.
        Thread.sleep(1000);
        assertThat(sent.get()).isLessThan(eventCount);
        int received = 0;
        while (events.hasNext()) {
          events.next();
          received++;
        }
        assertThat(received).isEqualTo(eventCount);
      }
    }
  }

  @Nested
  class IdempotentCalls {
    @Test
    void listModelsReadsEveryPage() {
      gateway.listModels =
          (request, response) -> {
            if (request.getPageToken().isEmpty()) {
              reply(
                  response,
                  ListModelsResponse.newBuilder()
                      .addModels(ModelInfo.newBuilder().setName("a"))
                      .setNextPageToken("page-2")
                      .build());
            } else {
              reply(
                  response,
                  ListModelsResponse.newBuilder()
                      .addModels(ModelInfo.newBuilder().setName("b"))
                      .build());
            }
          };

      assertThat(client.listModels()).extracting(ModelInfo::getName).containsExactly("a", "b");
    }

    @Test
    void listModelsIsRetriedOnUnavailable() {
      gateway.listModels =
          failingOnce(
              Status.UNAVAILABLE,
              ListModelsResponse.newBuilder()
                  .addModels(ModelInfo.newBuilder().setName("mock-chat"))
                  .build());

      assertThat(client.listModels()).extracting(ModelInfo::getName).containsExactly("mock-chat");
      assertThat(gateway.calls).hasValue(2);
    }

    @Test
    void embedIsRetriedOnUnavailable() {
      gateway.embed =
          failingOnce(Status.UNAVAILABLE, EmbedResponse.newBuilder().setModel("mock-embed").build());

      EmbedResponse response =
          client.embed(EmbedRequest.newBuilder().setModel("mock-embed").addInputs("x").build());

      assertThat(response.getModel()).isEqualTo("mock-embed");
      assertThat(gateway.calls).hasValue(2);
    }

    @Test
    void embedIsNotRetriedWhenRetriesAreOff() throws Exception {
      gateway.embed =
          failingOnce(Status.UNAVAILABLE, EmbedResponse.newBuilder().setModel("mock-embed").build());

      try (SluiceClient noRetries =
          SluiceClient.builder().target(gateway.target()).plaintext().maxAttempts(1).build()) {
        assertThatThrownBy(() -> noRetries.embed(EmbedRequest.newBuilder().build()))
            .isInstanceOf(SluiceException.class);
      }
      assertThat(gateway.calls).hasValue(1);
    }

    @Test
    void getModelReportsNotFound() {
      gateway.getModel =
          (request, response) ->
              response.onError(
                  error(
                      Status.Code.NOT_FOUND,
                      "model not found",
                      ErrorInfo.newBuilder()
                          .setDomain("sluice.dev")
                          .setReason("MODEL_NOT_FOUND")
                          .build()));

      assertThatThrownBy(() -> client.getModel("nope"))
          .isInstanceOfSatisfying(
              SluiceException.class, e -> assertThat(e.reason()).isEqualTo("MODEL_NOT_FOUND"));
    }

    @Test
    void getModelReturnsTheModel() {
      gateway.getModel =
          (request, response) ->
              reply(
                  response,
                  GetModelResponse.newBuilder()
                      .setModel(ModelInfo.newBuilder().setName(request.getName()))
                      .build());

      assertThat(client.getModel("mock-chat").getName()).isEqualTo("mock-chat");
    }
  }

  @Nested
  class Builder {
    @Test
    void requiresATarget() {
      assertThatThrownBy(() -> SluiceClient.builder().build())
          .isInstanceOf(IllegalStateException.class)
          .hasMessageContaining("target");
    }

    @Test
    void rejectsANonPositiveDeadline() {
      assertThatThrownBy(() -> SluiceClient.builder().deadline(Duration.ZERO))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("deadline: PT0S (expected: > 0)");
    }

    @Test
    void rejectsMaxAttemptsOutsideOneToFive() {
      assertThatThrownBy(() -> SluiceClient.builder().maxAttempts(6))
          .hasMessage("maxAttempts: 6 (expected: 1 to 5)");
      assertThatThrownBy(() -> SluiceClient.builder().maxAttempts(0))
          .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void rejectsAnApiKeyThatCannotBeAHeaderWithoutEchoingIt() {
      assertThatThrownBy(() -> SluiceClient.builder().apiKey("sk secret\n"))
          .isInstanceOf(IllegalArgumentException.class)
          .satisfies(e -> assertThat(e.getMessage()).doesNotContain("secret"));
    }

    @Test
    void neverShowsTheApiKeyInToString() {
      assertThat(SluiceClient.builder().target("h:1").apiKey("sk-very-secret").toString())
          .doesNotContain("sk-very-secret")
          .contains("apiKey=set");
    }

    @Test
    void reportsAMissingCertificateFile() {
      assertThatThrownBy(
              () ->
                  SluiceClient.builder()
                      .target("h:1")
                      .tls(java.nio.file.Path.of("does-not-exist.pem"))
                      .build())
          .hasMessageContaining("does-not-exist.pem");
    }

    @Test
    void limitsTheSizeOfReceivedMessages() {
      gateway.chat =
          (request, response) -> reply(response, answer("m", "x".repeat(64 * 1024)));

      try (SluiceClient small =
          SluiceClient.builder()
              .target(gateway.target())
              .plaintext()
              .maxInboundMessageSize(1024)
              .build()) {
        assertThatThrownBy(() -> small.chat(HELLO))
            .isInstanceOfSatisfying(
                SluiceException.class,
                e -> assertThat(e.code()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED));
      }
    }
  }

  // --- helpers ---

  private void awaitCalls(int count) throws InterruptedException {
    long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (gateway.calls.get() < count && System.nanoTime() < end) {
      Thread.sleep(5);
    }
    assertThat(gateway.calls.get()).isGreaterThanOrEqualTo(count);
  }

  private static <T> void reply(StreamObserver<T> response, T message) {
    response.onNext(message);
    response.onCompleted();
  }

  private static <Q, T> java.util.function.BiConsumer<Q, StreamObserver<T>> failingOnce(
      Object failure, T success) {
    AtomicInteger calls = new AtomicInteger();
    return (request, response) -> {
      if (calls.incrementAndGet() == 1) {
        response.onError(
            failure instanceof Status status
                ? status.withDescription("try again").asRuntimeException()
                : (StatusRuntimeException) failure);
      } else {
        reply(response, success);
      }
    };
  }

  private static StatusRuntimeException retryAfterMillis(long millis) {
    return error(
        Status.Code.UNAVAILABLE,
        "no backend available",
        ErrorInfo.newBuilder().setDomain("sluice.dev").setReason("UPSTREAM_UNAVAILABLE").build(),
        RetryInfo.newBuilder()
            .setRetryDelay(Durations.fromMillis(millis))
            .build());
  }

  private static StatusRuntimeException error(
      Status.Code code, String message, Message... details) {
    com.google.rpc.Status.Builder status =
        com.google.rpc.Status.newBuilder().setCode(code.value()).setMessage(message);
    for (Message detail : details) {
      status.addDetails(Any.pack(detail));
    }
    return StatusProto.toStatusRuntimeException(status.build());
  }

  private static ChatResponse answer(String model, String text) {
    return ChatResponse.newBuilder()
        .setModel(model)
        .addChoices(
            dev.sluice.inference.v1.Choice.newBuilder()
                .setMessage(Messages.assistant(text))
                .setFinishReason(FinishReason.FINISH_REASON_STOP))
        .build();
  }

  private static void streamTokens(StreamObserver<StreamChatResponse> response, String... tokens) {
    response.onNext(started());
    for (String token : tokens) {
      response.onNext(text(token));
    }
    response.onNext(
        StreamChatResponse.newBuilder()
            .setChoiceFinished(
                ChoiceFinished.newBuilder()
                    .setFinishReason(FinishReason.FINISH_REASON_STOP)
                    .setRawFinishReason("stop"))
            .build());
    response.onNext(
        StreamChatResponse.newBuilder()
            .setUsage(Usage.newBuilder().setInputTokens(3).setOutputTokens(tokens.length))
            .build());
    response.onCompleted();
  }

  private static StreamChatResponse started() {
    return StreamChatResponse.newBuilder()
        .setStarted(ChatStarted.newBuilder().setModel("mock-chat").setBackend("mock"))
        .build();
  }

  private static StreamChatResponse text(String text) {
    return StreamChatResponse.newBuilder()
        .setContentDelta(ContentDelta.newBuilder().setText(text))
        .build();
  }

  private static StreamChatResponse signature(ByteString bytes) {
    return StreamChatResponse.newBuilder()
        .setContentDelta(
            ContentDelta.newBuilder().setPart(ContentPart.newBuilder().setSignature(bytes)))
        .build();
  }

  /** Records what a listener receives, in order. */
  private static class RecordingListener implements ChatStreamListener {
    final List<String> kinds = new java.util.concurrent.CopyOnWriteArrayList<>();
    final StringBuilder text = new StringBuilder();
    final CountDownLatch started = new CountDownLatch(1);
    final CompletableFuture<SluiceException> outcome = new CompletableFuture<>();

    @Override
    public void onEvent(StreamChatResponse event) {
      kinds.add(event.getEventCase().name());
      ChatStreamListener.super.onEvent(event);
    }

    @Override
    public void onStarted(ChatStarted started) {
      this.started.countDown();
    }

    @Override
    public void onContentDelta(ContentDelta delta) {
      synchronized (text) {
        text.append(delta.getText());
      }
    }

    @Override
    public void onCompleted() {
      kinds.add("COMPLETED");
      outcome.complete(null);
    }

    @Override
    public void onError(SluiceException error) {
      kinds.add("ERROR");
      outcome.complete(error);
    }

    List<String> kinds() {
      return kinds;
    }

    String text() {
      synchronized (text) {
        return text.toString();
      }
    }
  }
}
