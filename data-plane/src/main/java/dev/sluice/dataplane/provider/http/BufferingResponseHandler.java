package dev.sluice.dataplane.provider.http;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpUtil;
import java.util.concurrent.CompletableFuture;
import java.util.function.Function;
import org.jspecify.annotations.Nullable;

/** Collects a whole response into one heap buffer and decodes it; see {@link HttpUpstreamClient#send}. */
final class BufferingResponseHandler<T> implements ResponseHandler {
  private final int maxBodyBytes;
  private final HttpUpstreamClient.BodyDecoder<T> decoder;
  private final Function<HttpFailure, ? extends Throwable> onFailure;
  private final CompletableFuture<T> future = new CompletableFuture<>();
  private @Nullable HttpResponse response;
  private ByteBuf body = Unpooled.EMPTY_BUFFER;

  BufferingResponseHandler(
      int maxBodyBytes,
      HttpUpstreamClient.BodyDecoder<T> decoder,
      Function<HttpFailure, ? extends Throwable> onFailure) {
    this.maxBodyBytes = maxBodyBytes;
    this.decoder = decoder;
    this.onFailure = onFailure;
  }

  CompletableFuture<T> future() {
    return future;
  }

  @Override
  public void onHeaders(HttpResponse response) {
    this.response = response;
    long length = HttpUtil.getContentLength(response, -1L);
    if (length > maxBodyBytes) {
      throw new ResponseTooLargeException();
    }
    body = Unpooled.buffer(length > 0 ? (int) length : 1024, maxBodyBytes);
  }

  @Override
  public void onContent(ByteBuf content) {
    if (body.readableBytes() + content.readableBytes() > maxBodyBytes) {
      throw new ResponseTooLargeException();
    }
    body.writeBytes(content);
  }

  @Override
  public void onComplete() {
    HttpResponse r = response;
    try {
      if (r == null) {
        throw new IllegalStateException("response completed without headers");
      }
      future.complete(decoder.decode(r, body));
    } catch (Throwable t) {
      future.completeExceptionally(t);
    } finally {
      release();
    }
  }

  @Override
  public void onFailure(HttpFailure failure) {
    release();
    if (failure.kind() == HttpFailure.Kind.HANDLER_FAILED
        && failure.getCause() instanceof ResponseTooLargeException) {
      failure =
          new HttpFailure(
              HttpFailure.Kind.MALFORMED_RESPONSE,
              true,
              failure.origin(),
              "the upstream response is larger than " + maxBodyBytes + " bytes",
              null);
    }
    Throwable mapped;
    try {
      mapped = onFailure.apply(failure);
    } catch (RuntimeException e) {
      mapped = e;
    }
    future.completeExceptionally(mapped);
  }

  private void release() {
    ByteBuf b = body;
    body = Unpooled.EMPTY_BUFFER;
    b.release();
  }

  private static final class ResponseTooLargeException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    ResponseTooLargeException() {
      super("response too large", null, false, false);
    }
  }
}
