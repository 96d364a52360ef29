package dev.sluice.dataplane.server;

import static java.util.Objects.requireNonNull;

import com.google.common.base.Strings;
import dev.sluice.dataplane.auth.Caller;
import dev.sluice.dataplane.config.RuntimeConfig;
import dev.sluice.dataplane.ratelimit.CallSettlement;
import dev.sluice.dataplane.ratelimit.RateLimitTable;
import dev.sluice.dataplane.ratelimit.RateLimiter;
import dev.sluice.dataplane.ratelimit.RequestQuotaContext;
import dev.sluice.dataplane.ratelimit.TokenEstimator;
import dev.sluice.dataplane.routing.ModelEntry;
import dev.sluice.dataplane.routing.RoutingContext;
import dev.sluice.grpc.ApiException;
import dev.sluice.inference.v1.ChatRequest;
import dev.sluice.inference.v1.ChatResponse;
import dev.sluice.inference.v1.Choice;
import dev.sluice.inference.v1.ContentDelta;
import dev.sluice.inference.v1.ContentPart;
import dev.sluice.inference.v1.EmbedRequest;
import dev.sluice.inference.v1.StreamChatResponse;
import dev.sluice.inference.v1.EmbedResponse;
import dev.sluice.inference.v1.ToolCallDelta;
import io.grpc.Status;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.function.BiConsumer;
import org.jspecify.annotations.Nullable;

/**
 * The rate-limit check of the request path: admits a call against every limit of its matched
 * route and of its consumer, and returns the {@link CallSettlement} that ends the reservation when
 * the call ends.
 *
 * <p>It runs once per client request, after authentication, the grant check, template rendering
 * and route resolution and before the router is called: a refused request costs no upstream call,
 * and the retries and fallbacks the router makes afterwards are the same request, not new ones.
 *
 * <p>A request no policy applies to pays close to nothing: one emptiness check when the config has
 * no policies, one route match when neither the route nor the consumer names any. The prompt is
 * tokenized only when one of the request's policies counts tokens. Nothing here blocks.
 *
 * <p>The policy names come from the config the call started with; the limiter counts them in the
 * table of the config served at that instant. They differ only when a config change lands between
 * the two reads, and then a policy the new config dropped counts nothing and one it changed counts
 * by its new limits, which is what the operator just asked for.
 *
 * <p>Public so that the auth-and-limit benchmark measures this code rather than a copy of it.
 */
public final class QuotaGate {
  private final RateLimiter limiter;
  private final TokenEstimator estimator;

  /**
   * @param limiter the node's limiter, over the rate-limit table of the served config
   * @param estimator counts prompt tokens; one per process (an exact one loads its vocabulary,
   *     hundreds of milliseconds, when created)
   */
  public QuotaGate(RateLimiter limiter, TokenEstimator estimator) {
    this.limiter = requireNonNull(limiter, "limiter");
    this.estimator = requireNonNull(estimator, "estimator");
  }

  /**
   * Admits a chat request (unary or streamed), reserving its estimated prompt tokens and its
   * maximum output ({@code max_output_tokens}, else the model's, else {@value
   * TokenEstimator#DEFAULT_MAX_OUTPUT_TOKENS}, times the candidate count).
   *
   * @param config the config the call started with
   * @param caller who is calling, authenticated and granted {@code model}
   * @param rendered the request as it will be sent, prompt template rendered
   * @return the settlement to end when the call ends, or null when no limit applies
   * @throws ApiException RESOURCE_EXHAUSTED when a limit refuses the request
   */
  public @Nullable CallSettlement admitChat(
      RuntimeConfig config,
      Caller caller,
      ModelEntry model,
      ChatRequest rendered,
      RoutingContext routing) {
    RateLimitTable table = config.rateLimits();
    if (table.isEmpty()) {
      return null;
    }
    List<String> routePolicies = config.routes().rateLimitPolicies(model, routing);
    List<String> consumerPolicies = caller.rateLimitPolicies();
    if (routePolicies.isEmpty() && consumerPolicies.isEmpty()) {
      return null;
    }
    long input = 0;
    long output = 0;
    if (table.countsTokens(routePolicies) || table.countsTokens(consumerPolicies)) {
      input = estimator.estimateInputTokens(rendered);
      output = TokenEstimator.maxOutputTokens(rendered, model.model().getMaxOutputTokens());
    }
    return admit(caller, model, routePolicies, consumerPolicies, input, output);
  }

  /**
   * Admits an embeddings request, reserving the tokens of its inputs (embeddings produce no output
   * tokens).
   *
   * @return the settlement to end when the call ends, or null when no limit applies
   * @throws ApiException RESOURCE_EXHAUSTED when a limit refuses the request
   */
  @Nullable CallSettlement admitEmbed(
      CallContext call, ModelEntry model, EmbedRequest request, RoutingContext routing) {
    RateLimitTable table = call.config().rateLimits();
    if (table.isEmpty()) {
      return null;
    }
    List<String> routePolicies = call.config().routes().rateLimitPolicies(model, routing);
    List<String> consumerPolicies = call.caller().rateLimitPolicies();
    if (routePolicies.isEmpty() && consumerPolicies.isEmpty()) {
      return null;
    }
    long input = 0;
    if (table.countsTokens(routePolicies) || table.countsTokens(consumerPolicies)) {
      input = estimator.estimateTextTokens(request.getInputsList());
    }
    return admit(call.caller(), model, routePolicies, consumerPolicies, input, 0);
  }

