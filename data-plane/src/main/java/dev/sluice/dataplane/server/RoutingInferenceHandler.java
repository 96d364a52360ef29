package dev.sluice.dataplane.server;

import static java.util.Objects.requireNonNull;

import com.google.common.io.BaseEncoding;
import com.google.protobuf.Timestamp;
import dev.sluice.dataplane.auth.Caller;
import dev.sluice.dataplane.metrics.GatewayMetrics;
import dev.sluice.dataplane.ratelimit.CallSettlement;
import dev.sluice.dataplane.routing.ChatStreamSink;
import dev.sluice.dataplane.routing.ModelEntry;
import dev.sluice.dataplane.routing.RoutedStream;
import dev.sluice.dataplane.routing.Router;
import dev.sluice.dataplane.routing.RoutingContext;
import dev.sluice.grpc.ApiException;
import dev.sluice.inference.v1.ChatRequest;
import dev.sluice.inference.v1.ChatResponse;
import dev.sluice.inference.v1.EmbedRequest;
import dev.sluice.inference.v1.EmbedResponse;
import dev.sluice.inference.v1.GetModelRequest;
import dev.sluice.inference.v1.GetModelResponse;
import dev.sluice.inference.v1.ListModelsRequest;
import dev.sluice.inference.v1.ListModelsResponse;
import dev.sluice.inference.v1.StreamChatRequest;
import dev.sluice.inference.v1.Usage;
import dev.sluice.type.v1.ModelCapability;
import io.grpc.Status;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Instant;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.LongSupplier;
import org.jspecify.annotations.Nullable;

/**
 * The {@link InferenceHandler}: checks the request, resolves the model the caller asked for (grants
 * first, so an ungranted name gets PERMISSION_DENIED whether or not it exists), admits it against
 * its rate limits ({@link QuotaGate}), and hands the call to the {@link Router}. An admitted call
 * settles its reservation when it ends, however it ends: {@link SettledStream} for streams, {@link
 * QuotaGate#settledOnEnd} for unary calls.
 */
final class RoutingInferenceHandler implements InferenceHandler {
  private static final int DEFAULT_PAGE_SIZE = 100;
  private static final int MAX_PAGE_SIZE = 1000;
  private static final String PAGE_TOKEN_PREFIX = "after:";

  private final Router router;
  private final QuotaGate quotas;
  private final GatewayMetrics metrics;
  private final Clock clock;
  private final LongSupplier nanoTime;

  RoutingInferenceHandler(
      Router router,
      QuotaGate quotas,
      GatewayMetrics metrics,
      Clock clock,
      LongSupplier nanoTime) {
    this.router = requireNonNull(router, "router");
    this.quotas = requireNonNull(quotas, "quotas");
    this.metrics = requireNonNull(metrics, "metrics");
    this.clock = requireNonNull(clock, "clock");
    this.nanoTime = requireNonNull(nanoTime, "nanoTime");
  }

  @Override
  public CompletableFuture<ChatResponse> chat(CallContext call, ChatRequest request) {
    RequestValidator.checkChat(request, "");
    ModelEntry model =
        resolve(call, request.getModel(), "model", ModelCapability.MODEL_CAPABILITY_CHAT);
    ChatRequest rendered = PromptRenderer.render(call.config(), request, "");
    RoutingContext context = routingContext(call, request.getRequestId());
    CallSettlement settlement =
        quotas.admitChat(call.config(), call.caller(), model, rendered, context);
    CompletableFuture<ChatResponse> response;
    try {
      response = router.chat(call.config().routes(), model, rendered, context);
    } catch (RuntimeException e) {
      releaseOnThrow(settlement);
      throw e;
    }
    response.whenComplete(
        (r, error) ->
            reportUnary(
                "chat",
                model,
                context.startNanos(),
                r == null ? null : r.getProvider(),
                r == null ? null : r.getUsage(),
                error));
    return settlement == null
        ? response
        : QuotaGate.settledOnEnd(response, settlement, QuotaGate::chatCompleted);
  }

