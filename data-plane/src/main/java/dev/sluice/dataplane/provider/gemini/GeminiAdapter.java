package dev.sluice.dataplane.provider.gemini;

import com.google.protobuf.ByteString;
import dev.sluice.config.v1.Backend;
import dev.sluice.config.v1.BackendKind;
import dev.sluice.dataplane.provider.ChatCall;
import dev.sluice.dataplane.provider.ChatStreamListener;
import dev.sluice.dataplane.provider.EmbedCall;
import dev.sluice.dataplane.provider.ProviderAdapter;
import dev.sluice.dataplane.provider.Secret;
import dev.sluice.dataplane.provider.UpstreamStream;
import dev.sluice.dataplane.provider.http.BackendEndpoint;
import dev.sluice.dataplane.provider.http.HttpUpstreamClient;
import dev.sluice.dataplane.provider.http.JsonExchanges;
import dev.sluice.dataplane.provider.http.UpstreamRequest;
import dev.sluice.dataplane.provider.json.JsonBodies;
import dev.sluice.dataplane.provider.json.ProtoJson;
import dev.sluice.inference.v1.ChatMessage;
import dev.sluice.inference.v1.ChatResponse;
import dev.sluice.inference.v1.Choice;
import dev.sluice.inference.v1.ContentPart;
import dev.sluice.inference.v1.EmbedResponse;
import dev.sluice.inference.v1.Embedding;
import dev.sluice.inference.v1.EmbeddingEncoding;
import dev.sluice.inference.v1.FinishReason;
import dev.sluice.inference.v1.ReasoningPart;
import dev.sluice.inference.v1.Role;
import dev.sluice.inference.v1.ToolCallPart;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import io.grpc.Deadline;
import io.netty.buffer.ByteBuf;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.util.AsciiString;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ThreadLocalRandom;
import org.jspecify.annotations.Nullable;

/**
 * The {@link ProviderAdapter} for the Gemini API. The key goes in {@code x-goog-api-key}; the API
 * version path segment comes from {@code GeminiSettings} ({@code v1beta} by default). The upstream
 * model may be a bare id ({@code gemini-2.5-flash}) or a resource name ({@code models/...}, {@code
 * tunedModels/...}).
 */
final class GeminiAdapter implements ProviderAdapter {
  static final String PROVIDER = "gcp.gemini";
  static final String DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com";
  private static final int MAX_BODY = 256 << 20;

  private static final AsciiString APPLICATION_JSON = AsciiString.cached("application/json");
  private static final AsciiString EVENT_STREAM = AsciiString.cached("text/event-stream");
  private static final AsciiString USER_AGENT = AsciiString.cached("sluice/0.1");
  private static final AsciiString API_KEY = AsciiString.cached("x-goog-api-key");

  private final HttpUpstreamClient http;
  private final BackendEndpoint.Cache endpoints;

  GeminiAdapter(HttpUpstreamClient http, BackendEndpoint.Cache endpoints) {
    this.http = http;
    this.endpoints = endpoints;
  }

  /** An id for a function call Gemini gave none, unique enough within a conversation. */
  static String newCallId() {
    return "call_" + Long.toHexString(ThreadLocalRandom.current().nextLong() & Long.MAX_VALUE);
  }

  @Override
  public BackendKind kind() {
    return BackendKind.BACKEND_KIND_GEMINI;
  }

  @Override
  public CompletableFuture<ChatResponse> chat(ChatCall call) {
    String backend = call.target().backend().getName();
    return JsonExchanges.send(
        http, backend,
        () -> request(call.target().backend(), call.target().upstreamModel(), ":generateContent",
            call.deadline(), false,
            g -> GeminiRequestWriter.writeGenerate(g, call.request(), backend)),
        MAX_BODY, GeminiJson::errorDetail,
        body -> toChatResponse(GeminiJson.read(body), call, backend));
  }

  private static ChatResponse toChatResponse(GeminiJson.Response r, ChatCall call, String backend) {
    ChatResponse.Builder out =
        ChatResponse.newBuilder()
            .setRequestId(call.requestId())
            .setProvider(PROVIDER)
            .setBackend(backend);
    if (r.responseId != null) {
      out.setId(r.responseId);
    }
    if (r.modelVersion != null) {
      out.setProviderModel(r.modelVersion);
    }
    for (GeminiJson.Candidate c : r.candidates) {
      ChatMessage.Builder message = ChatMessage.newBuilder().setRole(Role.ROLE_ASSISTANT);
      boolean calls = false;
      for (GeminiJson.Part p : c.parts()) {
        ContentPart.Builder part = ContentPart.newBuilder();
        if (p.isCall()) {
          calls = true;
          part.setToolCall(
              ToolCallPart.newBuilder()
                  .setId(p.callId() != null && !p.callId().isEmpty() ? p.callId() : newCallId())
                  .setName(p.callName())
                  .setArguments(p.callArgs() == null ? "{}" : p.callArgs()));
        } else if (p.text() != null) {
          if (p.thought()) {
            part.setReasoning(ReasoningPart.newBuilder().setText(p.text()));
          } else {
            part.setText(p.text());
          }
        } else {
          continue;
        }
        if (p.signature() != null) {
          part.setSignature(ByteString.copyFrom(p.signature()));
        }
        message.addParts(part);
      }
      Choice.Builder choice = Choice.newBuilder().setIndex(c.index()).setMessage(message);
      if (c.finishReason() != null) {
        choice.setRawFinishReason(c.finishReason()).setFinishReason(GeminiJson.finishReason(c.finishReason(), calls));
      }
      out.addChoices(choice);
    }
    if (r.candidates.isEmpty() && r.blockReason != null) {
      out.addChoices(
          Choice.newBuilder()
              .setIndex(0)
              .setMessage(ChatMessage.newBuilder().setRole(Role.ROLE_ASSISTANT))
              .setFinishReason(FinishReason.FINISH_REASON_CONTENT_FILTER)
              .setRawFinishReason(r.blockReason));
    }
    if (r.usage != null) {
      out.setUsage(r.usage);
    }
    return out.build();
  }

