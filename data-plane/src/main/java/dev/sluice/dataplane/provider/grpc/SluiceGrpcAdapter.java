package dev.sluice.dataplane.provider.grpc;

import com.google.common.util.concurrent.FutureCallback;
import com.google.common.util.concurrent.Futures;
import com.google.common.util.concurrent.ListenableFuture;
import com.google.common.util.concurrent.MoreExecutors;
import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import com.google.protobuf.util.Durations;
import dev.sluice.config.v1.Backend;
import dev.sluice.config.v1.BackendKind;
import dev.sluice.config.v1.BackendTimeouts;
import dev.sluice.config.v1.Header;
import dev.sluice.dataplane.provider.ChatCall;
import dev.sluice.dataplane.provider.ChatStreamListener;
import dev.sluice.dataplane.provider.EmbedCall;
import dev.sluice.dataplane.provider.ProviderAdapter;
import dev.sluice.dataplane.provider.Secret;
import dev.sluice.dataplane.provider.SecretResolver;
import dev.sluice.dataplane.provider.UpstreamException;
import dev.sluice.dataplane.provider.UpstreamFailure;
import dev.sluice.dataplane.provider.UpstreamStream;
import dev.sluice.dataplane.provider.http.HeaderValues;
import dev.sluice.inference.v1.ChatRequest;
import dev.sluice.inference.v1.ChatResponse;
import dev.sluice.inference.v1.EmbedRequest;
import dev.sluice.inference.v1.EmbedResponse;
import dev.sluice.inference.v1.InferenceServiceGrpc;
import dev.sluice.inference.v1.StreamChatRequest;
import io.grpc.CallOptions;
import io.grpc.ClientCall;
import io.grpc.Deadline;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ClientCalls;
import io.netty.channel.EventLoopGroup;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;

/**
 * The {@link ProviderAdapter} for upstreams that implement Sluice's own {@code
 * sluice.inference.v1.InferenceService}: requests go out as they came (the model replaced by the
 * upstream model, the request id kept, {@code provider_options["sluice_grpc"]} passed on as the
 * upstream's {@code provider_options}), with the key as {@code authorization: Bearer} metadata and
 * the backend's headers as metadata. The deadline travels as gRPC's {@code grpc-timeout}.
 */
final class SluiceGrpcAdapter implements ProviderAdapter, AutoCloseable {
  static final String PROVIDER = "sluice_grpc";
  private static final long DEFAULT_REQUEST_NANOS = TimeUnit.SECONDS.toNanos(600);
  private static final long DEFAULT_IDLE_NANOS = TimeUnit.SECONDS.toNanos(120);
  private static final Metadata.Key<String> AUTHORIZATION =
      Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

  private final GrpcChannels channels;
  private final SecretResolver secrets;
  private final EventLoopGroup group;

  SluiceGrpcAdapter(GrpcChannels channels, SecretResolver secrets, EventLoopGroup group) {
    this.channels = channels;
    this.secrets = secrets;
    this.group = group;
  }

  @Override
  public BackendKind kind() {
    return BackendKind.BACKEND_KIND_SLUICE_GRPC;
  }

  @Override
  public CompletableFuture<ChatResponse> chat(ChatCall call) {
    Backend b = call.target().backend();
    try {
      ManagedChannel channel = channels.get(b);
      ClientCall<ChatRequest, ChatResponse> c =
          channel.newCall(InferenceServiceGrpc.getChatMethod(), unaryOptions(b, call.deadline()));
      ChatRequest request = upstreamRequest(call);
      return toCompletable(
          ClientCalls.futureUnaryCall(withHeaders(c, metadata(b)), request),
          b.getName(),
          r -> r.toBuilder()
              .setProvider(PROVIDER)
              .setBackend(b.getName())
              .setProviderModel(r.getModel().isEmpty() ? r.getProviderModel() : r.getModel())
              .clearModel()
              .clearModelVersion()
              .clearCreateTime()
              .build());
    } catch (UpstreamException e) {
      return CompletableFuture.failedFuture(e);
    }
  }

  @Override
  public UpstreamStream streamChat(ChatCall call, ChatStreamListener listener) {
    Backend b = call.target().backend();
    try {
      ManagedChannel channel = channels.get(b);
      CallOptions options = CallOptions.DEFAULT;
      if (call.deadline() != null) {
        options = options.withDeadline(call.deadline());
      }
      ClientCall<StreamChatRequest, dev.sluice.inference.v1.StreamChatResponse> c =
          channel.newCall(InferenceServiceGrpc.getStreamChatMethod(), options);
      BackendTimeouts t = b.getTimeouts();
      GrpcChatStream stream =
          new GrpcChatStream(
              c, listener, b.getName(), group.next(),
              nanos(t.hasRequestTimeout(), t.getRequestTimeout(), DEFAULT_REQUEST_NANOS),
              nanos(t.hasStreamIdleTimeout(), t.getStreamIdleTimeout(), DEFAULT_IDLE_NANOS));
      stream.start(StreamChatRequest.newBuilder().setChat(upstreamRequest(call)).build(), metadata(b));
      return stream;
    } catch (UpstreamException e) {
      java.util.concurrent.atomic.AtomicBoolean cancelled = new java.util.concurrent.atomic.AtomicBoolean();
      group.next().execute(
          () -> {
            if (!cancelled.get()) {
              listener.onError(e, null);
            }
          });
      return new UpstreamStream() {
        @Override
        public void resume() {}

        @Override
        public void cancel() {
          cancelled.set(true);
        }
      };
    }
  }

