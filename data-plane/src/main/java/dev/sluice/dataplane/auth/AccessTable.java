package dev.sluice.dataplane.auth;

import com.google.common.collect.ImmutableMap;
import dev.sluice.config.v1.ApiKey;
import dev.sluice.config.v1.ApiKeyHashAlgorithm;
import dev.sluice.config.v1.Consumer;
import dev.sluice.config.v1.Resource;
import java.util.HashMap;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * The API keys and consumers of one config version, indexed by name. Immutable; a new table is
 * built from each snapshot.
 */
public final class AccessTable {
  /** The table of a node that serves nothing. */
  public static final AccessTable EMPTY = new AccessTable(ImmutableMap.of(), ImmutableMap.of());

  private static final int MIN_SALT_BYTES = 16;
  private static final int SHA256_BYTES = 32;

  private final ImmutableMap<String, ApiKey> keys;
  private final ImmutableMap<String, Consumer> consumers;

  private AccessTable(ImmutableMap<String, ApiKey> keys, ImmutableMap<String, Consumer> consumers) {
    this.keys = keys;
    this.consumers = consumers;
  }

  /**
   * Builds the table from the API keys and consumers among {@code resources}.
   *
   * @throws IllegalArgumentException when a key names a consumer that does not exist or carries a
   *     hash this node cannot verify, or when a name is used twice
   */
  public static AccessTable build(Iterable<Resource> resources) {
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
    return new AccessTable(ImmutableMap.copyOf(keys), ImmutableMap.copyOf(consumers));
  }

  @Nullable ApiKey key(String name) {
    return keys.get(name);
  }

  @Nullable Consumer consumer(String name) {
    return consumers.get(name);
  }

  /** Whether any API key is configured. */
  public boolean hasKeys() {
    return !keys.isEmpty();
  }
}
