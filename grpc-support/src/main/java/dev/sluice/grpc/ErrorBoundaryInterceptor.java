package dev.sluice.grpc;

import io.grpc.ForwardingServerCallListener.SimpleForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.StatusRuntimeException;

/**
 * Catches exceptions that a service method throws synchronously and closes the call with the
 * status {@link ErrorMapper} gives, so a thrown {@link ApiException} reaches the client with its
 * code and details instead of grpc-java's bare {@code UNKNOWN}.
 *
 * <p>Asynchronous failures do not pass through here; services hand them to {@code
 * StreamObserver.onError(ErrorMapper.toStatusRuntimeException(t))}.
 */
public final class ErrorBoundaryInterceptor implements ServerInterceptor {
  @Override
  public <ReqT, RespT> ServerCall.Listener<ReqT> interceptCall(
      ServerCall<ReqT, RespT> call, Metadata headers, ServerCallHandler<ReqT, RespT> next) {
    ServerCall.Listener<ReqT> delegate;
    try {
      delegate = next.startCall(call, headers);
    } catch (RuntimeException e) {
      close(call, e);
      return new ServerCall.Listener<>() {};
    }
    return new SimpleForwardingServerCallListener<>(delegate) {
      @Override
      public void onMessage(ReqT message) {
        try {
          super.onMessage(message);
        } catch (RuntimeException e) {
          close(call, e);
        }
      }

      @Override
      public void onHalfClose() {
        try {
          super.onHalfClose();
        } catch (RuntimeException e) {
          close(call, e);
        }
      }

      @Override
      public void onReady() {
        try {
          super.onReady();
        } catch (RuntimeException e) {
          close(call, e);
        }
      }
    };
  }

  private static void close(ServerCall<?, ?> call, RuntimeException e) {
    StatusRuntimeException sre = ErrorMapper.toStatusRuntimeException(e);
    Metadata trailers = sre.getTrailers() == null ? new Metadata() : sre.getTrailers();
    try {
      call.close(sre.getStatus(), trailers);
    } catch (IllegalStateException alreadyClosed) {
      // The method closed the call before throwing; the first status stands.
    }
  }
}
