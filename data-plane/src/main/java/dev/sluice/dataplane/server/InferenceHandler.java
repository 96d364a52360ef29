package dev.sluice.dataplane.server;

import dev.sluice.dataplane.routing.ChatStreamSink;
import dev.sluice.dataplane.routing.RoutedStream;
import dev.sluice.inference.v1.ChatRequest;
import dev.sluice.inference.v1.ChatResponse;
import dev.sluice.inference.v1.EmbedRequest;
import dev.sluice.inference.v1.EmbedResponse;
import dev.sluice.inference.v1.GetModelRequest;
import dev.sluice.inference.v1.GetModelResponse;
import dev.sluice.inference.v1.ListModelsRequest;
import dev.sluice.inference.v1.ListModelsResponse;
import dev.sluice.inference.v1.StreamChatRequest;
import java.util.concurrent.CompletableFuture;

/**
 * The inference API's logic, free of gRPC: validation, grants, model resolution, then routing.
 * Synchronous failures (bad request, unknown or ungranted model) are thrown as {@link
 * dev.sluice.grpc.ApiException}s; later ones complete the future exceptionally or reach the sink.
 */
interface InferenceHandler {
  CompletableFuture<ChatResponse> chat(CallContext call, ChatRequest request);

  RoutedStream streamChat(CallContext call, StreamChatRequest request, ChatStreamSink sink);

  CompletableFuture<EmbedResponse> embed(CallContext call, EmbedRequest request);

  ListModelsResponse listModels(CallContext call, ListModelsRequest request);

  GetModelResponse getModel(CallContext call, GetModelRequest request);
}