  @Override
  public RoutedStream streamChat(CallContext call, StreamChatRequest request, ChatStreamSink sink) {
    if (!request.hasChat()) {
      throw RequestValidator.invalidRequest("chat", "required");
    }
    ChatRequest chat = request.getChat();
    RequestValidator.checkChat(chat, "chat.");
    ModelEntry model =
        resolve(call, chat.getModel(), "chat.model", ModelCapability.MODEL_CAPABILITY_CHAT);
    ChatRequest rendered = PromptRenderer.render(call.config(), chat, "chat.");
    RoutingContext context = routingContext(call, chat.getRequestId());
    CallSettlement settlement =
        quotas.admitChat(call.config(), call.caller(), model, rendered, context);
    MeteredStream metered =
        new MeteredStream(sink, metrics, nanoTime, model.name(), context.startNanos());
    if (settlement == null) {
      metered.attach(router.streamChat(call.config().routes(), model, rendered, context, metered));
      return metered;
    }
    SettledStream settled = new SettledStream(metered, settlement);
    try {
      settled.attach(router.streamChat(call.config().routes(), model, rendered, context, settled));
    } catch (RuntimeException e) {
      releaseOnThrow(settlement);
      throw e;
    }
    metered.attach(settled);
    return metered;
  }

  @Override
  public CompletableFuture<EmbedResponse> embed(CallContext call, EmbedRequest request) {
    RequestValidator.checkEmbed(request);
    ModelEntry model =
        resolve(call, request.getModel(), "model", ModelCapability.MODEL_CAPABILITY_EMBEDDINGS);
    RoutingContext context = routingContext(call, request.getRequestId());
    CallSettlement settlement = quotas.admitEmbed(call, model, request, context);
    CompletableFuture<EmbedResponse> response;
    try {
      response = router.embed(call.config().routes(), model, request, context);
    } catch (RuntimeException e) {
      releaseOnThrow(settlement);
      throw e;
    }
    response.whenComplete(
        (r, error) ->
            reportUnary(
                "embeddings",
                model,
                context.startNanos(),
                r == null ? null : r.getProvider(),
                r == null ? null : r.getUsage(),
                error));
    return settlement == null
        ? response
        : QuotaGate.settledOnEnd(response, settlement, QuotaGate::embedCompleted);
  }

  /**
   * Ends the reservation of a call the router refused synchronously (a bug, since the router
   * reports failures through the future or the sink): no upstream was called, so it is released.
   */
  private static void releaseOnThrow(@Nullable CallSettlement settlement) {
    if (settlement != null) {
      settlement.failed(null);
    }
  }

  @Override
  public ListModelsResponse listModels(CallContext call, ListModelsRequest request) {
    int pageSize = request.getPageSize() == 0 ? DEFAULT_PAGE_SIZE : request.getPageSize();
    if (pageSize < 0 || pageSize > MAX_PAGE_SIZE) {
      throw RequestValidator.invalidRequest(
          "page_size", request.getPageSize() + " (expected: 0 to " + MAX_PAGE_SIZE + ")");
    }
    String after =
        request.getPageToken().isEmpty() ? null : decodePageToken(request.getPageToken());
    ListModelsResponse.Builder response = ListModelsResponse.newBuilder();
    List<ModelEntry> models = call.config().routes().models();
    String last = null;
    for (ModelEntry model : models) {
      if (after != null && model.name().compareTo(after) <= 0) {
        continue;
      }
      if (!granted(call.caller(), model.name(), model)) {
        continue;
      }
      if (response.getModelsCount() == pageSize) {
        response.setNextPageToken(encodePageToken(last));
        break;
      }
      response.addModels(model.info());
      last = model.name();
    }
    return response.build();
  }

