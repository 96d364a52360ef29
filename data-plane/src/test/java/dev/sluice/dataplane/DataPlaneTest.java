package dev.sluice.dataplane;

import static dev.sluice.dataplane.testing.TestConfigs.backend;
import static dev.sluice.dataplane.testing.TestConfigs.model;
import static dev.sluice.dataplane.testing.TestConfigs.snapshot;
import static dev.sluice.dataplane.testing.TestConfigs.versionInfo;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import com.google.protobuf.util.Durations;
import dev.sluice.config.v1.BackendKind;
import dev.sluice.config.v1.ConfigSnapshot;
import dev.sluice.config.v1.MockSettings;
import dev.sluice.config.v1.RateLimit;
import dev.sluice.config.v1.RateLimitDimension;
import dev.sluice.config.v1.RateLimitMetric;
import dev.sluice.config.v1.RateLimitPolicy;
import dev.sluice.config.v1.Route;
import dev.sluice.dataplane.testing.FakeControlPlane;
import dev.sluice.dataplane.testing.FakeProvider;
import dev.sluice.dataplane.testing.FakeProvider.Script;
import dev.sluice.discovery.v1.LeaseQuotaRequest;
import dev.sluice.inference.v1.ChatMessage;
import dev.sluice.inference.v1.ChatRequest;
import dev.sluice.inference.v1.ContentPart;
import dev.sluice.inference.v1.InferenceServiceGrpc;
import dev.sluice.inference.v1.Role;
import dev.sluice.inference.v1.StreamChatRequest;
import dev.sluice.inference.v1.StreamChatResponse;
import io.grpc.ConnectivityState;
import io.grpc.Context;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class DataPlaneTest {
  private static final Duration WAIT = Duration.ofSeconds(10);
  private static final ConfigSnapshot CONFIG = snapshot(1, backend("b1"), model("m1", "b1"));

  @TempDir Path dir;

  private final FakeProvider provider = new FakeProvider();
  private final List<AutoCloseable> closeables = new ArrayList<>();

  @AfterEach
  void closeEverything() throws Exception {
    for (int i = closeables.size() - 1; i >= 0; i--) {
      closeables.get(i).close();
    }
    provider.close();
  }

  private <T extends AutoCloseable> T closeLater(T closeable) {
    closeables.add(closeable);
    return closeable;
  }

  private DataPlane.Builder dataPlane(List<String> targets) {
    return DataPlane.builder()
        .listenAddress(new InetSocketAddress("127.0.0.1", 0))
        .controlPlaneTargets(targets)
        .nodeId("dp-1")
        .nodeLabels(Map.of("zone", "test"))
        .snapshotCacheFile(dir.resolve("config.bin"))
        .allowAnonymous(true)
        .eventLoopThreads(2)
        .providers(kind -> provider);
  }

  private ManagedChannel channel(DataPlane dp) {
    ManagedChannel channel =
        NettyChannelBuilder.forAddress("127.0.0.1", dp.port()).usePlaintext().build();
    closeLater(() -> channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS));
    return channel;
  }

  private static ServingStatus health(ManagedChannel channel) {
    return HealthGrpc.newBlockingStub(channel)
        .withDeadlineAfter(5, TimeUnit.SECONDS)
        .check(HealthCheckRequest.newBuilder().setService("").build())
        .getStatus();
  }

  private static StreamChatRequest stream(String model) {
    return StreamChatRequest.newBuilder()
        .setChat(
            ChatRequest.newBuilder()
                .setModel(model)
                .addMessages(
                    ChatMessage.newBuilder()
                        .setRole(Role.ROLE_USER)
                        .addParts(ContentPart.newBuilder().setText("hi"))))
        .build();
  }

  private static String streamText(ManagedChannel channel, String model) {
    StringBuilder text = new StringBuilder();
    Iterator<StreamChatResponse> events =
        InferenceServiceGrpc.newBlockingStub(channel)
            .withDeadlineAfter(WAIT.toMillis(), TimeUnit.MILLISECONDS)
            .streamChat(stream(model));
    events.forEachRemaining(e -> text.append(e.getContentDelta().getText()));
    return text.toString();
  }

  @Test
  void reportsNotServingUntilTheControlPlaneDeliversAConfig() throws Exception {
    FakeControlPlane cp = closeLater(new FakeControlPlane("cp1"));
    DataPlane dp = closeLater(dataPlane(List.of(cp.target())).build());
    dp.start();
    ManagedChannel channel = channel(dp);

    var first = cp.nextRequest(WAIT);
    ServingStatus before = health(channel);
    cp.send(versionInfo(1), CONFIG);

    assertThat(first.getNode().getId()).isEqualTo("dp-1");
    assertThat(first.getNode().getLabelsMap()).containsEntry("zone", "test");
    assertThat(before).isEqualTo(ServingStatus.NOT_SERVING);
    assertThat(dp.awaitConfig(WAIT)).isTrue();
    assertThat(cp.nextRequest(WAIT).getVersionInfo()).isEqualTo(versionInfo(1));
    assertThat(health(channel)).isEqualTo(ServingStatus.SERVING);
    assertThat(dp.configVersion()).isEqualTo(versionInfo(1));
    assertThat(streamText(channel, "m1")).isEqualTo(FakeProvider.text(3));
  }

  @Test
  void bootsFromItsCacheFileWhenNoControlPlaneAnswers() throws Exception {
    FakeControlPlane cp = new FakeControlPlane("cp1");
    try (DataPlane first = dataPlane(List.of(cp.target())).build()) {
      first.start();
      cp.nextRequest(WAIT);
      cp.send(versionInfo(1), CONFIG);
      cp.nextRequest(WAIT);
    } finally {
      cp.close();
    }

    DataPlane restarted = closeLater(dataPlane(List.of(deadTarget())).build());
    restarted.start();

    assertThat(restarted.awaitConfig(WAIT)).isTrue();
    assertThat(restarted.configVersion()).isEqualTo(versionInfo(1));
    ManagedChannel channel = channel(restarted);
    assertThat(health(channel)).isEqualTo(ServingStatus.SERVING);
    assertThat(streamText(channel, "m1")).isEqualTo(FakeProvider.text(3));
  }

  @Test
  void enforcesItsStaticShareOfALimitAndReportsDemandToAControlPlaneThatLeasesNone()
      throws Exception {
    FakeControlPlane cp = closeLater(new FakeControlPlane("cp1"));
    DataPlane dp = closeLater(dataPlane(List.of(cp.target())).fleetSizeHint(2).build());
    dp.start();
    cp.nextRequest(WAIT);
    cp.send(
        versionInfo(1),
        snapshot(
            1,
            backend("b1"),
            model("m1", "b1"),
            RateLimitPolicy.newBuilder()
                .setName("per-model")
                .addDimensions(RateLimitDimension.RATE_LIMIT_DIMENSION_MODEL)
                .addLimits(
                    RateLimit.newBuilder()
                        .setMetric(RateLimitMetric.RATE_LIMIT_METRIC_REQUESTS)
                        .setAmount(4)
                        .setWindow(Durations.fromSeconds(60)))
                .build(),
            Route.newBuilder().setName("r1").addRateLimitPolicies("per-model").build()));
    assertThat(dp.awaitConfig(WAIT)).isTrue();
    ManagedChannel channel = channel(dp);

    // Two data planes share the limit of 4 and no lease arrives: this node admits 2.
    streamText(channel, "m1");
    streamText(channel, "m1");
    StatusRuntimeException third =
        catchThrowableOfType(StatusRuntimeException.class, () -> streamText(channel, "m1"));
    LeaseQuotaRequest report = cp.nextLeaseRequest(WAIT);
    StatusRuntimeException fourth =
        catchThrowableOfType(StatusRuntimeException.class, () -> streamText(channel, "m1"));

    assertThat(third.getStatus().getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
    assertThat(fourth.getStatus().getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
    assertThat(report.getNode().getId()).isEqualTo("dp-1");
    assertThat(report.getVersionInfo()).isEqualTo(versionInfo(1));
    assertThat(report.getDemandsList())
        .extracting(d -> d.getBucket().getPolicy() + "/" + d.getBucket().getKey())
        .containsExactly("per-model/model=m1");
    assertThat(provider.streams).hasSize(2);
  }

  @ParameterizedTest
  @EnumSource(IoTransport.class)
  void servesConfigAndStreamsOverEitherIoTransport(IoTransport transport) throws Exception {
    // Linux x86_64 (where CI runs) loads native epoll; the default must pick it there.
    assertThat(transport.isAvailable()).isTrue();
    assertThat(IoTransport.best()).isEqualTo(IoTransport.EPOLL);
    FakeControlPlane cp = closeLater(new FakeControlPlane("cp1"));
    DataPlane dp = closeLater(dataPlane(List.of(cp.target())).transport(transport).build());
    dp.start();
    cp.nextRequest(WAIT);
    cp.send(versionInfo(1), CONFIG);

    assertThat(dp.awaitConfig(WAIT)).isTrue();
    assertThat(streamText(channel(dp), "m1")).isEqualTo(FakeProvider.text(3));
  }

  @Test
  void aFleetSizeHintBelowOneIsRejected() {
    assertThatThrownBy(() -> DataPlane.builder().fleetSizeHint(0))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("fleetSizeHint");
  }

  @Test
  void staysNotServingWithNeitherControlPlaneNorCache() throws Exception {
    DataPlane dp = closeLater(dataPlane(List.of(deadTarget())).build());
    dp.start();

    assertThat(dp.awaitConfig(Duration.ofMillis(300))).isFalse();
    assertThat(health(channel(dp))).isEqualTo(ServingStatus.NOT_SERVING);
  }

  @Test
  void closeLetsStreamsInFlightFinishAndRefusesNewCalls() throws Exception {
    provider.byDefault(Script.tokens(20).paced(Duration.ofMillis(20)));
    FakeControlPlane cp = closeLater(new FakeControlPlane("cp1"));
    DataPlane dp = dataPlane(List.of(cp.target())).drainTimeout(WAIT).build();
    dp.start();
    cp.nextRequest(WAIT);
    cp.send(versionInfo(1), CONFIG);
    dp.awaitConfig(WAIT);
    ManagedChannel channel = channel(dp);

    CompletableFuture<String> inFlight =
        CompletableFuture.supplyAsync(() -> streamText(channel, "m1"));
    awaitStreams(1);
    CompletableFuture<Void> closing = CompletableFuture.runAsync(dp::close);

    assertThat(inFlight.get(WAIT.toMillis(), TimeUnit.MILLISECONDS))
        .isEqualTo(FakeProvider.text(20));
    closing.get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
    StatusRuntimeException refused =
        catchThrowableOfType(StatusRuntimeException.class, () -> streamText(channel, "m1"));
    assertThat(refused.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
  }

  @Test
  void closeCancelsWhatIsStillRunningAfterTheDrainTimeout() throws Exception {
    provider.byDefault(Script.hanging());
    FakeControlPlane cp = closeLater(new FakeControlPlane("cp1"));
    DataPlane dp = dataPlane(List.of(cp.target())).drainTimeout(Duration.ofMillis(200)).build();
    dp.start();
    cp.nextRequest(WAIT);
    cp.send(versionInfo(1), CONFIG);
    dp.awaitConfig(WAIT);
    ManagedChannel channel = channel(dp);

    CompletableFuture<String> hanging =
        CompletableFuture.supplyAsync(() -> streamText(channel, "m1"));
    awaitStreams(1);
    dp.close();

    assertThat(provider.streams.get(0).awaitCancelled(WAIT)).isTrue();
    assertThat(hanging).failsWithin(WAIT);
  }

  @Test
  void aConnectionThatNeverCompletesTheHandshakeIsClosed() throws Exception {
    FakeControlPlane cp = closeLater(new FakeControlPlane("cp1"));
    DataPlane dp =
        closeLater(dataPlane(List.of(cp.target())).handshakeTimeout(Duration.ofMillis(300)).build());
    dp.start();

    try (java.net.Socket silent = new java.net.Socket("127.0.0.1", dp.port())) {
      silent.setSoTimeout(Math.toIntExact(WAIT.toMillis()));
      long started = System.nanoTime();
      // Nothing sent: no HTTP/2 preface. The server writes its SETTINGS, then closes.
      int read;
      do {
        read = silent.getInputStream().read();
      } while (read != -1);
      assertThat(Duration.ofNanos(System.nanoTime() - started)).isLessThan(WAIT);
    }
  }

  @Test
  void aConnectionWithoutCallsForTheIdleLimitIsEndedWithGoaway() throws Exception {
    provider.byDefault(Script.tokens(2));
    FakeControlPlane cp = closeLater(new FakeControlPlane("cp1"));
    DataPlane dp =
        closeLater(
            dataPlane(List.of(cp.target())).maxConnectionIdle(Duration.ofMillis(300)).build());
    dp.start();
    cp.nextRequest(WAIT);
    cp.send(versionInfo(1), CONFIG);
    dp.awaitConfig(WAIT);
    ManagedChannel channel = channel(dp);
    streamText(channel, "m1");
    assertThat(channel.getState(false)).isEqualTo(io.grpc.ConnectivityState.READY);

    long deadline = System.nanoTime() + WAIT.toNanos();
    while (channel.getState(false) == io.grpc.ConnectivityState.READY
        && System.nanoTime() < deadline) {
      Thread.sleep(20);
    }

    assertThat(channel.getState(false))
        .as("the server's GOAWAY ended the transport; the channel reconnects on its next call")
        .isEqualTo(io.grpc.ConnectivityState.IDLE);
    assertThat(streamText(channel, "m1")).isNotEmpty();
  }

  @Test
  void aClientResettingStreamsFasterThanAllowedLosesItsConnection() throws Exception {
    provider.byDefault(Script.hanging());
    FakeControlPlane cp = closeLater(new FakeControlPlane("cp1"));
    DataPlane dp =
        closeLater(
            dataPlane(List.of(cp.target())).maxResetsPerWindow(10, Duration.ofSeconds(60)).build());
    dp.start();
    cp.nextRequest(WAIT);
    cp.send(versionInfo(1), CONFIG);
    dp.awaitConfig(WAIT);
    ManagedChannel channel = channel(dp);
    CompletableFuture<String> bystander =
        CompletableFuture.supplyAsync(() -> streamText(channel, "m1"));
    awaitStreams(1);

    // Each cancelled call is one RST_STREAM from the client.
    for (int i = 0; i < 30 && !bystander.isDone(); i++) {
      Context.CancellableContext call = Context.current().withCancellation();
      call.run(
          () ->
              InferenceServiceGrpc.newStub(channel)
                  .streamChat(stream("m1"), new StreamObserver<>() {
                    @Override
                    public void onNext(StreamChatResponse value) {}

                    @Override
                    public void onError(Throwable t) {}

                    @Override
                    public void onCompleted() {}
                  }));
      long started = System.nanoTime();
      while (provider.streams.size() < i + 2
          && !bystander.isDone()
          && System.nanoTime() - started < WAIT.toNanos()) {
        Thread.sleep(5);
      }
      call.cancel(null);
    }

    Throwable ended =
        catchThrowableOfType(
            ExecutionException.class,
            () -> bystander.get(WAIT.toMillis(), TimeUnit.MILLISECONDS));
    Status status = Status.fromThrowable(ended.getCause());
    // grpc-java maps the GOAWAY's ENHANCE_YOUR_CALM to RESOURCE_EXHAUSTED.
    assertThat(status.getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
    assertThat(status.getDescription()).contains("ENHANCE_YOUR_CALM").contains("too_many_rststreams");
  }

  @Test
  void connectionsOlderThanTheMaximumAgeAreEndedAfterTheirCallsFinish() throws Exception {
    provider.byDefault(Script.tokens(10).paced(Duration.ofMillis(100)));
    FakeControlPlane cp = closeLater(new FakeControlPlane("cp1"));
    DataPlane dp =
        closeLater(
            dataPlane(List.of(cp.target()))
                .maxConnectionAge(Duration.ofMillis(300), Duration.ofSeconds(30))
                .build());
    dp.start();
    cp.nextRequest(WAIT);
    cp.send(versionInfo(1), CONFIG);
    dp.awaitConfig(WAIT);
    ManagedChannel channel = channel(dp);
    List<ConnectivityState> states =
        Collections.synchronizedList(new ArrayList<>());
    watchStates(channel, states);

    // A 1 s generation on a connection whose age is 300 ms: the grace lets it finish.
    assertThat(streamText(channel, "m1")).isEqualTo(FakeProvider.text(10));

    // GOAWAY sends the channel back through IDLE to reconnect.
    long end = System.nanoTime() + WAIT.toNanos();
    while (!states.contains(ConnectivityState.IDLE) && System.nanoTime() < end) {
      Thread.sleep(20);
    }
    assertThat(states).contains(ConnectivityState.IDLE);
    assertThat(streamText(channel, "m1")).isEqualTo(FakeProvider.text(10));
  }

  private static void watchStates(
      ManagedChannel channel, List<ConnectivityState> states) {
    ConnectivityState now = channel.getState(true);
    states.add(now);
    channel.notifyWhenStateChanged(now, () -> watchStates(channel, states));
  }

  @Test
  void refusesRequestsLargerThanTheConfiguredLimit() throws Exception {
    FakeControlPlane cp = closeLater(new FakeControlPlane("cp1"));
    DataPlane dp = closeLater(dataPlane(List.of(cp.target())).maxInboundMessageSize(4096).build());
    dp.start();
    cp.nextRequest(WAIT);
    cp.send(versionInfo(1), CONFIG);
    dp.awaitConfig(WAIT);
    StreamChatRequest big = stream("m1");
    big =
        big.toBuilder()
            .setChat(
                big.getChat().toBuilder()
                    .addMessages(
                        ChatMessage.newBuilder()
                            .setRole(Role.ROLE_USER)
                            .addParts(ContentPart.newBuilder().setText("x".repeat(10_000)))))
            .build();
    StreamChatRequest tooBig = big;

    StatusRuntimeException e =
        catchThrowableOfType(
            StatusRuntimeException.class,
            () ->
                InferenceServiceGrpc.newBlockingStub(channel(dp))
                    .withDeadlineAfter(WAIT.toMillis(), TimeUnit.MILLISECONDS)
                    .streamChat(tooBig)
                    .hasNext());

    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
    assertThat(provider.chatCalls).isEmpty();
  }

  @Test
  void exposesGenAiMetricsForPrometheus() throws Exception {
    provider.byDefault(Script.tokens(5));
    FakeControlPlane cp = closeLater(new FakeControlPlane("cp1"));
    DataPlane dp =
        closeLater(
            dataPlane(List.of(cp.target()))
                .metricsAddress(new InetSocketAddress("127.0.0.1", 0))
                .maxCallsInFlight(100)
                .build());
    dp.start();
    cp.nextRequest(WAIT);
    cp.send(versionInfo(1), CONFIG);
    dp.awaitConfig(WAIT);
    streamText(channel(dp), "m1");
    catchThrowableOfType(StatusRuntimeException.class, () -> streamText(channel(dp), "nope"));

    HttpResponse<String> scrape =
        HttpClient.newHttpClient()
            .send(
                HttpRequest.newBuilder(
                        URI.create("http://127.0.0.1:" + dp.metricsPort() + "/metrics"))
                    .timeout(WAIT)
                    .build(),
                HttpResponse.BodyHandlers.ofString());

    assertThat(scrape.statusCode()).isEqualTo(200);
    assertThat(scrape.body())
        .contains("gen_ai_client_operation_duration_seconds_bucket{")
        .contains("gen_ai_client_token_usage_bucket{")
        .contains("gen_ai_token_type=\"output\"")
        .contains("gen_ai_server_time_to_first_token_seconds_count{")
        .contains("gen_ai_server_time_per_output_token_seconds_count{")
        .contains("gen_ai_request_model=\"m1\"")
        .contains(
            "sluice_inference_requests_total{rpc_grpc_status_code=\"OK\",rpc_method=\"StreamChat\",sluice_error_reason=\"\"}")
        .contains(
            "{rpc_grpc_status_code=\"NOT_FOUND\",rpc_method=\"StreamChat\",sluice_error_reason=\"MODEL_NOT_FOUND\"}")
        .contains("sluice_config_info{source=\"CONFIG_SOURCE_CONTROL_PLANE\",version=\"1a.1\"} 1")
        .contains("sluice_config_applied_timestamp_seconds ")
        .contains("sluice_overload_shedding 0.0")
        .contains("sluice_calls_in_flight 0.0")
        .contains("jvm_memory_used_bytes{")
        .contains("jvm_threads_live_threads ")
        .contains("process_cpu_usage ")
        .contains("process_uptime_seconds ");
  }

  @Test
  void streamsFromTheBuiltInMockModelThroughTheRealAdapters() throws Exception {
    ConfigSnapshot mock =
        snapshot(
            1,
            backend("mock").toBuilder()
                .setKind(BackendKind.BACKEND_KIND_MOCK)
                .clearBaseUrl()
                .setMock(MockSettings.newBuilder().setTokensPerResponse(8))
                .build(),
            model("demo", "mock"));
    FakeControlPlane cp = closeLater(new FakeControlPlane("cp1"));
    DataPlane dp = closeLater(dataPlane(List.of(cp.target())).providers(null).build());
    dp.start();
    cp.nextRequest(WAIT);
    cp.send(versionInfo(1), mock);
    dp.awaitConfig(WAIT);

    List<StreamChatResponse> events = new ArrayList<>();
    InferenceServiceGrpc.newBlockingStub(channel(dp))
        .withDeadlineAfter(WAIT.toMillis(), TimeUnit.MILLISECONDS)
        .streamChat(stream("demo"))
        .forEachRemaining(events::add);

    assertThat(events.get(0).getStarted().getProvider()).isEqualTo("mock");
    assertThat(events.get(0).getStarted().getBackend()).isEqualTo("mock");
    assertThat(events.get(events.size() - 1).getUsage().getOutputTokens()).isEqualTo(8);
  }

  private void awaitStreams(int count) throws InterruptedException {
    long deadline = System.nanoTime() + WAIT.toNanos();
    while (provider.streams.size() < count) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("fewer than " + count + " streams started");
      }
      Thread.sleep(5);
    }
  }

  private static String deadTarget() throws IOException {
    try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      return "127.0.0.1:" + socket.getLocalPort();
    }
  }
}
