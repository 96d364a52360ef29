package dev.sluice.dataplane.provider.grpc;

import com.google.protobuf.Any;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.util.Durations;
import com.google.rpc.ErrorInfo;
import com.google.rpc.RetryInfo;
import dev.sluice.dataplane.provider.UpstreamException;
import dev.sluice.dataplane.provider.UpstreamFailure;
import dev.sluice.dataplane.provider.http.UpstreamErrors;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.protobuf.StatusProto;
import java.time.Duration;
import org.jspecify.annotations.Nullable;

/** Maps an upstream gRPC status to an {@link UpstreamException}. */
final class GrpcErrors {
  private GrpcErrors() {}

  /**
   * The failure of a call that ended with {@code status}.
   *
   * @param outputDelivered whether stream events already reached the listener
   * @param timedOut whether the gateway itself cancelled the call for a timeout
   */
  static UpstreamException of(
      Status status, @Nullable Metadata trailers, String backend, boolean outputDelivered, boolean timedOut) {
    if (timedOut) {
      return new UpstreamException(
          UpstreamFailure.TIMEOUT, backend, 0, null, "the upstream stream timed out", status.asException());
    }
    UpstreamFailure failure =
        switch (status.getCode()) {
          case INVALID_ARGUMENT, NOT_FOUND, OUT_OF_RANGE, FAILED_PRECONDITION, ALREADY_EXISTS,
              UNIMPLEMENTED -> UpstreamFailure.BAD_REQUEST;
          case UNAUTHENTICATED, PERMISSION_DENIED -> UpstreamFailure.AUTH_FAILED;
          case RESOURCE_EXHAUSTED -> UpstreamFailure.RATE_LIMITED;
          case DEADLINE_EXCEEDED -> UpstreamFailure.TIMEOUT;
          case UNAVAILABLE ->
              outputDelivered
                  ? UpstreamFailure.STREAM_BROKEN
                  : isConnectFailure(status) ? UpstreamFailure.CONNECT_FAILED : UpstreamFailure.SERVER_ERROR;
          default -> outputDelivered ? UpstreamFailure.STREAM_BROKEN : UpstreamFailure.SERVER_ERROR;
        };
    String reason = null;
    Duration retryAfter = null;
    com.google.rpc.Status details = trailers == null ? null : StatusProto.fromStatusAndTrailers(status, trailers);
    if (details != null) {
      for (Any any : details.getDetailsList()) {
        try {
          if (any.is(ErrorInfo.class)) {
            reason = UpstreamErrors.safeCode(any.unpack(ErrorInfo.class).getReason());
          } else if (any.is(RetryInfo.class)) {
            retryAfter = Duration.ofNanos(Durations.toNanos(any.unpack(RetryInfo.class).getRetryDelay()));
          }
        } catch (InvalidProtocolBufferException ignored) {
          // a malformed detail is just not used
        }
      }
    }
    if ("CONTEXT_WINDOW_EXCEEDED".equals(reason) && !outputDelivered) {
      // A Sluice upstream already classified it; keep the class so routes can fall back.
      failure = UpstreamFailure.CONTEXT_WINDOW_EXCEEDED;
    }
    String message =
        "the upstream answered " + status.getCode() + (reason == null ? "" : " (" + reason + ")");
    return new UpstreamException(failure, backend, 0, retryAfter, message, status.asException());
  }

  private static boolean isConnectFailure(Status status) {
    // grpc-java reports connection failures as UNAVAILABLE with the transport's cause attached.
    return status.getCause() instanceof java.net.ConnectException
        || status.getCause() instanceof io.netty.channel.ConnectTimeoutException
        || (status.getCause() != null && status.getCause().getCause() instanceof java.net.ConnectException);
  }
}