  @Override
  public GetModelResponse getModel(CallContext call, GetModelRequest request) {
    if (request.getName().isEmpty()) {
      throw RequestValidator.invalidRequest("name", "required");
    }
    ModelEntry model = resolve(call, request.getName(), "name", null);
    return GetModelResponse.newBuilder().setModel(model.info()).build();
  }

  /**
   * The model the caller asked for. Grants are checked before existence, so a caller learns nothing
   * about models it may not use; then the model must exist and, when the operator declared
   * capabilities, support the operation.
   */
  private ModelEntry resolve(
      CallContext call, String name, String field, @Nullable ModelCapability needed) {
    ModelEntry model = call.config().routes().model(name);
    if (!granted(call.caller(), name, model)) {
      throw ApiException.builder(Status.Code.PERMISSION_DENIED, "MODEL_NOT_ALLOWED")
          .message("this API key may not use model " + name)
          .metadata("model", name)
          .build();
    }
    if (model == null) {
      throw ApiException.builder(Status.Code.NOT_FOUND, "MODEL_NOT_FOUND")
          .message("no model is named " + name)
          .metadata("model", name)
          .build();
    }
    if (needed != null && !model.supports(needed)) {
      throw RequestValidator.invalidRequest(
          field,
          "model "
              + model.name()
              + " does not support "
              + (needed == ModelCapability.MODEL_CAPABILITY_EMBEDDINGS ? "embeddings" : "chat"));
    }
    return model;
  }

  private static boolean granted(Caller caller, String name, @Nullable ModelEntry model) {
    return model == null
        ? caller.mayUse(name, null, List.of(), List.of())
        : caller.mayUse(name, model.name(), model.model().getAliasesList(), model.groups());
  }

  private RoutingContext routingContext(CallContext call, String requestId) {
    Instant now = clock.instant();
    return new RoutingContext(
        requestId.isEmpty() ? newRequestId() : requestId,
        call.caller().consumer(),
        call.caller().tenant(),
        call.headers(),
        call.deadline(),
        Timestamp.newBuilder().setSeconds(now.getEpochSecond()).setNanos(now.getNano()).build(),
        nanoTime.getAsLong());
  }

  private void reportUnary(
      String operation,
      ModelEntry model,
      long startNanos,
      @Nullable String provider,
      @Nullable Usage usage,
      @Nullable Throwable error) {
    String errorType = null;
    if (error != null) {
      Throwable cause =
          error instanceof CompletionException && error.getCause() != null
              ? error.getCause()
              : error;
      errorType =
          cause instanceof ApiException api
              ? api.code().name()
              : cause instanceof CancellationException ? "CANCELLED" : "INTERNAL";
    }
    String p = provider == null ? "" : provider;
    metrics.operationFinished(
        operation, p, model.name(), nanoTime.getAsLong() - startNanos, errorType);
    if (usage != null) {
      metrics.tokensUsed(operation, p, model.name(), usage);
    }
  }

  /** A random (version 4) UUID, without SecureRandom's cost and contention. */
  private static String newRequestId() {
    ThreadLocalRandom random = ThreadLocalRandom.current();
    long msb = (random.nextLong() & ~0xF000L) | 0x4000L;
    long lsb = (random.nextLong() & ~(0xC000L << 48)) | (0x8000L << 48);
    return new UUID(msb, lsb).toString();
  }

  private static String encodePageToken(@Nullable String lastName) {
    return BaseEncoding.base64Url()
        .omitPadding()
        .encode((PAGE_TOKEN_PREFIX + lastName).getBytes(StandardCharsets.UTF_8));
  }

  private static String decodePageToken(String token) {
    try {
      String decoded =
          new String(BaseEncoding.base64Url().omitPadding().decode(token), StandardCharsets.UTF_8);
      if (decoded.startsWith(PAGE_TOKEN_PREFIX)) {
        return decoded.substring(PAGE_TOKEN_PREFIX.length());
      }
    } catch (IllegalArgumentException e) {
      // Falls through to the error below.
    }
    throw RequestValidator.invalidRequest("page_token", "not a token from a previous response");
  }
}
