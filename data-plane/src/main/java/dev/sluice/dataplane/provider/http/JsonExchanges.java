package dev.sluice.dataplane.provider.http;

import dev.sluice.dataplane.provider.UpstreamException;
import io.netty.buffer.ByteBuf;
import java.io.IOException;
import java.util.concurrent.CompletableFuture;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * The unary JSON exchange every HTTP provider adapter makes, in one place so that its error
 * mapping is the same for all of them: a request that cannot be built fails the future (no
 * exchange starts); a non-200 answer becomes {@link UpstreamErrors#forStatus} with what the
 * provider's error body says; a 200 body the reader cannot read is a protocol error; a transport
 * failure is {@link UpstreamErrors#forFailure} before any output.
 */
public final class JsonExchanges {
  private JsonExchanges() {}

  /** Reads a 200 answer's body (a heap buffer valid during the call). */
  @FunctionalInterface
  public interface BodyReader<T> {
    /**
     * @throws IOException (or a runtime exception) when the body is malformed
     */
    T read(ByteBuf body) throws IOException;
  }

  /**
   * Builds the request, sends it and reads the answer.
   *
   * @param request builds the request; may throw {@link UpstreamException} (a misconfigured
   *     backend, an unusable credential)
   * @param maxBodyBytes the largest answer body read
   * @param errorDetail what the provider's error body says (its code, whether the context
   *     overflowed)
   */
  public static <T> CompletableFuture<T> send(
      HttpUpstreamClient http,
      String backend,
      Supplier<UpstreamRequest> request,
      int maxBodyBytes,
      Function<ByteBuf, UpstreamErrors.ErrorDetail> errorDetail,
      BodyReader<T> reader) {
    UpstreamRequest built;
    try {
      built = request.get();
    } catch (UpstreamException e) {
      return CompletableFuture.failedFuture(e);
    }
    return http.send(
        built,
        maxBodyBytes,
        (response, body) -> {
          int status = response.status().code();
          if (status != 200) {
            throw UpstreamErrors.forStatus(backend, status, response.headers(), errorDetail.apply(body));
          }
          try {
            return reader.read(body);
          } catch (IOException | RuntimeException e) {
            throw UpstreamErrors.protocolError(backend, "the upstream sent a malformed response", e);
          }
        },
        failure -> UpstreamErrors.forFailure(backend, failure, false));
  }
}
