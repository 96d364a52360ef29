package dev.sluice.dataplane.provider.http;

import static java.util.Objects.requireNonNull;

import dev.sluice.config.v1.Backend;
import dev.sluice.config.v1.BackendTimeouts;
import dev.sluice.config.v1.Header;
import dev.sluice.config.v1.TlsSettings;
import dev.sluice.dataplane.provider.Secret;
import dev.sluice.dataplane.provider.SecretResolver;
import dev.sluice.dataplane.provider.UpstreamException;
import dev.sluice.dataplane.provider.UpstreamFailure;
import com.google.common.cache.CacheBuilder;
import com.google.common.cache.CacheLoader;
import com.google.common.cache.LoadingCache;
import com.google.common.util.concurrent.UncheckedExecutionException;
import com.google.protobuf.Duration;
import com.google.protobuf.util.Durations;
import io.grpc.Deadline;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.util.AsciiString;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;

/**
 * A backend prepared for HTTP calls: its base URL taken apart, its origin (with TLS context), its
 * timeouts and extra headers, computed once per {@link Backend} instance and reused for every
 * call. Config snapshots are immutable, so a changed backend is a new instance and gets a new
 * endpoint; entries of dropped instances are collected with them (weak keys).
 *
 * <p>Secrets are resolved per call through the {@link SecretResolver}, which caches them, so a
 * rotated key takes effect without a config change.
 */
public final class BackendEndpoint {
  static final long DEFAULT_CONNECT_NANOS = TimeUnit.SECONDS.toNanos(5);
  static final long DEFAULT_REQUEST_NANOS = TimeUnit.SECONDS.toNanos(600);
  static final long DEFAULT_IDLE_NANOS = TimeUnit.SECONDS.toNanos(120);

  private final Backend backend;
  private final BaseUrl baseUrl;
  private final SecretResolver secrets;
  private final TlsContexts tlsContexts;
  private final long connectNanos;
  private final long requestNanos;
  private final long idleNanos;
  private final List<AsciiString> plainHeaderNames = new ArrayList<>();
  private final List<AsciiString> plainHeaderValues = new ArrayList<>();
  private final List<Header> secretHeaders = new ArrayList<>();
  /** Origin of a TLS backend with a client key, with the key it was built for. */
  private volatile @Nullable OriginForKey cachedOrigin;

  private record OriginForKey(@Nullable Secret clientKey, UpstreamOrigin origin) {}

  private BackendEndpoint(
      Backend backend, String defaultBaseUrl, SecretResolver secrets, TlsContexts tlsContexts) {
    this.backend = backend;
    this.secrets = secrets;
    this.tlsContexts = tlsContexts;
    String url = backend.getBaseUrl().isEmpty() ? defaultBaseUrl : backend.getBaseUrl();
    if (url.isEmpty()) {
      throw misconfigured(backend, "base_url is required for this backend kind");
    }
    try {
      this.baseUrl = BaseUrl.parse(url);
    } catch (IllegalArgumentException e) {
      throw misconfigured(backend, e.getMessage());
    }
    BackendTimeouts t = backend.getTimeouts();
    this.connectNanos = nanos(t.hasConnectTimeout(), t.getConnectTimeout(), DEFAULT_CONNECT_NANOS);
    this.requestNanos = nanos(t.hasRequestTimeout(), t.getRequestTimeout(), DEFAULT_REQUEST_NANOS);
    this.idleNanos = nanos(t.hasStreamIdleTimeout(), t.getStreamIdleTimeout(), DEFAULT_IDLE_NANOS);
    for (Header h : backend.getHeadersList()) {
      if (!HeaderValues.isValidName(h.getName())) {
        throw misconfigured(backend, "headers: invalid header name " + h.getName());
      }
      if (h.hasSecret()) {
        secretHeaders.add(h);
      } else {
        if (!HeaderValues.isValid(h.getPlain())) {
          throw misconfigured(backend, "headers: value of " + h.getName() + " has control characters");
        }
        plainHeaderNames.add(new AsciiString(h.getName()));
        plainHeaderValues.add(new AsciiString(h.getPlain()));
      }
    }
  }

  /**
   * A cache of endpoints for one adapter.
   *
   * @param defaultBaseUrl the kind's default base URL, or empty when the kind requires one
   */
  public static Cache cache(
      String defaultBaseUrl, SecretResolver secrets, TlsContexts tlsContexts) {
    return new Cache(defaultBaseUrl, secrets, tlsContexts);
  }

  /** Per-adapter cache of prepared endpoints, keyed by backend instance. */
  public static final class Cache {
    private final LoadingCache<Backend, BackendEndpoint> endpoints;

    private Cache(String defaultBaseUrl, SecretResolver secrets, TlsContexts tlsContexts) {
      this.endpoints =
          CacheBuilder.newBuilder()
              .weakKeys()
              .build(
                  CacheLoader.from(
                      backend -> new BackendEndpoint(backend, defaultBaseUrl, secrets, tlsContexts)));
    }

