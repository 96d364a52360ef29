package dev.sluice.client;

import dev.sluice.inference.v1.ChatRequest;
import dev.sluice.inference.v1.ChatResponse;
import dev.sluice.inference.v1.EmbedRequest;
import dev.sluice.inference.v1.EmbedResponse;
import dev.sluice.inference.v1.ModelInfo;
import java.time.Duration;
import java.util.List;

/**
 * A client of a Sluice gateway's inference API: chat (whole or streamed), embeddings and the
 * model catalog, over one gRPC channel.
 *
 * <pre>{@code
 * try (SluiceClient client = SluiceClient.builder()
 *     .target("gateway.example.com:443")
 *     .apiKey(System.getenv("SLUICE_API_KEY"))
 *     .build()) {
 *   ChatResponse answer = client.chat(ChatRequest.newBuilder()
 *       .setModel("gpt-4o")
 *       .addMessages(Messages.user("Hello"))
 *       .build());
 * }
 * }</pre>
 *
 * <p><b>Deadlines.</b> Every call carries a deadline (the builder's default, or {@link
 * #withDeadline(Duration)}); for streams it bounds the whole stream.
 *
 * <p><b>Retries.</b> Calls without side effects ({@code Embed}, {@code ListModels}, {@code
 * GetModel}) are retried on {@code UNAVAILABLE} by gRPC, per the client's published service
 * config. Generation ({@code Chat}, {@code StreamChat}) is never retried automatically, because a
 * request that reached a provider may be billed or may have had effects; the exception is a
 * request that carries a {@code request_id}: setting one tells the client that you accept a
 * retry, and such a request is retried on {@code UNAVAILABLE}, for a stream only before its
 * first event. Retries stay within the call's deadline and honour the gateway's retry delay.
 *
 * <p>Instances are thread-safe and meant to be shared; {@link #close()} releases the channel.
 */
public interface SluiceClient extends AutoCloseable {
  /** Starts configuring a client. */
  static SluiceClientBuilder builder() {
    return new SluiceClientBuilder();
  }

  /**
   * Generates a complete chat response.
   *
   * @throws SluiceException when the gateway refuses or fails the call, or the deadline expires
   */
  ChatResponse chat(ChatRequest request);

  /**
   * Starts a streamed chat whose events go to {@code listener}, and returns at once.
   *
   * @return a handle that cancels the stream
   */
  ChatStream streamChat(ChatRequest request, ChatStreamListener listener);

  /**
   * Starts a streamed chat whose events the caller pulls; see {@link ChatEventStream}. Close it
   * (try-with-resources) so an abandoned stream is cancelled.
   */
  ChatEventStream streamChat(ChatRequest request);

  /**
   * Computes embeddings.
   *
   * @throws SluiceException when the gateway refuses or fails the call
   */
  EmbedResponse embed(EmbedRequest request);

  /**
   * Lists every model the caller may use, in name order, reading all pages.
   *
   * @throws SluiceException when the gateway refuses or fails the call
   */
  List<ModelInfo> listModels();

  /**
   * Returns one model by name or alias.
   *
   * @throws SluiceException with {@code NOT_FOUND} or {@code PERMISSION_DENIED} for a model the
   *     caller may not use
   */
  ModelInfo getModel(String name);

  /**
   * Returns a client that shares this one's channel but gives its calls {@code deadline} instead
   * of the default. Closing the returned client does nothing; close the original.
   */
  SluiceClient withDeadline(Duration deadline);

  /**
   * Shuts the channel down: new calls fail, calls in flight get a few seconds to finish and are
   * then cancelled.
   */
  @Override
  void close();
}
