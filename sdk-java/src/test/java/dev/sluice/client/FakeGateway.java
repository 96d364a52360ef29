package dev.sluice.client;

import dev.sluice.inference.v1.ChatRequest;
import dev.sluice.inference.v1.ChatResponse;
import dev.sluice.inference.v1.EmbedRequest;
import dev.sluice.inference.v1.EmbedResponse;
import dev.sluice.inference.v1.GetModelRequest;
import dev.sluice.inference.v1.GetModelResponse;
import dev.sluice.inference.v1.InferenceServiceGrpc;
import dev.sluice.inference.v1.ListModelsRequest;
import dev.sluice.inference.v1.ListModelsResponse;
import dev.sluice.inference.v1.StreamChatRequest;
import dev.sluice.inference.v1.StreamChatResponse;
import io.grpc.Context;
import io.grpc.Deadline;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BiConsumer;
import org.jspecify.annotations.Nullable;

/**
 * A scriptable InferenceService on a real Netty server at 127.0.0.1 on an ephemeral port. Each
 * test sets the handlers it needs; the fake records the headers and deadlines of every call.
 */
final class FakeGateway implements AutoCloseable {
  static final Metadata.Key<String> AUTHORIZATION =
      Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

  volatile BiConsumer<ChatRequest, StreamObserver<ChatResponse>> chat = unimplemented();
  volatile BiConsumer<StreamChatRequest, StreamObserver<StreamChatResponse>> streamChat =
      unimplemented();
  volatile BiConsumer<EmbedRequest, StreamObserver<EmbedResponse>> embed = unimplemented();
  volatile BiConsumer<ListModelsRequest, StreamObserver<ListModelsResponse>> listModels =
      unimplemented();
  volatile BiConsumer<GetModelRequest, StreamObserver<GetModelResponse>> getModel =
      unimplemented();

  final List<Metadata> headers = new CopyOnWriteArrayList<>();
  final List<@Nullable Deadline> deadlines = new CopyOnWriteArrayList<>();
  final AtomicInteger calls = new AtomicInteger();

  private final Server server;

  private FakeGateway() throws IOException {
    ServerInterceptor recorder =
        new ServerInterceptor() {
          @Override
          public <ReqT, RespT> ServerCall.Listener<ReqT> interceptCall(
              ServerCall<ReqT, RespT> call,
              Metadata requestHeaders,
              ServerCallHandler<ReqT, RespT> next) {
            headers.add(requestHeaders);
            deadlines.add(Context.current().getDeadline());
            calls.incrementAndGet();
            return next.startCall(call, requestHeaders);
          }
        };
    server =
        NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
            .addService(ServerInterceptors.intercept(new Service(), recorder))
            .build()
            .start();
  }

  static FakeGateway start() throws IOException {
    return new FakeGateway();
  }

  String target() {
    return "127.0.0.1:" + server.getPort();
  }

  @Nullable String lastAuthorization() {
    return headers.get(headers.size() - 1).get(AUTHORIZATION);
  }

  @Override
  public void close() throws InterruptedException {
    server.shutdownNow();
    server.awaitTermination(10, TimeUnit.SECONDS);
  }

  private static <Q, R> BiConsumer<Q, StreamObserver<R>> unimplemented() {
    return (request, response) ->
        response.onError(Status.UNIMPLEMENTED.withDescription("not scripted").asException());
  }

  private final class Service extends InferenceServiceGrpc.InferenceServiceImplBase {
    @Override
    public void chat(ChatRequest request, StreamObserver<ChatResponse> response) {
      chat.accept(request, response);
    }

    @Override
    public void streamChat(
        StreamChatRequest request, StreamObserver<StreamChatResponse> response) {
      streamChat.accept(request, response);
    }

    @Override
    public void embed(EmbedRequest request, StreamObserver<EmbedResponse> response) {
      embed.accept(request, response);
    }

    @Override
    public void listModels(
        ListModelsRequest request, StreamObserver<ListModelsResponse> response) {
      listModels.accept(request, response);
    }

    @Override
    public void getModel(GetModelRequest request, StreamObserver<GetModelResponse> response) {
      getModel.accept(request, response);
    }
  }
}
