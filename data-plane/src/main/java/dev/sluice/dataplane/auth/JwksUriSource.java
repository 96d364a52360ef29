package dev.sluice.dataplane.auth;

import static java.util.Objects.requireNonNull;

import dev.sluice.dataplane.auth.JwksKeySet.VerificationKey;
import java.net.URI;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.jspecify.annotations.Nullable;

/**
 * Keys fetched from an issuer's JWKS endpoint ({@code jwks_uri}).
 *
 * <p>The first fetch starts when the source is created (at config build) and runs in the
 * background: until it completes, tokens of this issuer are refused as naming an unknown key,
 * rather than held while the issuer answers. A fetched set is used for the cache duration; the
 * first lookup after that starts a refetch and is itself answered from the set in hand. A lookup of
 * an unknown {@code kid} also starts a refetch, so a key the issuer rotates in is picked up without
 * waiting for the cache to expire.
 *
 * <p>At most one fetch runs at a time, and fetches start at most once per {@link
 * JwksFetcher#minRefreshInterval()} (or the cache duration, when shorter), whatever prompted them:
 * tokens with made-up {@code kid}s cannot turn into a flood of requests to the issuer. A failed
 * fetch (issuer down, bad answer) keeps the last good keys: calls with known keys go on working
 * through an issuer outage, and a key the issuer removed stops working with the next successful
 * fetch.
 *
 * <p>The source is carried over from one config version to the next while its URI and cache
 * duration stay the same, so a config push does not drop the keys in hand or refetch them.
 */
final class JwksUriSource implements JwksSource {
  private static final Logger logger = Logger.getLogger(JwksUriSource.class.getName());

  private final URI uri;
  private final Duration cacheDuration;
  private final JwksFetcher fetcher;
  private final long minIntervalNanos;
  private final AtomicBoolean fetching = new AtomicBoolean();
  private volatile JwksKeySet keys = JwksKeySet.EMPTY;
  private volatile long staleAtNanos;
  private volatile long nextFetchNanos;

  JwksUriSource(URI uri, Duration cacheDuration, JwksFetcher fetcher) {
    this.uri = requireNonNull(uri, "uri");
    this.cacheDuration = requireNonNull(cacheDuration, "cacheDuration");
    this.fetcher = requireNonNull(fetcher, "fetcher");
    Duration min = fetcher.minRefreshInterval();
    this.minIntervalNanos = (cacheDuration.compareTo(min) < 0 ? cacheDuration : min).toNanos();
    long now = fetcher.nanoTime();
    this.staleAtNanos = now;
    this.nextFetchNanos = now;
    maybeFetch(now);
  }

  URI uri() {
    return uri;
  }

  Duration cacheDuration() {
    return cacheDuration;
  }

  @Override
  public @Nullable VerificationKey key(String kid) {
    long now = fetcher.nanoTime();
    if (now - staleAtNanos >= 0) {
      maybeFetch(now);
    }
    VerificationKey key = keys.key(kid);
    if (key == null) {
      maybeFetch(now);
    }
    return key;
  }

  private void maybeFetch(long now) {
    if (now - nextFetchNanos < 0 || !fetching.compareAndSet(false, true)) {
      return;
    }
    nextFetchNanos = now + minIntervalNanos;
    try {
      fetcher.fetch(uri).whenComplete(this::fetched);
    } catch (RuntimeException e) {
      fetched(null, e);
    }
  }

  private void fetched(@Nullable String json, @Nullable Throwable error) {
    try {
      if (error != null) {
        logger.log(
            Level.WARNING,
            "Cannot fetch JWKS " + uri + "; keeping its last keys: " + error,
            logger.isLoggable(Level.FINE) ? error : null);
        return;
      }
      JwksKeySet fresh = JwksKeySet.parse(requireNonNull(json, "json"));
      keys = fresh;
      staleAtNanos = fetcher.nanoTime() + cacheDuration.toNanos();
      logger.fine(() -> "Fetched JWKS " + uri + ": kids " + fresh.kids());
    } catch (RuntimeException e) {
      logger.warning(() -> "JWKS " + uri + " is not usable; keeping its last keys: " + e.getMessage());
    } finally {
      fetching.set(false);
    }
  }
}
