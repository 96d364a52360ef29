package dev.sluice.dataplane.provider.http;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.dataplane.provider.UpstreamException;
import dev.sluice.dataplane.provider.UpstreamFailure;
import dev.sluice.testing.fakes.ChatReply;
import dev.sluice.testing.fakes.FakeOpenAiServer;
import dev.sluice.testing.fakes.RecordedRequest;
import io.grpc.Status;
import io.netty.buffer.Unpooled;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.http.HttpMethod;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The pool's bounds (connections per origin, and a FIFO queue of requests waiting for one), over
 * real sockets on 127.0.0.1 against the fake OpenAI server. Every request here starts on one event
 * loop, so that it meets one pool: the bounds are per origin and loop.
 */
class ConnectionPoolBoundsTest {
  private static final String UNARY_BODY =
      "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
  private static final String STREAM_BODY =
      "{\"model\":\"m\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

  private static EventLoopGroup group;
  private FakeOpenAiServer fake;
  private HttpUpstreamClient client;
  private EventLoop loop;

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
    loop = group.next();
  }

  @AfterEach
  void stop() {
    if (client != null) {
      client.close();
    }
    fake.close();
  }

  private void useClient(int maxConnections, int maxPending) {
    client =
        HttpUpstreamClient.builder(group, NioSocketChannel.class)
            .maxConnectionsPerOrigin(maxConnections)
            .maxPendingRequestsPerOrigin(maxPending)
            .build();
  }

  private UpstreamRequest.Builder post(String json) {
    return UpstreamRequest.builder(
            UpstreamOrigin.plaintext("127.0.0.1", fake.port()), HttpMethod.POST, "/v1/chat/completions")
        .header("content-type", "application/json")
        .body(Unpooled.copiedBuffer(json, StandardCharsets.UTF_8));
  }

  private CompletableFuture<String> send(UpstreamRequest request) {
    return client.send(
        request,
        1 << 20,
        (response, body) -> response.status().code() + " " + body.toString(StandardCharsets.UTF_8),
        failure -> failure);
  }

  /** Sends {@code count} requests in one task on {@link #loop}: all in flight at once. */
  private List<CompletableFuture<String>> sendAtOnce(int count, String body) throws Exception {
    return loop.submit(
            () -> {
              List<CompletableFuture<String>> futures = new ArrayList<>(count);
              for (int i = 0; i < count; i++) {
                futures.add(send(post(body).build()));
              }
              return futures;
            })
        .get(10, TimeUnit.SECONDS);
  }

  private RecordingHandler exchangeOnLoop(UpstreamRequest request) throws Exception {
    RecordingHandler handler = new RecordingHandler();
    loop.submit(() -> client.exchange(request, handler)).get(10, TimeUnit.SECONDS);
    return handler;
  }

  private static HttpFailure failureOf(CompletableFuture<String> future) throws Exception {
    try {
      String body = future.get(10, TimeUnit.SECONDS);
      throw new AssertionError("expected a failure, got " + body);
    } catch (ExecutionException e) {
      return (HttpFailure) e.getCause();
    }
  }

  private static void await(BooleanSupplier condition) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("condition not met within 10 s");
      }
      Thread.sleep(5);
    }
  }

  @Test
  void twoThousandConcurrentRequestsShareEightConnectionsAndAllSucceed() throws Exception {
    useClient(8, 2000);

    List<CompletableFuture<String>> responses = sendAtOnce(2000, UNARY_BODY);

    for (CompletableFuture<String> response : responses) {
      assertThat(response.get(30, TimeUnit.SECONDS)).startsWith("200 ");
    }
    assertThat(fake.connectionsOpened()).isEqualTo(8);
    assertThat(fake.connectionsClosed()).isZero();
    assertThat(fake.requests()).hasSize(2000);
    assertThat(client.idleConnections()).isEqualTo(8);
    assertThat(client.pendingRequests()).isZero();
  }

  @Test
  void connectionsOpenedForABurstAreKeptIdleAndServeTheNextBurstWithoutNewConnects()
      throws Exception {
    useClient(HttpUpstreamClient.DEFAULT_MAX_CONNECTIONS_PER_ORIGIN, 1024);

    for (CompletableFuture<String> response : sendAtOnce(300, UNARY_BODY)) {
      assertThat(response.get(30, TimeUnit.SECONDS)).startsWith("200 ");
    }
    assertThat(client.idleConnections()).isEqualTo(300);
    for (CompletableFuture<String> response : sendAtOnce(300, UNARY_BODY)) {
      assertThat(response.get(30, TimeUnit.SECONDS)).startsWith("200 ");
    }

    assertThat(fake.connectionsOpened()).isEqualTo(300);
    assertThat(fake.connectionsClosed()).isZero();
  }

  @Test
  void aQueuedRequestWhoseCallIsCancelledNeverReachesTheUpstream() throws Exception {
    useClient(1, 16);
    fake.enqueue(ChatReply.repeatedTokens("tok", 10).tokenInterval(Duration.ofMillis(50)));
    RecordingHandler first = exchangeOnLoop(post(STREAM_BODY).build());
    first.awaitFirstContent(Duration.ofSeconds(5));

    CompletableFuture<String> queued = sendAtOnce(1, UNARY_BODY).get(0);
    assertThat(client.pendingRequests()).isEqualTo(1);
    queued.cancel(false);
    await(() -> client.pendingRequests() == 0);

    assertThat(first.await()).endsWith("data: [DONE]\n\n");
    assertThat(sendAtOnce(1, UNARY_BODY).get(0).get(10, TimeUnit.SECONDS)).startsWith("200 ");
    assertThat(fake.requests()).hasSize(2).extracting(RecordedRequest::connectionId).containsOnly(1);
    assertThat(fake.connectionsOpened()).isEqualTo(1);
  }

  @Test
  void aQueuedRequestTakesTheReleasedConnectionWithoutAReconnect() throws Exception {
    useClient(1, 16);
    fake.enqueue(ChatReply.repeatedTokens("tok", 5).tokenInterval(Duration.ofMillis(20)));
    RecordingHandler first = exchangeOnLoop(post(STREAM_BODY).build());
    first.awaitFirstContent(Duration.ofSeconds(5));

    List<CompletableFuture<String>> queued = sendAtOnce(3, UNARY_BODY);
    assertThat(client.pendingRequests()).isEqualTo(3);

    assertThat(first.await()).endsWith("data: [DONE]\n\n");
    for (CompletableFuture<String> response : queued) {
      assertThat(response.get(10, TimeUnit.SECONDS)).startsWith("200 ");
    }
    assertThat(fake.connectionsOpened()).isEqualTo(1);
    assertThat(fake.requests()).extracting(RecordedRequest::connectionId).containsOnly(1);
  }

  @Test
  void aFullQueueFailsTheNextRequestAtOnceWithPoolOverflowMappedToUnavailable() throws Exception {
    useClient(1, 1);
    fake.enqueue(ChatReply.repeatedTokens("tok", 5).tokenInterval(Duration.ofMillis(20)));
    RecordingHandler first = exchangeOnLoop(post(STREAM_BODY).build());
    first.awaitFirstContent(Duration.ofSeconds(5));

    List<CompletableFuture<String>> next = sendAtOnce(2, UNARY_BODY);
    HttpFailure overflow = failureOf(next.get(1));

    assertThat(overflow.kind()).isEqualTo(HttpFailure.Kind.POOL_OVERFLOW);
    assertThat(overflow.responseStarted()).isFalse();
    UpstreamException mapped = UpstreamErrors.forFailure("b1", overflow, false);
    assertThat(mapped.failure()).isEqualTo(UpstreamFailure.POOL_OVERFLOW);
    assertThat(mapped.failure().code()).isEqualTo(Status.Code.UNAVAILABLE);
    assertThat(mapped.failure().retryable()).isTrue();
    assertThat(mapped.failure().countsAsOutlier()).isFalse();
    // The one that found room in the queue is served once the connection is released.
    assertThat(first.await()).endsWith("data: [DONE]\n\n");
    assertThat(next.get(0).get(10, TimeUnit.SECONDS)).startsWith("200 ");
    assertThat(fake.requests()).hasSize(2);
  }

  @Test
  void aRequestThatWaitsInTheQueuePastItsConnectTimeoutFailsWithPoolOverflow() throws Exception {
    useClient(1, 16);
    fake.enqueue(ChatReply.hang());
    RecordingHandler holder = exchangeOnLoop(post(UNARY_BODY).build());
    await(() -> fake.requests().size() == 1);

    CompletableFuture<String> waiting =
        loop.submit(
                () ->
                    send(post(UNARY_BODY).connectTimeoutNanos(TimeUnit.MILLISECONDS.toNanos(50)).build()))
            .get(10, TimeUnit.SECONDS);
    HttpFailure failure = failureOf(waiting);

    assertThat(failure.kind()).isEqualTo(HttpFailure.Kind.POOL_OVERFLOW);
    assertThat(failure).hasMessageContaining("connect timeout");
    assertThat(client.pendingRequests()).isZero();
    assertThat(fake.requests()).hasSize(1);
    assertThat(holder.outcome).isNotDone();
  }

  @Test
  void aConnectionThatClosesLetsTheOldestQueuedRequestDialInItsPlace() throws Exception {
    useClient(1, 16);
    fake.enqueue(ChatReply.hang());
    HttpExchange holder =
        loop.submit(() -> client.exchange(post(UNARY_BODY).build(), new RecordingHandler()))
            .get(10, TimeUnit.SECONDS);
    await(() -> fake.requests().size() == 1);
    List<CompletableFuture<String>> queued = sendAtOnce(2, UNARY_BODY);
    assertThat(fake.connectionsOpened()).isEqualTo(1);

    holder.cancel(); // closes its connection: the slot goes to the queue

    for (CompletableFuture<String> response : queued) {
      assertThat(response.get(10, TimeUnit.SECONDS)).startsWith("200 ");
    }
    assertThat(fake.connectionsOpened()).isEqualTo(2);
    assertThat(fake.openConnections()).isEqualTo(1);
  }

  @Test
  void closingTheClientFailsTheQueuedRequests() throws Exception {
    useClient(1, 16);
    fake.enqueue(ChatReply.hang());
    exchangeOnLoop(post(UNARY_BODY).build());
    await(() -> fake.requests().size() == 1);
    CompletableFuture<String> queued = sendAtOnce(1, UNARY_BODY).get(0);

    client.close();

    assertThat(failureOf(queued).kind()).isEqualTo(HttpFailure.Kind.CLIENT_CLOSED);
    assertThat(fake.requests()).hasSize(1);
  }
}
