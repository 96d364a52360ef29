package dev.sluice.dataplane.auth;

import static java.util.Objects.requireNonNull;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Flow;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;

/**
 * Where JWKS work happens: off the request path, on one daemon thread for file checks and on the
 * HTTP client's own threads for fetches. Requests only ever enqueue work here (and only when a
 * refresh is due and none is running); they never wait for it.
 *
 * <p>One instance serves the whole node ({@link #shared()}): key sources of successive config
 * versions use it, so nothing needs starting or stopping when config changes. Its threads are
 * daemons and idle when no JwtIssuer is configured.
 */
final class JwksFetcher {
  /** How often a {@code jwks_file} is checked for changes, at most. */
  static final Duration DEFAULT_FILE_CHECK_INTERVAL = Duration.ofSeconds(2);

  /**
   * The least time between two fetches of one {@code jwks_uri} (or the cache duration, when
   * shorter). Bounds what tokens with made-up {@code kid}s, or an issuer that is down, can make
   * this node send to the issuer.
   */
  static final Duration DEFAULT_MIN_REFRESH_INTERVAL = Duration.ofSeconds(30);

  /** Time allowed for connecting to a JWKS endpoint and for the whole exchange. */
  static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(10);

  private final Executor executor;
  private final HttpClient http;
  private final Duration timeout;
  private final Duration fileCheckInterval;
  private final Duration minRefreshInterval;
  private final LongSupplier nanoTime;

  JwksFetcher(
      Executor executor,
      HttpClient http,
      Duration timeout,
      Duration fileCheckInterval,
      Duration minRefreshInterval,
      LongSupplier nanoTime) {
    this.executor = requireNonNull(executor, "executor");
    this.http = requireNonNull(http, "http");
    this.timeout = requireNonNull(timeout, "timeout");
    this.fileCheckInterval = requireNonNull(fileCheckInterval, "fileCheckInterval");
    this.minRefreshInterval = requireNonNull(minRefreshInterval, "minRefreshInterval");
    this.nanoTime = requireNonNull(nanoTime, "nanoTime");
  }

  /** The node's fetcher, created on first use. */
  static JwksFetcher shared() {
    return Shared.INSTANCE;
  }

  /**
   * A fetcher with its own thread and HTTP client, and the given intervals (tests use short ones).
   */
  static JwksFetcher create(Duration fileCheckInterval, Duration minRefreshInterval) {
    ExecutorService executor =
        Executors.newSingleThreadExecutor(
            r -> {
              Thread t = new Thread(r, "sluice-jwks");
              t.setDaemon(true);
              return t;
            });
    HttpClient http =
        HttpClient.newBuilder()
            .connectTimeout(DEFAULT_TIMEOUT)
            // A redirect could take the fetch somewhere the operator did not configure.
            .followRedirects(HttpClient.Redirect.NEVER)
            .build();
    return new JwksFetcher(
        executor, http, DEFAULT_TIMEOUT, fileCheckInterval, minRefreshInterval, System::nanoTime);
  }

  private static final class Shared {
    static final JwksFetcher INSTANCE =
        create(DEFAULT_FILE_CHECK_INTERVAL, DEFAULT_MIN_REFRESH_INTERVAL);
  }

  Executor executor() {
    return executor;
  }

  long nanoTime() {
    return nanoTime.getAsLong();
  }

  Duration fileCheckInterval() {
    return fileCheckInterval;
  }

  Duration minRefreshInterval() {
    return minRefreshInterval;
  }

  /**
   * Fetches the document at {@code uri}: a 200 answer of at most {@link JwksKeySet#MAX_BYTES},
   * within the timeout. Never blocks the caller.
   */
  CompletableFuture<String> fetch(URI uri) {
    HttpRequest request =
        HttpRequest.newBuilder(uri)
            .timeout(timeout)
            .header("Accept", "application/jwk-set+json, application/json")
            .GET()
            .build();
    CompletableFuture<HttpResponse<byte[]>> response =
        http.sendAsync(request, info -> new CappedBody(JwksKeySet.MAX_BYTES));
    return response
        .orTimeout(timeout.toMillis(), TimeUnit.MILLISECONDS)
        .whenComplete(
            (r, e) -> {
              if (e != null) {
                // Abandon the exchange rather than leave it running after the timeout.
                response.cancel(true);
              }
            })
        .thenApply(
            r -> {
              if (r.statusCode() != 200) {
                throw new IllegalStateException("HTTP status " + r.statusCode());
              }
              return new String(r.body(), StandardCharsets.UTF_8);
            });
  }

  /** Collects a response body, failing once it grows past a limit. */
  private static final class CappedBody implements HttpResponse.BodySubscriber<byte[]> {
    private final int limit;
    private final CompletableFuture<byte[]> body = new CompletableFuture<>();
    private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    private Flow.@org.jspecify.annotations.Nullable Subscription subscription;

    CappedBody(int limit) {
      this.limit = limit;
    }

    @Override
    public CompletionStage<byte[]> getBody() {
      return body;
    }

    @Override
    public void onSubscribe(Flow.Subscription subscription) {
      this.subscription = subscription;
      subscription.request(Long.MAX_VALUE);
    }

    @Override
    public void onNext(List<ByteBuffer> buffers) {
      if (body.isDone()) {
        return;
      }
      for (ByteBuffer buffer : buffers) {
        if (bytes.size() + buffer.remaining() > limit) {
          body.completeExceptionally(new IOException("JWKS larger than " + limit + " bytes"));
          Flow.Subscription s = subscription;
          if (s != null) {
            s.cancel();
          }
          return;
        }
        byte[] chunk = new byte[buffer.remaining()];
        buffer.get(chunk);
        bytes.write(chunk, 0, chunk.length);
      }
    }

    @Override
    public void onError(Throwable error) {
      body.completeExceptionally(error);
    }

    @Override
    public void onComplete() {
      body.complete(bytes.toByteArray());
    }
  }
}