  @Override
  public CompletableFuture<EmbedResponse> embed(EmbedCall call) {
    Backend b = call.target().backend();
    try {
      ManagedChannel channel = channels.get(b);
      EmbedRequest request =
          call.request().toBuilder()
              .setModel(call.target().upstreamModel())
              .setRequestId(call.requestId())
              .setProviderOptions(ownOptions(call.request().getProviderOptions()))
              .build();
      ClientCall<EmbedRequest, EmbedResponse> c =
          channel.newCall(InferenceServiceGrpc.getEmbedMethod(), unaryOptions(b, call.deadline()));
      return toCompletable(
          ClientCalls.futureUnaryCall(withHeaders(c, metadata(b)), request),
          b.getName(),
          r -> r.toBuilder()
              .setProvider(PROVIDER)
              .setBackend(b.getName())
              .setProviderModel(r.getModel().isEmpty() ? r.getProviderModel() : r.getModel())
              .clearModel()
              .clearModelVersion()
              .build());
    } catch (UpstreamException e) {
      return CompletableFuture.failedFuture(e);
    }
  }

  @Override
  public void close() {
    channels.close();
  }

  private static ChatRequest upstreamRequest(ChatCall call) {
    return call.request().toBuilder()
        .setModel(call.target().upstreamModel())
        .setRequestId(call.requestId())
        .setProviderOptions(ownOptions(call.request().getProviderOptions()))
        .build();
  }

  /** {@code provider_options["sluice_grpc"]}, which becomes the upstream's provider options. */
  private static Struct ownOptions(Struct options) {
    Value own = options.getFieldsMap().get(PROVIDER);
    return own != null && own.hasStructValue() ? own.getStructValue() : Struct.getDefaultInstance();
  }

  private static CallOptions unaryOptions(Backend b, @Nullable Deadline deadline) {
    BackendTimeouts t = b.getTimeouts();
    Deadline request =
        Deadline.after(nanos(t.hasRequestTimeout(), t.getRequestTimeout(), DEFAULT_REQUEST_NANOS), TimeUnit.NANOSECONDS);
    return CallOptions.DEFAULT.withDeadline(deadline == null ? request : deadline.minimum(request));
  }

  private Metadata metadata(Backend b) {
    Metadata m = new Metadata();
    if (b.hasApiKey()) {
      Secret key = secrets.resolve(b.getApiKey(), b.getName());
      if (!HeaderValues.isValid(key.reveal())) {
        throw new UpstreamException(UpstreamFailure.MISCONFIGURED, b.getName(), 0, null,
            "api_key contains line breaks or control characters (backend " + b.getName() + ")", null);
      }
      m.put(AUTHORIZATION, key.bearerAuthorization().toString());
    }
    for (Header h : b.getHeadersList()) {
      String value = h.hasSecret() ? secrets.resolve(h.getSecret(), b.getName()).reveal() : h.getPlain();
      if (!HeaderValues.isValid(value) || !HeaderValues.isValidName(h.getName())) {
        throw new UpstreamException(UpstreamFailure.MISCONFIGURED, b.getName(), 0, null,
            "headers: " + h.getName() + " is not a valid metadata entry (backend " + b.getName() + ")", null);
      }
      m.put(Metadata.Key.of(h.getName().toLowerCase(java.util.Locale.ROOT), Metadata.ASCII_STRING_MARSHALLER), value);
    }
    return m;
  }

  private static <ReqT, RespT> ClientCall<ReqT, RespT> withHeaders(ClientCall<ReqT, RespT> call, Metadata extra) {
    return new io.grpc.ForwardingClientCall.SimpleForwardingClientCall<>(call) {
      @Override
      public void start(Listener<RespT> listener, Metadata headers) {
        headers.merge(extra);
        super.start(listener, headers);
      }
    };
  }

  private static <T> CompletableFuture<T> toCompletable(
      ListenableFuture<T> upstream, String backend, java.util.function.UnaryOperator<T> relabel) {
    CompletableFuture<T> future = new CompletableFuture<>();
    Futures.addCallback(
        upstream,
        new FutureCallback<T>() {
          @Override
          public void onSuccess(T result) {
            future.complete(relabel.apply(result));
          }

          @Override
          public void onFailure(Throwable t) {
            if (t instanceof StatusRuntimeException sre) {
              future.completeExceptionally(GrpcErrors.of(sre.getStatus(), sre.getTrailers(), backend, false, false));
            } else {
              future.completeExceptionally(
                  new UpstreamException(UpstreamFailure.SERVER_ERROR, backend, 0, null, "the upstream call failed", t));
            }
          }
        },
        MoreExecutors.directExecutor());
    future.whenComplete(
        (r, t) -> {
          if (future.isCancelled()) {
            upstream.cancel(true); // cancels the gRPC call: RST_STREAM upstream
          }
        });
    return future;
  }

  private static long nanos(boolean set, com.google.protobuf.Duration d, long fallback) {
    long n = set ? Durations.toNanos(d) : 0;
    return n > 0 ? n : fallback;
  }
}