    /**
     * The endpoint of {@code backend}.
     *
     * @throws UpstreamException {@code MISCONFIGURED} when the backend cannot be used as configured
     */
    public BackendEndpoint get(Backend backend) {
      try {
        return endpoints.getUnchecked(backend);
      } catch (UncheckedExecutionException e) {
        if (e.getCause() instanceof UpstreamException ue) {
          throw ue;
        }
        throw e;
      }
    }
  }

  public Backend backend() {
    return backend;
  }

  /** The name of the backend, for errors. */
  public String name() {
    return backend.getName();
  }

  /** The base URL's path prefix joined with {@code path} (which starts with {@code /}). */
  public String path(String path) {
    return baseUrl.pathPrefix() + path;
  }

  /** The origin to connect to, with the TLS context as configured. */
  public UpstreamOrigin origin(boolean http2) {
    OriginForKey cached = cachedOrigin;
    TlsSettings tls = backend.getTls();
    Secret clientKey =
        baseUrl.tls() && tls.hasClientKey() ? secrets.resolve(tls.getClientKey(), name()) : null;
    if (cached != null && cached.clientKey == clientKey) {
      return cached.origin;
    }
    UpstreamOrigin origin;
    if (baseUrl.tls()) {
      String serverName = tls.getServerName().isEmpty() ? baseUrl.host() : tls.getServerName();
      origin =
          UpstreamOrigin.tls(
              baseUrl.host(), baseUrl.port(), tlsContexts.get(tls, clientKey, http2, name()),
              serverName);
    } else if (backend.getH2C()) {
      origin = UpstreamOrigin.h2c(baseUrl.host(), baseUrl.port());
    } else {
      origin = UpstreamOrigin.plaintext(baseUrl.host(), baseUrl.port());
    }
    cachedOrigin = new OriginForKey(clientKey, origin);
    return origin;
  }

  /** The resolved API key, or null when the backend has none. */
  public @Nullable Secret apiKey() {
    return backend.hasApiKey() ? secrets.resolve(backend.getApiKey(), name()) : null;
  }

  /**
   * A request to this endpoint with its timeouts and extra headers set; the caller adds the body,
   * credentials and protocol headers.
   *
   * @param deadline the call's deadline, or null
   * @param streaming whether the response is a stream: then the request timeout bounds the time to
   *     the first byte and the idle timeout the gaps; otherwise the request timeout bounds the
   *     whole call
   */
  public UpstreamRequest.Builder request(
      HttpMethod method, String pathAndQuery, @Nullable Deadline deadline, boolean streaming) {
    UpstreamRequest.Builder b =
          UpstreamRequest.builder(origin(true), method, pathAndQuery).connectTimeoutNanos(connectNanos);
    long now = System.nanoTime();
    long deadlineNanos =
        deadline == null ? Long.MAX_VALUE : now + deadline.timeRemaining(TimeUnit.NANOSECONDS);
    if (streaming) {
      b.firstByteTimeoutNanos(requestNanos).idleTimeoutNanos(idleNanos).deadlineNanos(deadlineNanos);
    } else {
      long requestDeadline = now + requestNanos;
      b.deadlineNanos(
          deadline == null || requestDeadline - deadlineNanos < 0 ? requestDeadline : deadlineNanos);
    }
    for (int i = 0; i < plainHeaderNames.size(); i++) {
      b.header(plainHeaderNames.get(i), plainHeaderValues.get(i));
    }
    for (Header h : secretHeaders) {
      Secret value = secrets.resolve(h.getSecret(), name());
      if (!HeaderValues.isValid(value.reveal())) {
        throw misconfigured(backend, "headers: the secret value of " + h.getName()
            + " contains line breaks or control characters");
      }
      b.header(h.getName(), value.reveal());
    }
    return b;
  }

  /** Adds {@code authorization: Bearer <key>} when the backend has a key. */
  public void addBearerAuthorization(UpstreamRequest.Builder b) {
    Secret key = apiKey();
    if (key != null) {
      checkHeaderSafe(key, "api_key");
      b.header(io.netty.handler.codec.http.HttpHeaderNames.AUTHORIZATION, key.bearerAuthorization());
    }
  }

  /** Throws {@code MISCONFIGURED} when {@code secret} cannot be a header value. */
  public void checkHeaderSafe(Secret secret, String field) {
    if (!HeaderValues.isValid(secret.reveal())) {
      throw misconfigured(backend, field + " contains line breaks or control characters");
    }
  }

  private static long nanos(boolean set, Duration d, long fallback) {
    if (!set) {
      return fallback;
    }
    long nanos = Durations.toNanos(d);
    return nanos > 0 ? nanos : fallback;
  }

  private static UpstreamException misconfigured(Backend backend, @Nullable String message) {
    requireNonNull(backend, "backend");
    return new UpstreamException(
        UpstreamFailure.MISCONFIGURED, backend.getName(), 0, null,
        message + " (backend " + backend.getName() + ")", null);
  }
}
