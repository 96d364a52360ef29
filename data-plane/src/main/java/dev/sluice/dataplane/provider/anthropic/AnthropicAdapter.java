package dev.sluice.dataplane.provider.anthropic;

import dev.sluice.config.v1.Backend;
import dev.sluice.config.v1.BackendKind;
import dev.sluice.dataplane.provider.ChatCall;
import dev.sluice.dataplane.provider.ChatStreamListener;
import dev.sluice.dataplane.provider.EmbedCall;
import dev.sluice.dataplane.provider.ProviderAdapter;
import dev.sluice.dataplane.provider.Secret;
import dev.sluice.dataplane.provider.UpstreamException;
import dev.sluice.dataplane.provider.UpstreamFailure;
import dev.sluice.dataplane.provider.UpstreamStream;
import dev.sluice.dataplane.provider.http.BackendEndpoint;
import dev.sluice.dataplane.provider.http.HttpUpstreamClient;
import dev.sluice.dataplane.provider.http.JsonExchanges;
import dev.sluice.dataplane.provider.http.UpstreamRequest;
import dev.sluice.dataplane.provider.json.JsonBodies;
import dev.sluice.inference.v1.ChatResponse;
import dev.sluice.inference.v1.EmbedResponse;
import io.netty.buffer.ByteBuf;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.util.AsciiString;
import java.util.concurrent.CompletableFuture;

/**
 * The {@link ProviderAdapter} for Anthropic's Messages API. The key goes in {@code x-api-key};
 * {@code anthropic-version} and {@code anthropic-beta} come from {@code AnthropicSettings}.
 * Anthropic has no embeddings API: {@link #embed} fails with {@code BAD_REQUEST}.
 */
final class AnthropicAdapter implements ProviderAdapter {
  static final String PROVIDER = "anthropic";
  static final String DEFAULT_BASE_URL = "https://api.anthropic.com";
  static final String DEFAULT_VERSION = "2023-06-01";
  private static final int MAX_BODY = 64 << 20;

  private static final AsciiString APPLICATION_JSON = AsciiString.cached("application/json");
  private static final AsciiString EVENT_STREAM = AsciiString.cached("text/event-stream");
  private static final AsciiString USER_AGENT = AsciiString.cached("sluice/0.1");
  private static final AsciiString API_KEY = AsciiString.cached("x-api-key");
  private static final AsciiString VERSION = AsciiString.cached("anthropic-version");
  private static final AsciiString BETA = AsciiString.cached("anthropic-beta");
  private static final AsciiString REQUEST_ID = AsciiString.cached("x-request-id");

  private final HttpUpstreamClient http;
  private final BackendEndpoint.Cache endpoints;

  AnthropicAdapter(HttpUpstreamClient http, BackendEndpoint.Cache endpoints) {
    this.http = http;
    this.endpoints = endpoints;
  }

  @Override
  public BackendKind kind() {
    return BackendKind.BACKEND_KIND_ANTHROPIC;
  }

  @Override
  public CompletableFuture<ChatResponse> chat(ChatCall call) {
    String backend = call.target().backend().getName();
    return JsonExchanges.send(
        http, backend, () -> request(call, false), MAX_BODY, AnthropicJson::errorDetail,
        body ->
            AnthropicResponseReader.read(
                body,
                ChatResponse.newBuilder()
                    .setRequestId(call.requestId())
                    .setProvider(PROVIDER)
                    .setBackend(backend)));
  }

  @Override
  public UpstreamStream streamChat(ChatCall call, ChatStreamListener listener) {
    return new AnthropicChatStream(call.target().backend().getName(), call.requestId(), listener)
        .start(http, () -> request(call, true));
  }

  @Override
  public CompletableFuture<EmbedResponse> embed(EmbedCall call) {
    return CompletableFuture.failedFuture(
        new UpstreamException(
            UpstreamFailure.BAD_REQUEST, call.target().backend().getName(), 0, null,
            "Anthropic has no embeddings API", null));
  }

  private UpstreamRequest request(ChatCall call, boolean stream) {
    Backend b = call.target().backend();
    BackendEndpoint endpoint = endpoints.get(b);
    ByteBuf body =
        JsonBodies.write(
            http.allocator(),
            g -> AnthropicRequestWriter.write(g, call.request(), call.target().upstreamModel(), b.getName(), stream));
    try {
      UpstreamRequest.Builder builder =
          endpoint
              .request(HttpMethod.POST, endpoint.path("/v1/messages"), call.deadline(), stream)
              .body(body)
              .header(HttpHeaderNames.CONTENT_TYPE, APPLICATION_JSON)
              .header(HttpHeaderNames.ACCEPT, stream ? EVENT_STREAM : APPLICATION_JSON)
              .header(HttpHeaderNames.USER_AGENT, USER_AGENT);
      Secret key = endpoint.apiKey();
      if (key != null) {
        endpoint.checkHeaderSafe(key, "api_key");
        builder.header(API_KEY, key.reveal());
      }
      String version = b.getAnthropic().getApiVersion();
      builder.header(VERSION, version.isEmpty() ? DEFAULT_VERSION : version);
      if (b.getAnthropic().getBetaFeaturesCount() > 0) {
        builder.header(BETA, String.join(",", b.getAnthropic().getBetaFeaturesList()));
      }
      if (!call.requestId().isEmpty()) {
        builder.header(REQUEST_ID, call.requestId());
      }
      return builder.build();
    } catch (RuntimeException e) {
      body.release();
      throw e;
    }
  }
}