  @Override
  public UpstreamStream streamChat(ChatCall call, ChatStreamListener listener) {
    String backend = call.target().backend().getName();
    return new GeminiChatStream(backend, call.requestId(), listener)
        .start(http,
            () -> request(call.target().backend(), call.target().upstreamModel(),
                ":streamGenerateContent?alt=sse", call.deadline(), true,
                g -> GeminiRequestWriter.writeGenerate(g, call.request(), backend)));
  }

  @Override
  public CompletableFuture<EmbedResponse> embed(EmbedCall call) {
    Backend b = call.target().backend();
    String backend = b.getName();
    String model = modelName(call.target().upstreamModel());
    boolean base64 = call.request().getEncoding() == EmbeddingEncoding.EMBEDDING_ENCODING_BASE64;
    return JsonExchanges.send(
        http, backend,
        () -> request(b, call.target().upstreamModel(), ":batchEmbedContents", call.deadline(), false,
            g -> GeminiRequestWriter.writeEmbed(g, call.request(), model, backend)),
        MAX_BODY, GeminiJson::errorDetail,
        body ->
            readEmbeddings(body, base64,
                EmbedResponse.newBuilder()
                    .setRequestId(call.requestId())
                    .setProvider(PROVIDER)
                    .setBackend(backend)
                    .setProviderModel(call.target().upstreamModel())));
  }

  private static EmbedResponse readEmbeddings(ByteBuf body, boolean base64, EmbedResponse.Builder out)
      throws IOException {
    try (JsonParser p = ProtoJson.parser(body)) {
      if (p.nextToken() != JsonToken.START_OBJECT) {
        throw new IOException("expected a JSON object");
      }
      while (p.nextToken() == JsonToken.FIELD_NAME) {
        String name = p.currentName();
        JsonToken t = p.nextToken();
        if (!name.equals("embeddings") || t != JsonToken.START_ARRAY) {
          p.skipChildren();
          continue;
        }
        int index = 0;
        while (p.nextToken() == JsonToken.START_OBJECT) {
          Embedding.Builder e = Embedding.newBuilder().setIndex(index++);
          ByteBuffer packed = base64 ? ByteBuffer.allocate(4096).order(ByteOrder.LITTLE_ENDIAN) : null;
          while (p.nextToken() == JsonToken.FIELD_NAME) {
            String field = p.currentName();
            JsonToken ft = p.nextToken();
            if (!field.equals("values") || ft != JsonToken.START_ARRAY) {
              p.skipChildren();
              continue;
            }
            while (p.nextToken() != JsonToken.END_ARRAY) {
              float f = p.getFloatValue();
              if (packed == null) {
                e.addValues(f);
              } else {
                if (!packed.hasRemaining()) {
                  ByteBuffer bigger = ByteBuffer.allocate(packed.capacity() * 2).order(ByteOrder.LITTLE_ENDIAN);
                  packed.flip();
                  packed = bigger.put(packed);
                }
                packed.putFloat(f);
              }
            }
          }
          if (packed != null) {
            packed.flip();
            e.setData(ByteString.copyFrom(packed));
          }
          out.addEmbeddings(e);
        }
      }
    }
    return out.build();
  }

  private UpstreamRequest request(
      Backend b, String upstreamModel, String method, @Nullable Deadline deadline,
      boolean stream, JsonBodies.Writer writer) {
    BackendEndpoint endpoint = endpoints.get(b);
    String version = b.getGemini().getApiVersion().isEmpty() ? "v1beta" : b.getGemini().getApiVersion();
    String path = endpoint.path("/" + version + "/" + modelName(upstreamModel) + method);
    ByteBuf body = JsonBodies.write(http.allocator(), writer);
    try {
      UpstreamRequest.Builder builder =
          endpoint
              .request(HttpMethod.POST, path, deadline, stream)
              .body(body)
              .header(HttpHeaderNames.CONTENT_TYPE, APPLICATION_JSON)
              .header(HttpHeaderNames.ACCEPT, stream ? EVENT_STREAM : APPLICATION_JSON)
              .header(HttpHeaderNames.USER_AGENT, USER_AGENT);
      Secret key = endpoint.apiKey();
      if (key != null) {
        endpoint.checkHeaderSafe(key, "api_key");
        builder.header(API_KEY, key.reveal());
      }
      return builder.build();
    } catch (RuntimeException e) {
      body.release();
      throw e;
    }
  }

  /** {@code models/<id>} for a bare id; resource names as given. */
  static String modelName(String upstreamModel) {
    return upstreamModel.contains("/") ? upstreamModel : "models/" + upstreamModel;
  }
}
