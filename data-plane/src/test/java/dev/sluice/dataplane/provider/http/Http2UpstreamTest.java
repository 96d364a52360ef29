package dev.sluice.dataplane.provider.http;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.testing.fakes.ChatReply;
import dev.sluice.testing.fakes.FakeOpenAiServer;
import dev.sluice.testing.fakes.RecordedRequest;
import io.netty.buffer.Unpooled;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.ssl.ApplicationProtocolConfig;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The upstream client over HTTP/2: h2c with prior knowledge, and h2 negotiated by ALPN. */
class Http2UpstreamTest {
  private static final String STREAM_BODY =
      "{\"model\":\"m\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
  private static final File CERTS = new File("src/test/resources/tls");

  private static EventLoopGroup group;
  private FakeOpenAiServer fake;
  private HttpUpstreamClient client;
  private EventLoop loop;

  @BeforeAll
  static void startLoops() {
    group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
  }

  @AfterAll
  static void stopLoops() {
    group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
  }

  @BeforeEach
  void start() {
    fake = FakeOpenAiServer.builder().http2().start();
    client = HttpUpstreamClient.create(group, NioSocketChannel.class);
    loop = group.next();
  }

  @AfterEach
  void stop() {
    client.close();
    fake.close();
  }

  private UpstreamRequest stream(UpstreamOrigin origin) {
    return UpstreamRequest.builder(origin, HttpMethod.POST, "/v1/chat/completions")
        .header("content-type", "application/json")
        .body(Unpooled.copiedBuffer(STREAM_BODY, StandardCharsets.UTF_8))
        .build();
  }

  private HttpExchange exchange(UpstreamRequest request, RecordingHandler handler) throws Exception {
    return loop.submit(() -> client.exchange(request, handler)).get(5, TimeUnit.SECONDS);
  }

  @Test
  void multiplexesConcurrentStreamsOnOneH2cConnection() throws Exception {
    UpstreamOrigin origin = UpstreamOrigin.h2c("127.0.0.1", fake.port());
    List<RecordingHandler> handlers = new ArrayList<>();
    for (int i = 0; i < 5; i++) {
      fake.enqueue(ChatReply.text("one two three").tokenInterval(Duration.ofMillis(20)));
    }
    for (int i = 0; i < 5; i++) {
      RecordingHandler h = new RecordingHandler();
      exchange(stream(origin), h);
      handlers.add(h);
    }

    for (RecordingHandler h : handlers) {
      assertThat(h.await()).contains("\"content\":\" three\"").endsWith("data: [DONE]\n\n");
      assertThat(h.status).isEqualTo(200);
    }
    assertThat(fake.connectionsOpened()).isEqualTo(1);
    assertThat(fake.requests()).extracting(RecordedRequest::connectionId).containsOnly(1);
    RecordedRequest sent = fake.requests().get(0);
    assertThat(sent.jsonBody().get("model").asText()).isEqualTo("m");
    assertThat(sent.header(":authority")).isNull(); // pseudo-headers become the host
    assertThat(sent.header("host")).isEqualTo("127.0.0.1:" + fake.port());
  }

  @Test
  void negotiatesH2ByAlpnOverTls() throws Exception {
    try (FakeOpenAiServer secure =
        FakeOpenAiServer.builder()
            .tls(new File(CERTS, "server.pem"), new File(CERTS, "server.key"))
            .http2()
            .start()) {
      UpstreamOrigin origin = UpstreamOrigin.tls("127.0.0.1", secure.port(), alpnClientContext(), "localhost");
      List<RecordingHandler> handlers = new ArrayList<>();
      for (int i = 0; i < 3; i++) {
        secure.enqueue(ChatReply.text("a b c").tokenInterval(Duration.ofMillis(20)));
      }
      for (int i = 0; i < 3; i++) {
        RecordingHandler h = new RecordingHandler();
        exchange(stream(origin), h);
        handlers.add(h);
      }

      for (RecordingHandler h : handlers) {
        assertThat(h.await()).endsWith("data: [DONE]\n\n");
      }
      assertThat(secure.connectionsOpened()).as("three streams, one h2 connection").isEqualTo(1);
    }
  }

  private static SslContext alpnClientContext() throws Exception {
    return SslContextBuilder.forClient()
        .sslProvider(SslProvider.JDK)
        .trustManager(new File(CERTS, "ca.pem"))
        .applicationProtocolConfig(
            new ApplicationProtocolConfig(
                ApplicationProtocolConfig.Protocol.ALPN,
                ApplicationProtocolConfig.SelectorFailureBehavior.NO_ADVERTISE,
                ApplicationProtocolConfig.SelectedListenerFailureBehavior.ACCEPT,
                "h2", "http/1.1"))
        .build();
  }

