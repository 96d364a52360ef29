package dev.sluice.dataplane.server;

import static java.util.Objects.requireNonNull;

import dev.sluice.dataplane.auth.Authenticator;
import dev.sluice.dataplane.auth.Caller;
import dev.sluice.dataplane.config.RuntimeConfig;
import dev.sluice.dataplane.config.ServingConfig;
import dev.sluice.dataplane.routing.RequestHeaders;
import dev.sluice.grpc.ApiException;
import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Grpc;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import org.jspecify.annotations.Nullable;

/**
 * Authenticates every inference call before its message is read, against the config served at that
 * moment, and puts the {@link CallContext} (that config, the caller, the metadata) in the gRPC
 * {@link Context} for the service (the caller also under {@link Caller#CONTEXT_KEY}).
 *
 * <p>Failures are thrown as {@link ApiException}s for the error boundary outside this interceptor
 * to turn into a status: UNAUTHENTICATED for credentials, UNAVAILABLE while the node has no config
 * yet.
 */
final class AuthInterceptor implements ServerInterceptor {
  private final ServingConfig serving;
  private final Authenticator authenticator;

  AuthInterceptor(ServingConfig serving, Authenticator authenticator) {
    this.serving = requireNonNull(serving, "serving");
    this.authenticator = requireNonNull(authenticator, "authenticator");
  }

  @Override
  public <ReqT, RespT> ServerCall.Listener<ReqT> interceptCall(
      ServerCall<ReqT, RespT> call, Metadata headers, ServerCallHandler<ReqT, RespT> next) {
    RuntimeConfig config = serving.current();
    if (config == null) {
      throw ApiException.builder(Status.Code.UNAVAILABLE, "NOT_SERVING")
          .message("this gateway has no config yet")
          .metadata("retryable", "true")
          .build();
    }
    Caller caller = authenticator.authenticate(headers, config.access(), peerAddress(call));
    CallContext context =
        new CallContext(config, caller, headersOf(headers), Context.current().getDeadline());
    return Contexts.interceptCall(
        Context.current().withValues(CallContext.KEY, context, Caller.CONTEXT_KEY, caller),
        call,
        headers,
        next);
  }

  /** The client's IP address, or null when the transport has none (in-process calls). */
  private static @Nullable InetAddress peerAddress(ServerCall<?, ?> call) {
    SocketAddress remote = call.getAttributes().get(Grpc.TRANSPORT_ATTR_REMOTE_ADDR);
    return remote instanceof InetSocketAddress inet ? inet.getAddress() : null;
  }

  private static RequestHeaders headersOf(Metadata headers) {
    return name -> {
      if (name.endsWith(Metadata.BINARY_HEADER_SUFFIX)) {
        return null;
      }
      try {
        return headers.get(Metadata.Key.of(name, Metadata.ASCII_STRING_MARSHALLER));
      } catch (IllegalArgumentException notAHeaderName) {
        return null;
      }
    };
  }
}
