package dev.sluice.dataplane.server;

import static java.util.Objects.requireNonNull;

import dev.sluice.dataplane.overload.CallsInFlight;
import dev.sluice.grpc.ApiException;
import io.grpc.ForwardingServerCall;
import io.grpc.ForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BooleanSupplier;

/**
 * Refuses new calls while the node is overloaded — its heap nearly full of live objects, or as many
 * calls in flight as it admits — before authentication or any other work, with UNAVAILABLE, reason
 * {@value #REASON} and a retry delay: a client (or its load balancer) moves to another node. Calls
 * already running are not touched; shedding new ones is what lets them finish.
 */
final class OverloadInterceptor implements ServerInterceptor {
  static final String REASON = "OVERLOADED";

  /** Long enough for a garbage collection or two to settle the question again. */
  static final Duration RETRY_AFTER = Duration.ofSeconds(1);

  /** Calls end all the time; a place is likely free again soon, here or on another node. */
  static final Duration RETRY_AFTER_CALLS_IN_FLIGHT = Duration.ofMillis(100);

  private final BooleanSupplier overloaded;
  private final CallsInFlight inFlight;

  OverloadInterceptor(BooleanSupplier overloaded, CallsInFlight inFlight) {
    this.overloaded = requireNonNull(overloaded, "overloaded");
    this.inFlight = requireNonNull(inFlight, "inFlight");
  }

  @Override
  public <ReqT, RespT> ServerCall.Listener<ReqT> interceptCall(
      ServerCall<ReqT, RespT> call, Metadata headers, ServerCallHandler<ReqT, RespT> next) {
    if (overloaded.getAsBoolean()) {
      throw refusal("this gateway node is overloaded", "heap", RETRY_AFTER);
    }
    if (!inFlight.bounded()) {
      return next.startCall(call, headers);
    }
    if (!inFlight.tryAcquire()) {
      throw refusal(
          "this gateway node is serving as many calls as it admits (" + inFlight.max() + ")",
          "calls_in_flight",
          RETRY_AFTER_CALLS_IN_FLIGHT);
    }
    Release release = new Release(inFlight);
    try {
      return new Listener<>(next.startCall(new Call<>(call, release), headers), release);
    } catch (RuntimeException | Error e) {
      release.run();
      throw e;
    }
  }

  private static ApiException refusal(String message, String signal, Duration retryAfter) {
    return ApiException.builder(Status.Code.UNAVAILABLE, REASON)
        .message(message + "; retry, possibly on another node")
        .metadata("retryable", "true")
        .metadata("signal", signal)
        .retryAfter(retryAfter)
        .build();
  }

  /**
   * Gives a call's place back exactly once, whichever comes first: the server closing the call,
   * the call completing, or the client cancelling it (a close the error boundary makes on the outer
   * call is followed by the listener's completion, so every end reaches one of them).
   */
  private static final class Release extends AtomicBoolean implements Runnable {
    private static final long serialVersionUID = 1L;
    private final transient CallsInFlight inFlight;

    Release(CallsInFlight inFlight) {
      this.inFlight = inFlight;
    }

    @Override
    public void run() {
      if (compareAndSet(false, true)) {
        inFlight.release();
      }
    }
  }

  private static final class Call<ReqT, RespT>
      extends ForwardingServerCall.SimpleForwardingServerCall<ReqT, RespT> {
    private final Release release;

    Call(ServerCall<ReqT, RespT> delegate, Release release) {
      super(delegate);
      this.release = release;
    }

    @Override
    public void close(Status status, Metadata trailers) {
      release.run();
      super.close(status, trailers);
    }
  }

  private static final class Listener<ReqT>
      extends ForwardingServerCallListener.SimpleForwardingServerCallListener<ReqT> {
    private final Release release;

    Listener(ServerCall.Listener<ReqT> delegate, Release release) {
      super(delegate);
      this.release = release;
    }

    @Override
    public void onComplete() {
      release.run();
      super.onComplete();
    }

    @Override
    public void onCancel() {
      release.run();
      super.onCancel();
    }
  }
}
