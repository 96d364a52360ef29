package dev.sluice.dataplane.server;

import static java.util.Objects.requireNonNull;

import dev.sluice.dataplane.metrics.GatewayMetrics;
import io.grpc.ForwardingServerCall.SimpleForwardingServerCall;
import io.grpc.ForwardingServerCallListener.SimpleForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Counts every inference call by method and final status, including calls the error boundary or
 * authentication ended, and calls the client cancelled.
 */
final class MetricsInterceptor implements ServerInterceptor {
  private final GatewayMetrics metrics;

  MetricsInterceptor(GatewayMetrics metrics) {
    this.metrics = requireNonNull(metrics, "metrics");
  }

  @Override
  public <ReqT, RespT> ServerCall.Listener<ReqT> interceptCall(
      ServerCall<ReqT, RespT> call, Metadata headers, ServerCallHandler<ReqT, RespT> next) {
    String method = call.getMethodDescriptor().getBareMethodName();
    AtomicBoolean reported = new AtomicBoolean();
    ServerCall<ReqT, RespT> counted =
        new SimpleForwardingServerCall<>(call) {
          @Override
          public void close(Status status, Metadata trailers) {
            if (reported.compareAndSet(false, true)) {
              metrics.requestFinished(String.valueOf(method), status.getCode());
            }
            super.close(status, trailers);
          }
        };
    return new SimpleForwardingServerCallListener<>(next.startCall(counted, headers)) {
      @Override
      public void onCancel() {
        if (reported.compareAndSet(false, true)) {
          metrics.requestFinished(String.valueOf(method), Status.Code.CANCELLED);
        }
        super.onCancel();
      }
    };
  }
}