  private CallSettlement admit(
      Caller caller,
      ModelEntry model,
      List<String> routePolicies,
      List<String> consumerPolicies,
      long estimatedInputTokens,
      long maxOutputTokens) {
    RequestQuotaContext request =
        RequestQuotaContext.builder()
            .apiKey(credential(caller))
            .consumer(caller.consumer())
            .tenant(Strings.nullToEmpty(caller.tenant()))
            .model(model.name())
            .addPolicies(routePolicies)
            .addPolicies(consumerPolicies)
            .estimatedInputTokens(estimatedInputTokens)
            .maxOutputTokens(maxOutputTokens)
            .build();
    return CallSettlement.of(limiter.admit(request).orThrow(), estimatedInputTokens);
  }

  /**
   * {@code call}, settling {@code settlement} when it ends and before its outcome is passed on, so
   * that a caller who has its answer also sees the quota it left. Cancelling the returned future
   * cancels {@code call}.
   *
   * <p>A unary call has no events in between, so its outcome decides: a response settles with its
   * usage; a client cancellation or an expired deadline or route timeout leaves the provider
   * possibly working on the whole answer, so it is charged as a call that reached a provider (its
   * estimated input, since no output was seen); any other failure is an upstream's refusal or no
   * backend being available, which providers do not bill, so the reservation is released.
   *
   * @param onResponse settles with a response (typically {@code completed(usage)})
   */
  static <T> CompletableFuture<T> settledOnEnd(
      CompletableFuture<T> call,
      CallSettlement settlement,
      BiConsumer<CallSettlement, T> onResponse) {
    CompletableFuture<T> settled = new CompletableFuture<>();
    call.whenComplete(
        (response, error) -> {
          // The outcome goes on even if settling failed: a client must never be left hanging.
          try {
            if (error == null) {
              settlement.upstreamStarted();
              onResponse.accept(settlement, response);
            } else {
              failed(settlement, error);
            }
          } finally {
            if (error == null) {
              settled.complete(response);
            } else {
              settled.completeExceptionally(error);
            }
          }
        });
    settled.whenComplete(
        (response, error) -> {
          if (settled.isCancelled()) {
            call.cancel(false);
          }
        });
    return settled;
  }

  /** Settles a unary chat call that answered with {@code response}. */
  static void chatCompleted(CallSettlement settlement, ChatResponse response) {
    if (response.hasUsage()) {
      settlement.completed(response.getUsage());
      return;
    }
    // No usage reported: measure the output, as for a stream whose usage never arrived.
    for (Choice choice : response.getChoicesList()) {
      for (ContentPart part : choice.getMessage().getPartsList()) {
        StreamChatResponse event = outputOf(part);
        if (event != null) {
          settlement.onEvent(event);
        }
      }
    }
    settlement.completed(null);
  }

  /** Settles a unary embeddings call that answered with {@code response}. */
  static void embedCompleted(CallSettlement settlement, EmbedResponse response) {
    settlement.completed(response.hasUsage() ? response.getUsage() : null);
  }

  private static void failed(CallSettlement settlement, Throwable error) {
    Throwable cause = error;
    while ((cause instanceof CompletionException || cause instanceof ExecutionException)
        && cause.getCause() != null) {
      cause = cause.getCause();
    }
    if (cause instanceof CancellationException) {
      settlement.upstreamStarted();
      settlement.cancelled();
    } else if (cause instanceof ApiException api
        && api.code() == Status.Code.DEADLINE_EXCEEDED) {
      settlement.upstreamStarted();
      settlement.failed(null);
    } else {
      settlement.failed(null);
    }
  }

  private static @Nullable StreamChatResponse outputOf(ContentPart part) {
    return switch (part.getKindCase()) {
      case TEXT -> delta(ContentDelta.newBuilder().setText(part.getText()));
      case REFUSAL -> delta(ContentDelta.newBuilder().setRefusal(part.getRefusal()));
      case REASONING ->
          delta(ContentDelta.newBuilder().setReasoningText(part.getReasoning().getText()));
      case TOOL_CALL ->
          StreamChatResponse.newBuilder()
              .setToolCallDelta(
                  ToolCallDelta.newBuilder()
                      .setName(part.getToolCall().getName())
                      .setArgumentsDelta(part.getToolCall().getArguments()))
              .build();
      default -> null;
    };
  }

  private static StreamChatResponse delta(ContentDelta.Builder delta) {
    return StreamChatResponse.newBuilder().setContentDelta(delta).build();
  }

  /**
   * The value of the {@code api_key} dimension: the key's name, or for a JWT caller its principal
   * ({@code <iss>#<sub>}), so per-credential limits hold for token callers too instead of pooling
   * them all in one bucket. Bucket keys join {@code dimension=value} pairs with {@code ,}, so those
   * characters (and {@code %}) are percent-encoded.
   */
  static String credential(Caller caller) {
    if (caller.apiKey() != null) {
      return caller.apiKey();
    }
    String principal = Strings.nullToEmpty(caller.principal());
    return principal.replace("%", "%25").replace(",", "%2C").replace("=", "%3D");
  }
}
