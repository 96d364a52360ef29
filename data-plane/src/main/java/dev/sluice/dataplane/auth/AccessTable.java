package dev.sluice.dataplane.auth;

import com.google.common.collect.ImmutableMap;
import dev.sluice.config.v1.ApiKey;
import dev.sluice.config.v1.ApiKeyHashAlgorithm;
import dev.sluice.config.v1.Consumer;
import dev.sluice.config.v1.Resource;
import java.util.HashMap;
import java.util.Map;
import java.util.function.Supplier;
import org.jspecify.annotations.Nullable;

/**
 * The API keys, consumers and trusted JWT issuers of one config version, indexed by name (issuers
 * by their {@code iss}). Immutable; a new table is built from each snapshot. The issuers' key
 * sources refresh their key snapshots in the background (see {@link JwksUriSource} and {@link
 * JwksFileSource}).
 */
public final class AccessTable {
  /** The table of a node that serves nothing. */
  public static final AccessTable EMPTY =
      new AccessTable(ImmutableMap.of(), ImmutableMap.of(), JwtIssuers.EMPTY);

  private static final int MIN_SALT_BYTES = 16;
  private static final int SHA256_BYTES = 32;

  private final ImmutableMap<String, ApiKey> keys;
  private final ImmutableMap<String, Consumer> consumers;
  private final JwtIssuers jwtIssuers;

  private AccessTable(
      ImmutableMap<String, ApiKey> keys,
      ImmutableMap<String, Consumer> consumers,
      JwtIssuers jwtIssuers) {
    this.keys = keys;
    this.consumers = consumers;
    this.jwtIssuers = jwtIssuers;
  }

  /**
   * Builds the table from the API keys, consumers and JWT issuers among {@code resources}, with no
   * previous table to carry JWKS caches over from.
   *
   * @throws IllegalArgumentException as {@link #build(Iterable, AccessTable)}
   */
  public static AccessTable build(Iterable<Resource> resources) {
    return build(resources, null);
  }

  /**
   * Builds the table from the API keys, consumers and JWT issuers among {@code resources}. Each
   * {@code jwks_file} is read now; the keys fetched from a {@code jwks_uri} of {@code previous} are
   * kept for the same URI and cache duration, so a config push does not refetch them or leave
   * their issuer without keys for a while.
   *
   * @param previous the table served now, or null
   * @throws IllegalArgumentException when a key names a consumer that does not exist or carries a
   *     hash this node cannot verify, when a name is used twice, or when a JwtIssuer is invalid
   *     (unsupported algorithm, unreadable or malformed JWKS file, non-HTTPS URI...); the message
   *     names the resource and field
   */
  public static AccessTable build(Iterable<Resource> resources, @Nullable AccessTable previous) {
    return build(resources, previous, JwksFetcher::shared);
  }

  static AccessTable build(
      Iterable<Resource> resources,
      @Nullable AccessTable previous,
      Supplier<JwksFetcher> fetchers) {
    Map<String, ApiKey> keys = new HashMap<>();
    Map<String, Consumer> consumers = new HashMap<>();
    for (Resource resource : resources) {
      if (resource.hasConsumer()) {
        Consumer consumer = resource.getConsumer();
        if (consumers.put(consumer.getName(), consumer) != null) {
          throw new IllegalArgumentException("consumer " + consumer.getName() + ": duplicate name");
        }
      }
    }
    for (Resource resource : resources) {
      if (resource.hasApiKey()) {
        ApiKey key = resource.getApiKey();
        String where = "api key " + key.getName();
        if (!consumers.containsKey(key.getConsumer())) {
          throw new IllegalArgumentException(
              where + ": consumer: " + key.getConsumer() + " does not exist");
        }
        if (key.getHash().getAlgorithm() != ApiKeyHashAlgorithm.API_KEY_HASH_ALGORITHM_SHA256
            || key.getHash().getSalt().size() < MIN_SALT_BYTES
            || key.getHash().getDigest().size() != SHA256_BYTES) {
          throw new IllegalArgumentException(
              where
                  + ": hash: expected SHA-256 with a salt of at least "
                  + MIN_SALT_BYTES
                  + " bytes and a 32-byte digest");
        }
        if (keys.put(key.getName(), key) != null) {
          throw new IllegalArgumentException(where + ": duplicate name");
        }
      }
    }
    JwtIssuers jwtIssuers =
        JwtIssuers.build(resources, previous == null ? null : previous.jwtIssuers, fetchers);
    return new AccessTable(ImmutableMap.copyOf(keys), ImmutableMap.copyOf(consumers), jwtIssuers);
  }

  @Nullable ApiKey key(String name) {
    return keys.get(name);
  }

  @Nullable Consumer consumer(String name) {
    return consumers.get(name);
  }

  JwtIssuers.@Nullable Issuer jwtIssuer(String iss) {
    return jwtIssuers.issuer(iss);
  }

  /** Whether any JwtIssuer is configured, that is whether bearer tokens other than keys are JWTs. */
  public boolean hasJwtIssuers() {
    return !jwtIssuers.isEmpty();
  }

  /** Whether any API key is configured. */
  public boolean hasKeys() {
    return !keys.isEmpty();
  }
}
