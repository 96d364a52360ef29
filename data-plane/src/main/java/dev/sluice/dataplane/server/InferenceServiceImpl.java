package dev.sluice.dataplane.server;

import static java.util.Objects.requireNonNull;

import dev.sluice.dataplane.auth.Authenticator;
import dev.sluice.dataplane.config.ServingConfig;
import dev.sluice.dataplane.metrics.GatewayMetrics;
import dev.sluice.dataplane.overload.CallsInFlight;
import dev.sluice.dataplane.ratelimit.RateLimiter;
import dev.sluice.dataplane.ratelimit.TokenEstimator;
import dev.sluice.dataplane.routing.Router;
import dev.sluice.grpc.ErrorBoundaryInterceptor;
import dev.sluice.grpc.ErrorMapper;
import dev.sluice.inference.v1.ChatRequest;
import dev.sluice.inference.v1.ChatResponse;
import dev.sluice.inference.v1.EmbedRequest;
import dev.sluice.inference.v1.EmbedResponse;
import dev.sluice.inference.v1.GetModelRequest;
import dev.sluice.inference.v1.GetModelResponse;
import dev.sluice.inference.v1.InferenceServiceGrpc;
import dev.sluice.inference.v1.ListModelsRequest;
import dev.sluice.inference.v1.ListModelsResponse;
import dev.sluice.inference.v1.StreamChatRequest;
import dev.sluice.inference.v1.StreamChatResponse;
import io.grpc.ServerInterceptors;
import io.grpc.ServerServiceDefinition;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.time.Clock;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BooleanSupplier;
import org.jspecify.annotations.Nullable;

/**
 * {@code sluice.inference.v1.InferenceService} over gRPC: translates calls to the {@link
 * InferenceHandler} and results back, and wires cancellation and flow control. No logic lives here.
 */
public final class InferenceServiceImpl extends InferenceServiceGrpc.InferenceServiceImplBase {
  private final InferenceHandler handler;

  InferenceServiceImpl(InferenceHandler handler) {
    this.handler = requireNonNull(handler, "handler");
  }

  /**
   * The inference service with its interceptors, ready to add to a server: metrics (outermost), the
   * error boundary, load shedding, then authentication against the served config.
   *
   * @param limiter admits each request against the rate limits of the served config (its table
   *     supplier should read the served config's {@link
   *     dev.sluice.dataplane.config.RuntimeConfig#rateLimits()})
   * @param estimator counts prompt tokens for token limits; one per process
   * @param overloaded while true, new calls are refused with UNAVAILABLE ({@code OVERLOADED})
   *     before authentication; running calls are not touched
   * @param inFlight the calls in flight and their ceiling: a call beyond it is refused the same way
   */
  public static ServerServiceDefinition definition(
      ServingConfig serving,
      Authenticator authenticator,
      Router router,
      GatewayMetrics metrics,
      RateLimiter limiter,
      TokenEstimator estimator,
      BooleanSupplier overloaded,
      CallsInFlight inFlight) {
    InferenceServiceImpl service =
        new InferenceServiceImpl(
            new RoutingInferenceHandler(
                router,
                new QuotaGate(limiter, estimator),
                metrics,
                Clock.systemUTC(),
                System::nanoTime));
    return ServerInterceptors.intercept(
        service,
        new AuthInterceptor(serving, authenticator),
        new OverloadInterceptor(overloaded, inFlight),
        new ErrorBoundaryInterceptor(),
        new MetricsInterceptor(metrics));
  }

  @Override
  public void chat(ChatRequest request, StreamObserver<ChatResponse> responses) {
    ServerCallStreamObserver<ChatResponse> call =
        (ServerCallStreamObserver<ChatResponse>) responses;
    AtomicReference<@Nullable CompletableFuture<?>> pending = cancelOnClientCancel(call);
    CompletableFuture<ChatResponse> response = handler.chat(CallContext.current(), request);
    pending.set(response);
    response.whenComplete((r, error) -> reply(call, r, error));
  }

  @Override
  public void streamChat(StreamChatRequest request, StreamObserver<StreamChatResponse> responses) {
    GrpcChatStreamSink sink =
        GrpcChatStreamSink.install((ServerCallStreamObserver<StreamChatResponse>) responses);
    sink.attach(handler.streamChat(CallContext.current(), request, sink));
  }

  @Override
  public void embed(EmbedRequest request, StreamObserver<EmbedResponse> responses) {
    ServerCallStreamObserver<EmbedResponse> call =
        (ServerCallStreamObserver<EmbedResponse>) responses;
    AtomicReference<@Nullable CompletableFuture<?>> pending = cancelOnClientCancel(call);
    CompletableFuture<EmbedResponse> response = handler.embed(CallContext.current(), request);
    pending.set(response);
    response.whenComplete((r, error) -> reply(call, r, error));
  }

  @Override
  public void listModels(ListModelsRequest request, StreamObserver<ListModelsResponse> responses) {
    responses.onNext(handler.listModels(CallContext.current(), request));
    responses.onCompleted();
  }

  @Override
  public void getModel(GetModelRequest request, StreamObserver<GetModelResponse> responses) {
    responses.onNext(handler.getModel(CallContext.current(), request));
    responses.onCompleted();
  }

  /**
   * Installs the cancel handler first (gRPC takes it only during the service method) and lets the
   * caller fill in the work to cancel once it exists. A cancel arriving before that cannot happen:
   * gRPC delivers it after the service method returns.
   */
  private static AtomicReference<@Nullable CompletableFuture<?>> cancelOnClientCancel(
      ServerCallStreamObserver<?> call) {
    AtomicReference<@Nullable CompletableFuture<?>> pending = new AtomicReference<>();
    call.setOnCancelHandler(
        () -> {
          CompletableFuture<?> work = pending.get();
          if (work != null) {
            work.cancel(false);
          }
        });
    return pending;
  }

  private static <T> void reply(
      ServerCallStreamObserver<T> call, @Nullable T response, @Nullable Throwable error) {
    if (call.isCancelled()) {
      return;
    }
    if (error != null || response == null) {
      call.onError(
          ErrorMapper.toStatusRuntimeException(
              error != null ? error : new IllegalStateException("no response")));
      return;
    }
    call.onNext(response);
    call.onCompleted();
  }
}
