package dev.sluice.dataplane.server;

import dev.sluice.dataplane.routing.ChatStreamSink;
import dev.sluice.dataplane.routing.RoutedStream;
import dev.sluice.grpc.ApiException;
import dev.sluice.grpc.ErrorMapper;
import dev.sluice.inference.v1.StreamChatResponse;
import io.grpc.stub.ServerCallStreamObserver;
import org.jspecify.annotations.Nullable;

/**
 * Connects a routed stream to its gRPC call, both ways: events go out as messages while the call's
 * {@code isReady()} lets the router pace the upstream; the call's readiness and cancellation come
 * back as {@link RoutedStream#resume()} and {@link RoutedStream#cancel()}.
 *
 * <p>The router writes from one thread at a time; gRPC's callbacks arrive on its own executor.
 * Writes after the client went away are dropped.
 */
final class GrpcChatStreamSink implements ChatStreamSink {
  private final ServerCallStreamObserver<StreamChatResponse> call;
  private volatile @Nullable RoutedStream routed;
  private volatile boolean cancelled;

  private GrpcChatStreamSink(ServerCallStreamObserver<StreamChatResponse> call) {
    this.call = call;
  }

  /**
   * A sink for {@code call}, with its ready and cancel handlers installed. Must be created while
   * the service method runs (gRPC accepts handlers only then), before anything is routed.
   */
  static GrpcChatStreamSink install(ServerCallStreamObserver<StreamChatResponse> call) {
    GrpcChatStreamSink sink = new GrpcChatStreamSink(call);
    call.setOnCancelHandler(sink::clientCancelled);
    call.setOnReadyHandler(sink::clientReady);
    return sink;
  }

  /** The routed stream feeding this sink; cancelled at once if the client already left. */
  void attach(RoutedStream stream) {
    routed = stream;
    if (cancelled) {
      stream.cancel();
    }
  }

  @Override
  public boolean isReady() {
    return call.isReady();
  }

  @Override
  public void onEvent(StreamChatResponse event) {
    if (!call.isCancelled()) {
      call.onNext(event);
    }
  }

  @Override
  public void onCompleted() {
    if (!call.isCancelled()) {
      call.onCompleted();
    }
  }

  @Override
  public void onError(ApiException error) {
    if (!call.isCancelled()) {
      call.onError(ErrorMapper.toStatusRuntimeException(error));
    }
  }

  private void clientCancelled() {
    cancelled = true;
    RoutedStream stream = routed;
    if (stream != null) {
      stream.cancel();
    }
  }

  private void clientReady() {
    RoutedStream stream = routed;
    if (stream != null) {
      stream.resume();
    }
  }
}
