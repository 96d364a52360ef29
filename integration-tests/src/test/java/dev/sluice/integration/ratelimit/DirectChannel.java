package dev.sluice.integration.ratelimit;

import static java.util.Objects.requireNonNull;

import dev.sluice.discovery.v1.DiscoveryServiceGrpc;
import dev.sluice.discovery.v1.LeaseQuotaRequest;
import dev.sluice.discovery.v1.LeaseQuotaResponse;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.util.function.BooleanSupplier;
import org.jspecify.annotations.Nullable;

/**
 * A channel that calls a {@code DiscoveryService} implementation directly, on the caller's thread:
 * real stubs and real service code without a transport, so a simulation stays on one thread.
 * {@code reachable} false makes every call fail with {@code UNAVAILABLE}, like a partition.
 */
final class DirectChannel extends Channel {
  private final DiscoveryServiceGrpc.DiscoveryServiceImplBase service;
  private final BooleanSupplier reachable;

  DirectChannel(DiscoveryServiceGrpc.DiscoveryServiceImplBase service, BooleanSupplier reachable) {
    this.service = service;
    this.reachable = reachable;
  }

  @Override
  public <ReqT, RespT> ClientCall<ReqT, RespT> newCall(
      MethodDescriptor<ReqT, RespT> method, CallOptions callOptions) {
    if (!method.equals(DiscoveryServiceGrpc.getLeaseQuotaMethod())) {
      throw new UnsupportedOperationException(method.getFullMethodName());
    }
    return new ClientCall<>() {
      private @Nullable Listener<RespT> listener;
      private @Nullable ReqT request;

      @Override
      public void start(Listener<RespT> responseListener, Metadata headers) {
        this.listener = responseListener;
      }

      @Override
      public void request(int numMessages) {}

      @Override
      public void cancel(@Nullable String message, @Nullable Throwable cause) {}

      @Override
      public void halfClose() {
        Listener<RespT> out = requireNonNull(listener, "start() not called");
        if (!reachable.getAsBoolean()) {
          out.onClose(Status.UNAVAILABLE.withDescription("partitioned"), new Metadata());
          return;
        }
        service.leaseQuota(
            (LeaseQuotaRequest) requireNonNull(request, "no request sent"),
            new StreamObserver<>() {
              @Override
              @SuppressWarnings("unchecked")
              public void onNext(LeaseQuotaResponse value) {
                out.onHeaders(new Metadata());
                out.onMessage((RespT) value);
              }

              @Override
              public void onError(Throwable t) {
                out.onClose(Status.fromThrowable(t), new Metadata());
              }

              @Override
              public void onCompleted() {
                out.onClose(Status.OK, new Metadata());
              }
            });
      }

      @Override
      public void sendMessage(ReqT message) {
        this.request = message;
      }
    };
  }

  @Override
  public String authority() {
    return "allocator.invalid";
  }
}