  @Test
  void aBurstToAnHttp11OnlyTlsServerWaitsForAlpnThenDialsItsOwnConnections() throws Exception {
    try (FakeOpenAiServer http1Only =
        FakeOpenAiServer.builder().tls(new File(CERTS, "server.pem"), new File(CERTS, "server.key")).start()) {
      UpstreamOrigin origin = UpstreamOrigin.tls("127.0.0.1", http1Only.port(), alpnClientContext(), "localhost");
      List<RecordingHandler> handlers = new ArrayList<>();
      for (int i = 0; i < 3; i++) {
        http1Only.enqueue(ChatReply.text("x y").tokenInterval(Duration.ofMillis(30)));
      }
      for (int i = 0; i < 3; i++) {
        RecordingHandler h = new RecordingHandler();
        exchange(stream(origin), h);
        handlers.add(h);
      }

      for (RecordingHandler h : handlers) {
        assertThat(h.await()).endsWith("data: [DONE]\n\n");
      }
      assertThat(http1Only.connectionsOpened()).as("one connection per concurrent HTTP/1.1 exchange").isEqualTo(3);
    }
  }

  @Test
  void exchangesWaitingForAConnectionThatFailsDoNotHang() throws Exception {
    int port;
    try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
      port = s.getLocalPort();
    }
    UpstreamOrigin origin = UpstreamOrigin.h2c("127.0.0.1", port);
    List<RecordingHandler> handlers = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      RecordingHandler h = new RecordingHandler();
      exchange(stream(origin), h);
      handlers.add(h);
    }

    for (RecordingHandler h : handlers) {
      assertThat(h.awaitFailure().kind()).isEqualTo(HttpFailure.Kind.CONNECT_FAILED);
    }
  }

  @Test
  void cancelResetsOnlyItsStreamAndTheConnectionServesTheNext() throws Exception {
    UpstreamOrigin origin = UpstreamOrigin.h2c("127.0.0.1", fake.port());
    fake.enqueue(ChatReply.repeatedTokens("tok", 1000).tokenInterval(Duration.ofMillis(5)));
    RecordingHandler first = new RecordingHandler();
    HttpExchange exchange = exchange(stream(origin), first);
    first.awaitFirstContent(Duration.ofSeconds(5));

    exchange.cancel();

    fake.awaitAbortedResponses(1, Duration.ofMillis(100));
    assertThat(fake.openConnections()).as("RST_STREAM, not a closed connection").isEqualTo(1);
    RecordingHandler second = new RecordingHandler();
    exchange(stream(origin), second);
    assertThat(second.await()).endsWith("data: [DONE]\n\n");
    assertThat(fake.connectionsOpened()).isEqualTo(1);
    assertThat(first.outcome).isNotDone();
  }

  @Test
  void aPausedStreamStallsAloneWhileItsConnectionServesOthers() throws Exception {
    UpstreamOrigin origin = UpstreamOrigin.h2c("127.0.0.1", fake.port());
    fake.enqueue(ChatReply.repeatedTokens("token", 5000));
    RecordingHandler paused = new RecordingHandler();
    paused.pauseAfterPieces = 1;
    HttpExchange exchange = exchange(stream(origin), paused);
    fake.awaitWriteStall(Duration.ofSeconds(10));
    int received = paused.bodyLength();

    RecordingHandler other = new RecordingHandler();
    exchange(stream(origin), other);
    assertThat(other.await()).endsWith("data: [DONE]\n\n");
    assertThat(paused.bodyLength()).isEqualTo(received);
    assertThat((long) received).as("bounded by the stream window").isLessThan(Http2Connection.STREAM_WINDOW * 2L);

    paused.ready = true;
    exchange.resume();
    assertThat(paused.await().split("\"content\":\"token\"", -1)).hasSize(5001);
    assertThat(fake.connectionsOpened()).isEqualTo(1);
  }

  @Test
  void aStreamResetByTheServerFailsThatExchangeOnly() throws Exception {
    UpstreamOrigin origin = UpstreamOrigin.h2c("127.0.0.1", fake.port());
    fake.enqueue(ChatReply.text("a b c d e").resetAfterEvents(3));
    RecordingHandler reset = new RecordingHandler();

    exchange(stream(origin), reset);

    HttpFailure failure = reset.awaitFailure();
    assertThat(failure.kind()).isEqualTo(HttpFailure.Kind.CONNECTION_CLOSED);
    assertThat(failure.responseStarted()).isTrue();
    RecordingHandler next = new RecordingHandler();
    exchange(stream(origin), next);
    assertThat(next.await()).endsWith("data: [DONE]\n\n");
    assertThat(fake.connectionsOpened()).isEqualTo(1);
  }

  @Test
  void unaryExchangesWorkOverH2c() throws Exception {
    UpstreamOrigin origin = UpstreamOrigin.h2c("127.0.0.1", fake.port());
    UpstreamRequest request =
        UpstreamRequest.builder(origin, HttpMethod.POST, "/v1/chat/completions")
            .body(Unpooled.copiedBuffer("{\"model\":\"m\",\"messages\":[]}", StandardCharsets.UTF_8))
            .build();

    String answer =
        loop.submit(() -> client.send(request, 1 << 20, (r, b) -> r.status().code() + b.toString(StandardCharsets.UTF_8), f -> f))
            .get()
            .get(10, TimeUnit.SECONDS);

    assertThat(answer).startsWith("200{").contains("\"object\":\"chat.completion\"");
  }

  @Test
  void aPlainHttp11ClientIsStillServedByTheSameFake() throws Exception {
    RecordingHandler h = new RecordingHandler();

    exchange(stream(UpstreamOrigin.plaintext("127.0.0.1", fake.port())), h);

    assertThat(h.await()).endsWith("data: [DONE]\n\n");
  }
}
