package dev.sluice.dataplane.server;

import com.google.protobuf.Any;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.rpc.BadRequest;
import com.google.rpc.ErrorInfo;
import com.google.rpc.QuotaFailure;
import com.google.rpc.RetryInfo;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.StatusProto;

/** Reads the rich error details of a status, as a client would. */
final class GrpcErrors {
  private GrpcErrors() {}

  static ErrorInfo errorInfo(Throwable t) {
    return detail(t, ErrorInfo.class);
  }

  static BadRequest badRequest(Throwable t) {
    return detail(t, BadRequest.class);
  }

  static QuotaFailure quotaFailure(Throwable t) {
    return detail(t, QuotaFailure.class);
  }

  static RetryInfo retryInfo(Throwable t) {
    return detail(t, RetryInfo.class);
  }

  private static <T extends com.google.protobuf.Message> T detail(Throwable t, Class<T> type) {
    com.google.rpc.Status status = StatusProto.fromThrowable(t);
    if (status == null) {
      throw new AssertionError("no rich status in " + t);
    }
    for (Any any : status.getDetailsList()) {
      if (any.is(type)) {
        try {
          return any.unpack(type);
        } catch (InvalidProtocolBufferException e) {
          throw new AssertionError(e);
        }
      }
    }
    throw new AssertionError("no " + type.getSimpleName() + " in " + status);
  }

  static StatusRuntimeException asStatus(Throwable t) {
    if (t instanceof StatusRuntimeException sre) {
      return sre;
    }
    throw new AssertionError("not a status: " + t, t);
  }
}
