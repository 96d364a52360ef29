package dev.sluice.dataplane.server;

import static java.util.Objects.requireNonNull;

import dev.sluice.grpc.ApiException;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.time.Duration;
import java.util.function.BooleanSupplier;

/**
 * Refuses new calls while the node is overloaded, before authentication or any other work, with
 * UNAVAILABLE, reason {@value #REASON} and a retry delay: a client (or its load balancer) moves to
 * another node. Calls already running are not touched; shedding new ones is what lets them finish.
 */
final class OverloadInterceptor implements ServerInterceptor {
  static final String REASON = "OVERLOADED";

  /** Long enough for a garbage collection or two to settle the question again. */
  static final Duration RETRY_AFTER = Duration.ofSeconds(1);

  private final BooleanSupplier overloaded;

  OverloadInterceptor(BooleanSupplier overloaded) {
    this.overloaded = requireNonNull(overloaded, "overloaded");
  }

  @Override
  public <ReqT, RespT> ServerCall.Listener<ReqT> interceptCall(
      ServerCall<ReqT, RespT> call, Metadata headers, ServerCallHandler<ReqT, RespT> next) {
    if (overloaded.getAsBoolean()) {
      throw ApiException.builder(Status.Code.UNAVAILABLE, REASON)
          .message("this gateway node is overloaded; retry, possibly on another node")
          .metadata("retryable", "true")
          .retryAfter(RETRY_AFTER)
          .build();
    }
    return next.startCall(call, headers);
  }
}
