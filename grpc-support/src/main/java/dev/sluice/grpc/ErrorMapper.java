package dev.sluice.grpc;

import com.google.protobuf.Any;
import com.google.protobuf.Message;
import com.google.protobuf.util.Durations;
import com.google.rpc.ErrorInfo;
import com.google.rpc.RetryInfo;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusException;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.StatusProto;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The one place where exceptions become gRPC statuses.
 *
 * <p>An {@link ApiException} keeps its code and gains an {@code ErrorInfo} in domain {@value
 * ApiException#DOMAIN}; a {@link StatusException}/{@link StatusRuntimeException} passes through
 * untouched (it already is wire form, e.g. a cancellation); anything else is a bug in Sluice and
 * becomes {@code INTERNAL} with reason {@code INTERNAL}, its message withheld from the caller and
 * its stack trace logged once here.
 */
public final class ErrorMapper {
  /** Trailer that gRPC clients read to delay their next retry (gRFC A6). */
  public static final Metadata.Key<String> RETRY_PUSHBACK_MS =
      Metadata.Key.of("grpc-retry-pushback-ms", Metadata.ASCII_STRING_MARSHALLER);

  private static final Logger logger = Logger.getLogger(ErrorMapper.class.getName());

  private ErrorMapper() {}

  /** Returns the wire form of {@code t}, ready for {@code StreamObserver.onError}. */
  public static StatusRuntimeException toStatusRuntimeException(Throwable t) {
    if (t instanceof StatusRuntimeException sre) {
      return sre;
    }
    if (t instanceof StatusException se) {
      return new StatusRuntimeException(se.getStatus(), se.getTrailers());
    }
    if (t instanceof ApiException api) {
      return fromApiException(api);
    }
    Throwable cause = t.getCause();
    if (cause instanceof ApiException || cause instanceof StatusRuntimeException) {
      // CompletionException and friends wrap the real error.
      return toStatusRuntimeException(cause);
    }
    logger.log(Level.WARNING, "Unexpected error reached the error boundary", t);
    return fromApiException(
        ApiException.builder(Status.Code.INTERNAL, "INTERNAL")
            .message("internal error")
            .build());
  }

  /** Returns the gRPC status (without details) that {@code t} maps to. */
  public static Status toStatus(Throwable t) {
    return toStatusRuntimeException(t).getStatus();
  }

  private static StatusRuntimeException fromApiException(ApiException e) {
    com.google.rpc.Status.Builder status =
        com.google.rpc.Status.newBuilder()
            .setCode(e.code().value())
            .setMessage(e.getMessage() == null ? e.reason() : e.getMessage())
            .addDetails(
                Any.pack(
                    ErrorInfo.newBuilder()
                        .setDomain(ApiException.DOMAIN)
                        .setReason(e.reason())
                        .putAllMetadata(e.metadata())
                        .build()));
    Metadata trailers = new Metadata();
    for (Message detail : e.details()) {
      status.addDetails(Any.pack(detail));
      if (detail instanceof RetryInfo retry) {
        trailers.put(
            RETRY_PUSHBACK_MS, Long.toString(Durations.toMillis(retry.getRetryDelay())));
      }
    }
    StatusRuntimeException wire = StatusProto.toStatusRuntimeException(status.build(), trailers);
    // The exception rides along as the status's cause, which gRPC never sends: interceptors
    // outside the boundary (metrics) read its reason without parsing the details back.
    return new StatusRuntimeException(wire.getStatus().withCause(e), wire.getTrailers());
  }
}
