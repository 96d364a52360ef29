package dev.sluice.launcher;

import io.grpc.BindableService;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.netty.NettyServerBuilder;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

/** A real gRPC server on 127.0.0.1 and an ephemeral port, recording the headers of each call. */
final class LoopbackServer implements AutoCloseable {
  static final Metadata.Key<String> AUTHORIZATION =
      Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

  final List<Metadata> headers = new CopyOnWriteArrayList<>();
  private final Server server;

  private LoopbackServer(BindableService service) throws IOException {
    ServerInterceptor recorder =
        new ServerInterceptor() {
          @Override
          public <ReqT, RespT> ServerCall.Listener<ReqT> interceptCall(
              ServerCall<ReqT, RespT> call, Metadata requestHeaders, ServerCallHandler<ReqT, RespT> next) {
            headers.add(requestHeaders);
            return next.startCall(call, requestHeaders);
          }
        };
    server =
        NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
            .addService(ServerInterceptors.intercept(service, recorder))
            .build()
            .start();
  }

  static LoopbackServer serving(BindableService service) throws IOException {
    return new LoopbackServer(service);
  }

  String target() {
    return "127.0.0.1:" + server.getPort();
  }

  String lastAuthorization() {
    return headers.get(headers.size() - 1).get(AUTHORIZATION);
  }

  @Override
  public void close() throws InterruptedException {
    server.shutdownNow();
    server.awaitTermination(10, TimeUnit.SECONDS);
  }
}
