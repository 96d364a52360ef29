package dev.sluice.dataplane.auth;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.Timestamp;
import dev.sluice.config.v1.ApiKey;
import dev.sluice.config.v1.Consumer;
import dev.sluice.grpc.ApiException;
import io.grpc.Metadata;
import io.grpc.Status;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Clock;
import java.time.Instant;
import org.jspecify.annotations.Nullable;

/**
 * Verifies inference API keys.
 *
 * <p>A key reads {@code sk-sluice-<name>.<secret>}: the name is the ApiKey resource name (a public
 * id that may itself contain dots, so the secret starts after the last dot), and config holds
 * {@code SHA-256(salt || utf8(secret))}. Unknown, wrong, revoked and expired keys all get the same
 * answer, and an unknown name still costs one hash, so neither the answer nor its timing tells a
 * caller which key names exist.
 */
final class ApiKeyAuthenticator implements Authenticator {
  static final Metadata.Key<String> AUTHORIZATION =
      Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
  static final Metadata.Key<String> X_API_KEY =
      Metadata.Key.of("x-api-key", Metadata.ASCII_STRING_MARSHALLER);

  static final String KEY_PREFIX = "sk-sluice-";
  static final String REASON = "API_KEY_INVALID";
  private static final String BEARER = "bearer ";
  private static final byte[] DECOY_SALT = new byte[16];
  private static final byte[] DECOY_DIGEST = new byte[32];

  private static final ThreadLocal<MessageDigest> SHA256 =
      ThreadLocal.withInitial(
          () -> {
            try {
              return MessageDigest.getInstance("SHA-256");
            } catch (NoSuchAlgorithmException e) {
              throw new IllegalStateException("SHA-256 is required of every JVM", e);
            }
          });

  private final boolean allowAnonymous;
  private final Clock clock;

  ApiKeyAuthenticator(boolean allowAnonymous, Clock clock) {
    this.allowAnonymous = allowAnonymous;
    this.clock = requireNonNull(clock, "clock");
  }

  @Override
  public Caller authenticate(Metadata headers, AccessTable access) {
    String presented = presentedKey(headers);
    if (presented == null) {
      if (allowAnonymous) {
        return Caller.anonymous();
      }
      throw unauthenticated("missing API key: send it as `authorization: Bearer <key>`");
    }
    if (!presented.startsWith(KEY_PREFIX)) {
      throw invalidKey();
    }
    int dot = presented.lastIndexOf('.');
    if (dot <= KEY_PREFIX.length() || dot == presented.length() - 1) {
      throw invalidKey();
    }
    String name = presented.substring(KEY_PREFIX.length(), dot);
    String secret = presented.substring(dot + 1);
    ApiKey key = access.key(name);
    // Hash even for an unknown name, so the time taken does not tell which names exist.
    byte[] salt = key == null ? DECOY_SALT : key.getHash().getSalt().toByteArray();
    byte[] digest = key == null ? DECOY_DIGEST : key.getHash().getDigest().toByteArray();
    boolean matches = verify(salt, digest, secret) && key != null;
    if (key == null || !matches || key.getRevoked() || expired(key.getExpireTime())) {
      throw invalidKey();
    }
    Consumer consumer = access.consumer(key.getConsumer());
    if (consumer == null) {
      // AccessTable.build rejects such configs; treat a gap as an invalid key all the same.
      throw invalidKey();
    }
    return Caller.of(consumer, name);
  }

  private boolean expired(Timestamp expireTime) {
    if (expireTime.getSeconds() == 0 && expireTime.getNanos() == 0) {
      return false;
    }
    Instant expiry = Instant.ofEpochSecond(expireTime.getSeconds(), expireTime.getNanos());
    return !clock.instant().isBefore(expiry);
  }

  private static boolean verify(byte[] salt, byte[] digest, String secret) {
    MessageDigest sha256 = SHA256.get();
    sha256.reset();
    sha256.update(salt);
    byte[] actual = sha256.digest(secret.getBytes(StandardCharsets.UTF_8));
    return MessageDigest.isEqual(actual, digest);
  }

  private static @Nullable String presentedKey(Metadata headers) {
    String authorization = headers.get(AUTHORIZATION);
    if (authorization != null) {
      if (authorization.length() > BEARER.length()
          && authorization.regionMatches(true, 0, BEARER, 0, BEARER.length())) {
        return authorization.substring(BEARER.length()).trim();
      }
      return authorization.trim();
    }
    String apiKey = headers.get(X_API_KEY);
    return apiKey == null ? null : apiKey.trim();
  }

  private static ApiException invalidKey() {
    return unauthenticated("invalid API key");
  }

  /**
   * The refusal of a credential. API keys and JWTs share reason {@value #REASON}: the public error
   * contract has one reason for a missing or invalid credential of any kind, and a caller learns
   * nothing from the reason it did not already know.
   */
  static ApiException unauthenticated(String message) {
    return ApiException.builder(Status.Code.UNAUTHENTICATED, REASON)
        .message(message)
        .build();
  }
}
