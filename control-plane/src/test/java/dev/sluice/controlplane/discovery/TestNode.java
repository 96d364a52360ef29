package dev.sluice.controlplane.discovery;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.rpc.Code;
import dev.sluice.discovery.v1.ConfigSource;
import dev.sluice.discovery.v1.DiscoveryServiceGrpc;
import dev.sluice.discovery.v1.Node;
import dev.sluice.discovery.v1.StreamConfigRequest;
import dev.sluice.discovery.v1.StreamConfigResponse;
import io.grpc.Status;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.time.Duration;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * A hand-written data plane for tests: opens one config stream, records every response, and
 * sends the ACKs and NACKs the test asks for. It never answers on its own.
 */
final class TestNode implements ClientResponseObserver<StreamConfigRequest, StreamConfigResponse> {
  private final String id;
  private final BlockingQueue<StreamConfigResponse> responses = new LinkedBlockingQueue<>();
  private final CompletableFuture<Status> ended = new CompletableFuture<>();
  private ClientCallStreamObserver<StreamConfigRequest> requests;

  private TestNode(String id) {
    this.id = id;
  }

  /** Opens a stream and subscribes as node {@code id} serving {@code versionInfo}/{@code digest}. */
  static TestNode connect(
      DiscoveryServiceGrpc.DiscoveryServiceStub stub, Node node, String versionInfo, String digest) {
    TestNode testNode = new TestNode(node.getId());
    stub.streamConfig(testNode);
    testNode.send(
        StreamConfigRequest.newBuilder()
            .setNode(node)
            .setVersionInfo(versionInfo)
            .setAppliedDigest(digest)
            .setConfigSource(
                versionInfo.isEmpty()
                    ? ConfigSource.CONFIG_SOURCE_NONE
                    : ConfigSource.CONFIG_SOURCE_FILE_CACHE)
            .build());
    return testNode;
  }

  static TestNode connect(DiscoveryServiceGrpc.DiscoveryServiceStub stub, String id) {
    return connect(stub, Node.newBuilder().setId(id).build(), "", "");
  }

  @Override
  public void beforeStart(ClientCallStreamObserver<StreamConfigRequest> requestStream) {
    this.requests = requestStream;
  }

  @Override
  public void onNext(StreamConfigResponse response) {
    responses.add(response);
  }

  @Override
  public void onError(Throwable t) {
    ended.complete(Status.fromThrowable(t));
  }

  @Override
  public void onCompleted() {
    ended.complete(Status.OK);
  }

  /** The next response, failing the test if none arrives within 10 s. */
  StreamConfigResponse next() throws InterruptedException {
    StreamConfigResponse response = responses.poll(10, TimeUnit.SECONDS);
    assertThat(response).as("a response to node %s within 10 s", id).isNotNull();
    return response;
  }

  /** Asserts that nothing arrives for {@code quiet}. */
  void expectNothingFor(Duration quiet) throws InterruptedException {
    assertThat(responses.poll(quiet.toMillis(), TimeUnit.MILLISECONDS))
        .as("no response to node %s", id)
        .isNull();
  }

  /** ACKs {@code response}: the node now serves it. */
  void ack(StreamConfigResponse response) {
    send(
        StreamConfigRequest.newBuilder()
            .setVersionInfo(response.getVersionInfo())
            .setResponseNonce(response.getNonce())
            .setAppliedDigest(response.getSnapshot().getDigest())
            .setConfigSource(ConfigSource.CONFIG_SOURCE_CONTROL_PLANE)
            .build());
  }

  /** NACKs {@code response}, still serving {@code servedVersionInfo}. */
  void nack(StreamConfigResponse response, String servedVersionInfo, String message) {
    send(
        StreamConfigRequest.newBuilder()
            .setVersionInfo(servedVersionInfo)
            .setResponseNonce(response.getNonce())
            .setErrorDetail(
                com.google.rpc.Status.newBuilder()
                    .setCode(Code.INVALID_ARGUMENT_VALUE)
                    .setMessage(message))
            .build());
  }

  void send(StreamConfigRequest request) {
    requests.onNext(request);
  }

  /** How the stream ended, waiting up to 10 s. */
  Status awaitEnd() throws Exception {
    return ended.get(10, TimeUnit.SECONDS);
  }

  /** Ends the stream from the node's side. */
  void disconnect() {
    requests.onCompleted();
  }

  void cancel() {
    requests.cancel("test node leaves", null);
  }
}
