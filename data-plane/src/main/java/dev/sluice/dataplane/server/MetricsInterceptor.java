package dev.sluice.dataplane.server;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.Any;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.rpc.ErrorInfo;
import dev.sluice.dataplane.metrics.GatewayMetrics;
import dev.sluice.grpc.ApiException;
import io.grpc.ForwardingServerCall.SimpleForwardingServerCall;
import io.grpc.ForwardingServerCallListener.SimpleForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.grpc.protobuf.StatusProto;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Counts every inference call by method, final status and the {@code ErrorInfo} reason of a
 * failure, including calls the error boundary or authentication ended, and calls the client
 * cancelled. The reasons are the gateway's own fixed set (docs/errors.md), so the label stays low
 * in cardinality; they tell apart, for example, a rate limit's refusal from an upstream's.
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
              metrics.requestFinished(
                  String.valueOf(method), status.getCode(), reason(status, trailers));
            }
            super.close(status, trailers);
          }
        };
    return new SimpleForwardingServerCallListener<>(next.startCall(counted, headers)) {
      @Override
      public void onCancel() {
        if (reported.compareAndSet(false, true)) {
          metrics.requestFinished(String.valueOf(method), Status.Code.CANCELLED, "");
        }
        super.onCancel();
      }
    };
  }

  /** The reason of the status's {@code ErrorInfo}, or empty on success or when there is none. */
  private static String reason(Status status, Metadata trailers) {
    if (status.isOk()) {
      return "";
    }
    if (status.getCause() instanceof ApiException api) {
      return api.reason(); // set by ErrorMapper: nothing to parse
    }
    com.google.rpc.Status details;
    try {
      details = StatusProto.fromStatusAndTrailers(status, trailers);
    } catch (IllegalArgumentException mismatchedDetails) {
      return "";
    }
    for (Any detail : details.getDetailsList()) {
      if (detail.is(ErrorInfo.class)) {
        try {
          return detail.unpack(ErrorInfo.class).getReason();
        } catch (InvalidProtocolBufferException e) {
          return "";
        }
      }
    }
    return "";
  }
}
