package dev.sluice.controlplane.store.etcd;

import io.grpc.Attributes;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.ClientStreamTracer;
import io.grpc.ForwardingClientCall.SimpleForwardingClientCall;
import io.grpc.ForwardingClientCallListener.SimpleForwardingClientCallListener;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * Gives every unary etcd call a gRPC deadline and tells a failed call that never reached etcd from
 * one whose outcome is unknown.
 *
 * <p>jetcd sets no deadline, so a call to an unreachable etcd would wait forever, and an outer
 * {@code orTimeout} alone would leave the RPC queued: a commit the caller was told had timed out
 * could still be sent, and applied, once etcd came back. A real deadline cancels it.
 *
 * <p>When a call fails before gRPC ever created a stream for it on a transport (no connection, or
 * the deadline passed while it waited for one), etcd cannot have seen it. The call's trailers then
 * carry {@link #NOT_SENT}, so a failed commit can be reported as "not written" rather than "outcome
 * unknown". Streams (the watch) are left alone: they live as long as they are healthy.
 */
final class DeadlineInterceptor implements ClientInterceptor {
  /** Present in the trailers of a call that failed before it was sent. */
  static final Metadata.Key<String> NOT_SENT =
      Metadata.Key.of("sluice-not-sent", Metadata.ASCII_STRING_MARSHALLER);

  private final long timeoutNanos;

  DeadlineInterceptor(Duration timeout) {
    this.timeoutNanos = timeout.toNanos();
  }

  @Override
  public <ReqT, RespT> ClientCall<ReqT, RespT> interceptCall(
      MethodDescriptor<ReqT, RespT> method, CallOptions callOptions, Channel next) {
    if (method.getType() != MethodDescriptor.MethodType.UNARY) {
      return next.newCall(method, callOptions);
    }
    SentTracker tracker = new SentTracker();
    CallOptions options = callOptions.withStreamTracerFactory(tracker);
    if (options.getDeadline() == null) {
      options = options.withDeadlineAfter(timeoutNanos, TimeUnit.NANOSECONDS);
    }
    return new SimpleForwardingClientCall<>(next.newCall(method, options)) {
      @Override
      public void start(Listener<RespT> responseListener, Metadata headers) {
        super.start(
            new SimpleForwardingClientCallListener<>(responseListener) {
              @Override
              public void onClose(Status status, Metadata trailers) {
                if (!status.isOk() && !tracker.streamCreated) {
                  trailers.put(NOT_SENT, "true");
                }
                super.onClose(status, trailers);
              }
            },
            headers);
      }
    };
  }

  /**
   * Records whether gRPC created a stream on a real transport, after which etcd may see the call.
   */
  private static final class SentTracker extends ClientStreamTracer.Factory {
    volatile boolean streamCreated;

    @Override
    public ClientStreamTracer newClientStreamTracer(
        ClientStreamTracer.StreamInfo info, Metadata headers) {
      return new ClientStreamTracer() {
        @Override
        public void streamCreated(Attributes transportAttrs, Metadata headers) {
          streamCreated = true;
        }
      };
    }
  }
}
