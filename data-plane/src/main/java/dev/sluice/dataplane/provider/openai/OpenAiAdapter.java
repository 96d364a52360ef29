package dev.sluice.dataplane.provider.openai;

import dev.sluice.config.v1.Backend;
import dev.sluice.config.v1.BackendKind;
import dev.sluice.dataplane.provider.ChatCall;
import dev.sluice.dataplane.provider.ChatStreamListener;
import dev.sluice.dataplane.provider.EmbedCall;
import dev.sluice.dataplane.provider.ProviderAdapter;
import dev.sluice.dataplane.provider.UpstreamStream;
import dev.sluice.dataplane.provider.http.BackendEndpoint;
import dev.sluice.dataplane.provider.http.HttpUpstreamClient;
import dev.sluice.dataplane.provider.http.JsonExchanges;
import dev.sluice.dataplane.provider.http.UpstreamRequest;
import dev.sluice.dataplane.provider.json.JsonBodies;
import dev.sluice.inference.v1.ChatResponse;
import dev.sluice.inference.v1.EmbedResponse;
import dev.sluice.inference.v1.EmbeddingEncoding;
import io.grpc.Deadline;
import io.netty.buffer.ByteBuf;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.util.AsciiString;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletableFuture;
import org.jspecify.annotations.Nullable;

/**
 * The {@link ProviderAdapter} for OpenAI and OpenAI-compatible servers: one wire format, differing
 * in the default base URL, the developer role, {@code max_completion_tokens} versus {@code
 * max_tokens}, and {@code top_k}.
 */
final class OpenAiAdapter implements ProviderAdapter {
  static final String DEFAULT_BASE_URL = "https://api.openai.com/v1";
  private static final int MAX_CHAT_BODY = 64 << 20;
  private static final int MAX_EMBEDDINGS_BODY = 256 << 20;

  private static final AsciiString APPLICATION_JSON = AsciiString.cached("application/json");
  private static final AsciiString EVENT_STREAM = AsciiString.cached("text/event-stream");
  private static final AsciiString USER_AGENT = AsciiString.cached("sluice/0.1");
  private static final AsciiString OPENAI_REQUEST_ID = AsciiString.cached("x-client-request-id");
  private static final AsciiString REQUEST_ID = AsciiString.cached("x-request-id");

  private final BackendKind kind;
  private final String provider;
  private final HttpUpstreamClient http;
  private final BackendEndpoint.Cache endpoints;

  OpenAiAdapter(BackendKind kind, HttpUpstreamClient http, BackendEndpoint.Cache endpoints) {
    if (kind != BackendKind.BACKEND_KIND_OPENAI && kind != BackendKind.BACKEND_KIND_OPENAI_COMPATIBLE) {
      throw new IllegalArgumentException("kind: " + kind + " (expected: OPENAI or OPENAI_COMPATIBLE)");
    }
    this.kind = kind;
    this.provider = kind == BackendKind.BACKEND_KIND_OPENAI ? "openai" : "openai_compatible";
    this.http = http;
    this.endpoints = endpoints;
  }

  @Override
  public BackendKind kind() {
    return kind;
  }

  @Override
  public CompletableFuture<ChatResponse> chat(ChatCall call) {
    String backend = call.target().backend().getName();
    return JsonExchanges.send(
        http, backend, () -> chatRequest(call, false), MAX_CHAT_BODY, OpenAiJson::errorDetail,
        body ->
            OpenAiResponseReader.readChat(
                body,
                ChatResponse.newBuilder()
                    .setRequestId(call.requestId())
                    .setProvider(provider)
                    .setBackend(backend)));
  }

  @Override
  public UpstreamStream streamChat(ChatCall call, ChatStreamListener listener) {
    String backend = call.target().backend().getName();
    return new OpenAiChatStream(backend, provider, call.requestId(), listener)
        .start(http, () -> chatRequest(call, true));
  }

  @Override
  public CompletableFuture<EmbedResponse> embed(EmbedCall call) {
    String backend = call.target().backend().getName();
    EmbeddingEncoding wanted =
        call.request().getEncoding() == EmbeddingEncoding.EMBEDDING_ENCODING_BASE64
            ? EmbeddingEncoding.EMBEDDING_ENCODING_BASE64
            : EmbeddingEncoding.EMBEDDING_ENCODING_FLOAT;
    return JsonExchanges.send(
        http, backend, () -> embedRequest(call), MAX_EMBEDDINGS_BODY, OpenAiJson::errorDetail,
        body ->
            OpenAiResponseReader.readEmbeddings(
                body,
                wanted,
                EmbedResponse.newBuilder()
                    .setRequestId(call.requestId())
                    .setProvider(provider)
                    .setBackend(backend)));
  }

  private UpstreamRequest embedRequest(EmbedCall call) {
    Backend b = call.target().backend();
    boolean base64 = OpenAiRequestWriter.wantsBase64(call.request(), kind);
    return post(b, "/embeddings", call.deadline(), false, call.requestId(),
        g -> OpenAiRequestWriter.writeEmbeddings(
            g, call.request(), call.target().upstreamModel(), kind, b.getName(), base64));
  }

  private UpstreamRequest chatRequest(ChatCall call, boolean stream) {
    Backend b = call.target().backend();
    return post(b, "/chat/completions", call.deadline(), stream, call.requestId(),
        g -> OpenAiRequestWriter.writeChat(
            g, call.request(), call.target().upstreamModel(), kind, b.getName(), stream));
  }

  /** A POST of a JSON body to {@code path} under the base URL; the body is released on failure. */
  private UpstreamRequest post(
      Backend b, String path, @Nullable Deadline deadline, boolean stream, String requestId,
      JsonBodies.Writer writer) {
    BackendEndpoint endpoint = endpoints.get(b);
    ByteBuf body = body(writer);
    try {
      UpstreamRequest.Builder builder =
          endpoint
              .request(HttpMethod.POST, path(endpoint, path), deadline, stream)
              .body(body)
              .header(HttpHeaderNames.CONTENT_TYPE, APPLICATION_JSON)
              .header(HttpHeaderNames.ACCEPT, stream ? EVENT_STREAM : APPLICATION_JSON);
      commonHeaders(endpoint, builder, requestId);
      return builder.build();
    } catch (RuntimeException e) {
      body.release();
      throw e;
    }
  }

  private void commonHeaders(BackendEndpoint endpoint, UpstreamRequest.Builder b, String requestId) {
    b.header(HttpHeaderNames.USER_AGENT, USER_AGENT);
    endpoint.addBearerAuthorization(b);
    if (!requestId.isEmpty()) {
      b.header(kind == BackendKind.BACKEND_KIND_OPENAI ? OPENAI_REQUEST_ID : REQUEST_ID, requestId);
    }
  }

  private static String path(BackendEndpoint endpoint, String path) {
    Backend b = endpoint.backend();
    String full = endpoint.path(path);
    if (b.hasOpenai() && !b.getOpenai().getApiVersion().isEmpty()) {
      full += "?api-version=" + URLEncoder.encode(b.getOpenai().getApiVersion(), StandardCharsets.UTF_8);
    }
    return full;
  }

  private ByteBuf body(JsonBodies.Writer writer) {
    return JsonBodies.write(http.allocator(), writer);
  }
}
