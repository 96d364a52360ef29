package dev.sluice.bench.upstream;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.bench.gateway.BenchGateway;
import dev.sluice.inference.v1.ChatMessage;
import dev.sluice.inference.v1.ChatRequest;
import dev.sluice.inference.v1.ContentPart;
import dev.sluice.inference.v1.InferenceServiceGrpc;
import dev.sluice.inference.v1.Role;
import dev.sluice.inference.v1.StreamChatRequest;
import dev.sluice.inference.v1.StreamChatResponse;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * The benchmark's fake upstream behind the benchmark's gateway, over HTTP/1.1 and over h2c: the
 * same streams either way, one connection per stream or one for all of them.
 */
class FakeUpstreamThroughGatewayTest {
  private static final int STREAMS = 8;
  /** 25 tokens 20 ms apart: half a second, so that the streams overlap. */
  private static final int TOKENS = 25;

  @TempDir Path dir;

  private final ExecutorService threads = Executors.newCachedThreadPool();
  private final List<AutoCloseable> closeLast = new ArrayList<>();

  @AfterEach
  void tearDown() throws Exception {
    threads.shutdownNow();
    assertThat(threads.awaitTermination(20, TimeUnit.SECONDS)).isTrue();
    for (AutoCloseable c : closeLast) {
      c.close();
    }
  }

  @Test
  void overH2cEveryStreamSharesOneUpstreamConnection() throws Exception {
    FakeUpstream upstream = startUpstream();

    List<Integer> tokens = streamConcurrently(startGateway(upstream, true));

    assertThat(tokens).hasSize(STREAMS).containsOnly(TOKENS);
    assertThat(upstream.connectionsAccepted()).isEqualTo(1);
  }

  @Test
  void overHttp1EveryConcurrentStreamHasItsOwnUpstreamConnection() throws Exception {
    FakeUpstream upstream = startUpstream();

    List<Integer> tokens = streamConcurrently(startGateway(upstream, false));

    assertThat(tokens).hasSize(STREAMS).containsOnly(TOKENS);
    assertThat(upstream.connectionsAccepted()).isEqualTo(STREAMS);
  }

  private FakeUpstream startUpstream() {
    FakeUpstream upstream = FakeUpstream.builder().start();
    closeLast.add(upstream);
    return upstream;
  }

  /** Starts BenchGateway in this JVM (interrupting its thread stops it); returns its port. */
  private int startGateway(FakeUpstream upstream, boolean h2c) throws Exception {
    Path portFile = dir.resolve("gateway-" + h2c + ".port");
    List<String> args =
        new ArrayList<>(
            List.of(
                "--upstream", "http://127.0.0.1:" + upstream.port(),
                "--paced-delays", "20",
                "--port-file", portFile.toString(),
                "--no-metrics",
                "--max-time", "2m"));
    if (h2c) {
      args.add("--upstream-h2c");
    }
    Future<Integer> gateway =
        threads.submit(
            () -> new CommandLine(new BenchGateway()).execute(args.toArray(String[]::new)));
    long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
    while (!Files.exists(portFile) || Files.readString(portFile).isBlank()) {
      assertThat(gateway.isDone()).as("the gateway exited before serving").isFalse();
      assertThat(System.nanoTime()).as("the gateway serves within 60 s").isLessThan(deadline);
      Thread.sleep(20);
    }
    return Integer.parseInt(Files.readString(portFile).strip());
  }

  /** Opens {@link #STREAMS} paced streams at once; returns the tokens each received. */
  private List<Integer> streamConcurrently(int port) throws Exception {
    ManagedChannel channel = NettyChannelBuilder.forAddress("127.0.0.1", port).usePlaintext().build();
    closeLast.add(0, () -> channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS));
    StreamChatRequest request =
        StreamChatRequest.newBuilder()
            .setChat(
                ChatRequest.newBuilder()
                    .setModel("bench-d20")
                    .setMaxOutputTokens(TOKENS)
                    .addMessages(
                        ChatMessage.newBuilder()
                            .setRole(Role.ROLE_USER)
                            .addParts(ContentPart.newBuilder().setText("count"))))
            .build();
    CountDownLatch ready = new CountDownLatch(STREAMS);
    List<Future<Integer>> streams = new ArrayList<>();
    for (int i = 0; i < STREAMS; i++) {
      streams.add(
          threads.submit(
              () -> {
                ready.countDown();
                ready.await();
                Iterator<StreamChatResponse> events =
                    InferenceServiceGrpc.newBlockingStub(channel)
                        .withDeadlineAfter(30, TimeUnit.SECONDS)
                        .streamChat(request);
                int tokens = 0;
                boolean finished = false;
                while (events.hasNext()) {
                  StreamChatResponse event = events.next();
                  if (event.hasContentDelta()) {
                    tokens++;
                  }
                  finished |= event.hasChoiceFinished();
                }
                assertThat(finished).as("the stream ends with a finish event").isTrue();
                return tokens;
              }));
    }
    List<Integer> tokens = new ArrayList<>();
    for (Future<Integer> stream : streams) {
      tokens.add(stream.get(60, TimeUnit.SECONDS));
    }
    return tokens;
  }
}
