package dev.sluice.dataplane.provider.http;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.testing.fakes.ChatReply;
import dev.sluice.testing.fakes.FakeOpenAiServer;
import dev.sluice.testing.fakes.RecordedRequest;
import io.netty.buffer.Unpooled;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class HttpUpstreamClientTest {
  private static final String STREAM_BODY =
      "{\"model\":\"m\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
  private static final String UNARY_BODY =
      "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

  private static EventLoopGroup group;
  private FakeOpenAiServer fake;
  private HttpUpstreamClient client;

  @BeforeAll
  static void startLoops() {
    group = new MultiThreadIoEventLoopGroup(2, NioIoHandler.newFactory());
  }

  @AfterAll
  static void stopLoops() {
    group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
  }

  @BeforeEach
  void start() {
    fake = FakeOpenAiServer.start();
    client = HttpUpstreamClient.create(group, NioSocketChannel.class);
  }

  @AfterEach
  void stop() {
    client.close();
    fake.close();
  }

  private UpstreamRequest.Builder post(String json) {
    return UpstreamRequest.builder(
            UpstreamOrigin.plaintext("127.0.0.1", fake.port()), HttpMethod.POST, "/v1/chat/completions")
        .header("content-type", "application/json")
        .body(Unpooled.copiedBuffer(json, StandardCharsets.UTF_8));
  }

  private CompletableFuture<String> send(UpstreamRequest request) {
    return client.send(
        request, 1 << 20, (response, body) -> response.status().code() + " " + body.toString(StandardCharsets.UTF_8),
        failure -> failure);
  }

  /** Sends from an event loop thread, as the data plane does when gRPC runs calls on its loops. */
  private String sendFromLoop(io.netty.channel.EventLoop loop, UpstreamRequest request) throws Exception {
    return loop.submit(() -> send(request)).get(10, TimeUnit.SECONDS).get(10, TimeUnit.SECONDS);
  }

  @Test
  void keepsTheConnectionAliveAndReusesIt() throws Exception {
    io.netty.channel.EventLoop loop = group.next();
    String first = sendFromLoop(loop, post(UNARY_BODY).build());
    String second = sendFromLoop(loop, post(UNARY_BODY).build());
    String third = sendFromLoop(loop, post(UNARY_BODY).build());

    assertThat(first).startsWith("200 ").contains("\"object\":\"chat.completion\"");
    assertThat(second).startsWith("200 ");
    assertThat(third).startsWith("200 ");
    assertThat(fake.connectionsOpened()).isEqualTo(1);
    assertThat(fake.requests()).extracting(RecordedRequest::connectionId).containsExactly(1, 1, 1);
    assertThat(client.idleConnections()).isEqualTo(1);
  }

  @Test
  void keepsOnePoolPerEventLoopAndSpreadsCallsFromOtherThreadsOverThem() throws Exception {
    for (int i = 0; i < 6; i++) {
      send(post(UNARY_BODY).build()).get(10, TimeUnit.SECONDS);
    }

    // Two loops, each with its own pool: one connection each, reused after that.
    assertThat(fake.connectionsOpened()).isEqualTo(2);
    assertThat(client.idleConnections()).isEqualTo(2);
  }

  @Test
  void sendsHostContentLengthAndTheGivenHeaders() throws Exception {
    send(post(UNARY_BODY).header("x-custom", "yes").build()).get(10, TimeUnit.SECONDS);

    RecordedRequest r = fake.takeRequest();
    assertThat(r.header("host")).isEqualTo("127.0.0.1:" + fake.port());
    assertThat(r.header("content-length")).isEqualTo(Integer.toString(UNARY_BODY.length()));
    assertThat(r.header("x-custom")).isEqualTo("yes");
    assertThat(r.jsonBody().get("model").asText()).isEqualTo("m");
  }

  @Test
  void concurrentExchangesUseSeparateConnections() throws Exception {
    List<RecordingHandler> handlers = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      fake.enqueue(ChatReply.text("a b c d").tokenInterval(Duration.ofMillis(30)));
    }
    for (int i = 0; i < 3; i++) {
      RecordingHandler h = new RecordingHandler();
      client.exchange(post(STREAM_BODY).build(), h);
      handlers.add(h);
    }
    for (RecordingHandler h : handlers) {
      assertThat(h.await()).endsWith("data: [DONE]\n\n");
    }
    assertThat(fake.connectionsOpened()).isEqualTo(3);
  }

  @Test
  void streamsTheBodyInPiecesAsItArrives() throws Exception {
    fake.enqueue(ChatReply.text("one two three").tokenInterval(Duration.ofMillis(20)));
    RecordingHandler h = new RecordingHandler();

    client.exchange(post(STREAM_BODY).build(), h);

    String body = h.await();
    assertThat(h.status).isEqualTo(200);
    assertThat(h.contentPieces.get()).isGreaterThan(3);
    assertThat(body).contains("\"content\":\"one\"").contains("\"content\":\" three\"").endsWith("[DONE]\n\n");
  }

  @Test
  void aRefusedConnectionFailsWithConnectFailed() throws Exception {
    int port;
    try (ServerSocket s = new ServerSocket(0)) {
      port = s.getLocalPort();
    }
    RecordingHandler h = new RecordingHandler();
    client.exchange(
        UpstreamRequest.builder(UpstreamOrigin.plaintext("127.0.0.1", port), HttpMethod.GET, "/").build(),
        h);

    HttpFailure failure = h.awaitFailure();
    assertThat(failure.kind()).isEqualTo(HttpFailure.Kind.CONNECT_FAILED);
    assertThat(failure.responseStarted()).isFalse();
    assertThat(failure.getMessage()).doesNotContain("127.0.0.1");
  }

  @Test
  void aTlsHandshakeThatNeverCompletesHitsTheConnectTimeout() throws Exception {
    try (RawHttpServer silent = new RawHttpServer((socket, n) -> socket.getInputStream().readAllBytes())) {
      SslContext tls = SslContextBuilder.forClient().sslProvider(SslProvider.JDK).build();
      RecordingHandler h = new RecordingHandler();
      client.exchange(
          UpstreamRequest.builder(
                  UpstreamOrigin.tls("127.0.0.1", silent.port(), tls, "localhost"), HttpMethod.GET, "/")
              .connectTimeoutNanos(TimeUnit.MILLISECONDS.toNanos(200))
              .build(),
          h);

      assertThat(h.awaitFailure().kind()).isEqualTo(HttpFailure.Kind.CONNECT_TIMEOUT);
    }
  }

  @Test
  void aSilentUpstreamHitsTheFirstByteTimeoutAndLosesItsConnection() throws Exception {
    fake.enqueue(ChatReply.hang());
    RecordingHandler h = new RecordingHandler();

    client.exchange(post(STREAM_BODY).firstByteTimeoutNanos(TimeUnit.MILLISECONDS.toNanos(200)).build(), h);

    assertThat(h.awaitFailure().kind()).isEqualTo(HttpFailure.Kind.FIRST_BYTE_TIMEOUT);
    fake.awaitOpenConnections(0, Duration.ofSeconds(5));
  }

  @Test
  void aStalledStreamHitsTheIdleTimeout() throws Exception {
    fake.enqueue(ChatReply.text("a b c d e").hangAfterEvents(2));
    RecordingHandler h = new RecordingHandler();

    client.exchange(
        post(STREAM_BODY)
            .firstByteTimeoutNanos(TimeUnit.SECONDS.toNanos(5))
            .idleTimeoutNanos(TimeUnit.MILLISECONDS.toNanos(200))
            .build(),
        h);

    HttpFailure failure = h.awaitFailure();
    assertThat(failure.kind()).isEqualTo(HttpFailure.Kind.IDLE_TIMEOUT);
    assertThat(failure.responseStarted()).isTrue();
    assertThat(h.body()).contains("\"content\":\"a\"");
  }

  @Test
  void theIdleTimeoutNeverLimitsAStreamThatKeepsFlowing() throws Exception {
    fake.enqueue(ChatReply.text("a b c d e f g h i j").tokenInterval(Duration.ofMillis(40)));
    RecordingHandler h = new RecordingHandler();

    client.exchange(post(STREAM_BODY).idleTimeoutNanos(TimeUnit.MILLISECONDS.toNanos(150)).build(), h);

    assertThat(h.await()).endsWith("[DONE]\n\n");
  }

  @Test
  void theDeadlineBoundsTheWholeExchange() throws Exception {
    fake.enqueue(ChatReply.repeatedTokens("x", 100).tokenInterval(Duration.ofMillis(20)));
    RecordingHandler h = new RecordingHandler();

    client.exchange(
        post(STREAM_BODY)
            .idleTimeoutNanos(TimeUnit.SECONDS.toNanos(5))
            .deadlineNanos(System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(300))
            .build(),
        h);

    assertThat(h.awaitFailure().kind()).isEqualTo(HttpFailure.Kind.DEADLINE_EXCEEDED);
    fake.awaitOpenConnections(0, Duration.ofSeconds(5));
  }

  @Test
  void timePausedByTheConsumerIsNotUpstreamIdleness() throws Exception {
    fake.enqueue(ChatReply.text("a b c").tokenInterval(Duration.ofMillis(30)));
    RecordingHandler h = new RecordingHandler();
    h.pauseAfterPieces = 1;

    HttpExchange exchange =
        client.exchange(post(STREAM_BODY).idleTimeoutNanos(TimeUnit.MILLISECONDS.toNanos(100)).build(), h);
    h.awaitFirstContent(Duration.ofSeconds(5));
    Thread.sleep(400);
    assertThat(h.outcome).isNotDone();
    h.ready = true;
    exchange.resume();

    assertThat(h.await()).endsWith("[DONE]\n\n");
  }

  @Test
  void aServerThatClosesMidBodyFailsTheExchange() throws Exception {
    fake.enqueue(ChatReply.text("a b c d e").closeAfterEvents(3));
    RecordingHandler h = new RecordingHandler();

    client.exchange(post(STREAM_BODY).build(), h);

    HttpFailure failure = h.awaitFailure();
    assertThat(failure.kind()).isEqualTo(HttpFailure.Kind.CONNECTION_CLOSED);
    assertThat(failure.responseStarted()).isTrue();
  }

  @Test
  void aResetBeforeAnyResponseFailsWithoutAResponse() throws Exception {
    fake.enqueue(ChatReply.resetBeforeResponse());
    RecordingHandler h = new RecordingHandler();

    client.exchange(post(STREAM_BODY).build(), h);

    HttpFailure failure = h.awaitFailure();
    assertThat(failure.kind()).isEqualTo(HttpFailure.Kind.CONNECTION_CLOSED);
    assertThat(failure.responseStarted()).isFalse();
    assertThat(h.status).isZero();
  }

  @Test
  void aPooledConnectionTheServerDroppedIsRetriedOnceOnANewConnection() throws Exception {
    // Connection 1 answers one request with keep-alive, then drops the next request unanswered,
    // as a server does whose keep-alive timer fired while the request was on its way.
    try (RawHttpServer server =
        new RawHttpServer(
            (socket, n) -> {
              InputStream in = socket.getInputStream();
              OutputStream out = socket.getOutputStream();
              if (RawHttpServer.readRequest(in) == null) {
                return;
              }
              RawHttpServer.write(out, RawHttpServer.okResponse("answer-" + n));
              if (n == 1) {
                RawHttpServer.readRequest(in);
                socket.close();
                return;
              }
              while (RawHttpServer.readRequest(in) != null) {
                RawHttpServer.write(out, RawHttpServer.okResponse("answer-" + n));
              }
            })) {
      UpstreamOrigin origin = UpstreamOrigin.plaintext("127.0.0.1", server.port());
      CompletableFuture<String> first =
          send(UpstreamRequest.builder(origin, HttpMethod.POST, "/").body(Unpooled.copiedBuffer("1", StandardCharsets.UTF_8)).build());
      assertThat(first.get(10, TimeUnit.SECONDS)).isEqualTo("200 answer-1");

      CompletableFuture<String> second =
          send(UpstreamRequest.builder(origin, HttpMethod.POST, "/").body(Unpooled.copiedBuffer("2", StandardCharsets.UTF_8)).build());

      assertThat(second.get(10, TimeUnit.SECONDS)).isEqualTo("200 answer-2");
      assertThat(server.connections()).isEqualTo(2);
    }
  }

  @Test
  void skipsInformationalResponses() throws Exception {
    try (RawHttpServer server =
        new RawHttpServer(
            (socket, n) -> {
              RawHttpServer.readRequest(socket.getInputStream());
              RawHttpServer.write(
                  socket.getOutputStream(),
                  "HTTP/1.1 100 Continue\r\n\r\n" + RawHttpServer.okResponse("final"));
            })) {
      String answer =
          send(UpstreamRequest.builder(UpstreamOrigin.plaintext("127.0.0.1", server.port()), HttpMethod.GET, "/").build())
              .get(10, TimeUnit.SECONDS);

      assertThat(answer).isEqualTo("200 final");
    }
  }

  @Test
  void aMalformedResponseFailsAsSuch() throws Exception {
    try (RawHttpServer server =
        new RawHttpServer(
            (socket, n) -> {
              RawHttpServer.readRequest(socket.getInputStream());
              RawHttpServer.write(socket.getOutputStream(), "SMTP ready\r\n\r\n");
            })) {
      RecordingHandler h = new RecordingHandler();
      client.exchange(
          UpstreamRequest.builder(UpstreamOrigin.plaintext("127.0.0.1", server.port()), HttpMethod.GET, "/").build(),
          h);

      assertThat(h.awaitFailure().kind()).isEqualTo(HttpFailure.Kind.MALFORMED_RESPONSE);
    }
  }

  @Test
  void cancelClosesTheConnectionAtOnceAndSilencesTheHandler() throws Exception {
    fake.enqueue(ChatReply.repeatedTokens("tok", 1000).tokenInterval(Duration.ofMillis(10)));
    RecordingHandler h = new RecordingHandler();
    HttpExchange exchange = client.exchange(post(STREAM_BODY).build(), h);
    h.awaitFirstContent(Duration.ofSeconds(5));
    assertThat(fake.openConnections()).isEqualTo(1);

    exchange.cancel();
    int callbacksAtCancel = h.callbacks.get();

    fake.awaitOpenConnections(0, Duration.ofMillis(100));
    Thread.sleep(100);
    assertThat(h.callbacks.get()).isLessThanOrEqualTo(callbacksAtCancel + 1);
    assertThat(h.outcome).isNotDone();
    assertThat(client.idleConnections()).isZero();
  }

  @Test
  void aHandlerThatIsNotReadyStopsReadingSoTheUpstreamStalls() throws Exception {
    try (FakeOpenAiServer slowReader = FakeOpenAiServer.builder().socketSendBufferBytes(16 * 1024).start();
        HttpUpstreamClient smallBuffers =
            HttpUpstreamClient.builder(group, NioSocketChannel.class).socketReceiveBufferBytes(16 * 1024).build()) {
      slowReader.enqueue(ChatReply.repeatedTokens("token", 5000));
      RecordingHandler h = new RecordingHandler();
      h.pauseAfterPieces = 1;
      HttpExchange exchange =
          smallBuffers.exchange(
              UpstreamRequest.builder(
                      UpstreamOrigin.plaintext("127.0.0.1", slowReader.port()), HttpMethod.POST, "/v1/chat/completions")
                  .body(Unpooled.copiedBuffer(STREAM_BODY, StandardCharsets.UTF_8))
                  .build(),
              h);

      slowReader.awaitWriteStall(Duration.ofSeconds(10));
      int received = h.bodyLength();
      Thread.sleep(200);
      assertThat(h.bodyLength()).as("no reads while paused").isEqualTo(received);
      assertThat(slowReader.chunksWritten()).isLessThan(5000);

      h.ready = true;
      exchange.resume();
      String body = h.await();
      assertThat(body).endsWith("data: [DONE]\n\n");
      assertThat(body.split("\"content\":\"token\"", -1)).hasSize(5001);
    }
  }

  @Test
  void aResponseOverTheBufferLimitFails() throws Exception {
    fake.enqueue(ChatReply.repeatedTokens("word", 500));
    CompletableFuture<String> answer =
        client.send(post(UNARY_BODY).build(), 1024, (response, body) -> "unexpected", f -> f);

    assertThatThrownBy(() -> answer.get(10, TimeUnit.SECONDS))
        .isInstanceOf(ExecutionException.class)
        .cause()
        .isInstanceOfSatisfying(
            HttpFailure.class, f -> assertThat(f.kind()).isEqualTo(HttpFailure.Kind.MALFORMED_RESPONSE));
  }

  @Test
  void aHandlerThatThrowsAbortsTheExchange() throws Exception {
    fake.enqueue(ChatReply.text("a b c").tokenInterval(Duration.ofMillis(20)));
    RecordingHandler h =
        new RecordingHandler() {
          @Override
          public void onContent(io.netty.buffer.ByteBuf content) {
            throw new IllegalStateException("bug");
          }
        };

    client.exchange(post(STREAM_BODY).build(), h);

    assertThat(h.awaitFailure().kind()).isEqualTo(HttpFailure.Kind.HANDLER_FAILED);
    fake.awaitOpenConnections(0, Duration.ofSeconds(5));
  }

  @Test
  void closingTheClientFailsExchangesInFlight() throws Exception {
    fake.enqueue(ChatReply.hang());
    RecordingHandler h = new RecordingHandler();
    client.exchange(post(STREAM_BODY).build(), h);
    fake.takeRequest();

    client.close();

    assertThat(h.awaitFailure().kind()).isEqualTo(HttpFailure.Kind.CLIENT_CLOSED);
    fake.awaitOpenConnections(0, Duration.ofSeconds(5));
  }

  @Test
  @SuppressWarnings("deprecation")
  void worksOnTheClassicNioEventLoopGroup() throws Exception {
    EventLoopGroup classic = new io.netty.channel.nio.NioEventLoopGroup(1);
    try (HttpUpstreamClient onClassic = HttpUpstreamClient.create(classic, NioSocketChannel.class)) {
      String answer =
          onClassic
              .send(post(UNARY_BODY).build(), 1 << 20, (r, b) -> b.toString(StandardCharsets.UTF_8), f -> f)
              .get(10, TimeUnit.SECONDS);
      assertThat(answer).contains("chat.completion");
    } finally {
      classic.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }
  }
}
