package dev.sluice.controlplane.apikey;

import static java.nio.charset.StandardCharsets.UTF_8;
import static java.util.Objects.requireNonNull;

import com.google.common.base.Preconditions;
import com.google.protobuf.ByteString;
import dev.sluice.config.v1.ApiKey;
import dev.sluice.config.v1.ApiKeyHash;
import dev.sluice.config.v1.ApiKeyHashAlgorithm;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.Optional;

/**
 * The inference API key scheme: what a key looks like, how it is generated, and how a data plane
 * verifies one against the {@link ApiKeyHash} in config.
 *
 * <h2>Format</h2>
 *
 * A plain key is {@code sk-sluice-<name>.<secret>}:
 *
 * <ul>
 *   <li>{@code <name>} is the {@code ApiKey} resource name (the public key id, resource name
 *       pattern, so it may itself contain dots);
 *   <li>{@code <secret>} is 32 bytes from a {@link SecureRandom}, base64url-encoded without
 *       padding: exactly 43 characters of {@code [A-Za-z0-9_-]} (256 bits of entropy).
 * </ul>
 *
 * To parse, strip the {@code sk-sluice-} prefix and split at the <b>last</b> dot.
 *
 * <h2>Hash</h2>
 *
 * Config stores {@code ApiKeyHash{algorithm: API_KEY_HASH_ALGORITHM_SHA256, salt, digest}} with a
 * fresh 16-byte random salt per key and {@code digest = SHA-256(salt || UTF-8(secret))}, the
 * secret being the part after the last dot (not the whole key). A fast hash is enough because the
 * secret has 256 bits of entropy: nothing to brute-force, unlike a password.
 *
 * <h2>Verifying (data plane)</h2>
 *
 * Parse the presented key; look up the {@code ApiKey} by name (unknown name: reject); recompute
 * the digest with the stored salt and compare it with {@link MessageDigest#isEqual} (constant
 * time); then reject a key that is {@code revoked} or whose {@code expire_time} has passed. {@link
 * #verify} does exactly this minus the revocation and expiry checks, which need the request time.
 */
public final class ApiKeySecrets {
  /** Prefix of every plain key; secret scanners can match {@code sk-sluice-}. */
  public static final String PREFIX = "sk-sluice-";

  /** Bytes of randomness in a secret. */
  public static final int SECRET_BYTES = 32;

  /** Bytes of salt in a hash. */
  public static final int SALT_BYTES = 16;

  private static final SecureRandom RANDOM = new SecureRandom();
  private static final char[] NAME_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789".toCharArray();

  private ApiKeySecrets() {}

  /**
   * A freshly generated key.
   *
   * @param name the key name (public id)
   * @param plainKey the full key to hand to the caller once: {@code sk-sluice-<name>.<secret>}
   * @param hash what config stores
   */
  public record GeneratedKey(String name, String plainKey, ApiKeyHash hash) {
    public GeneratedKey {
      requireNonNull(name, "name");
      requireNonNull(plainKey, "plainKey");
      requireNonNull(hash, "hash");
    }

    @Override
    public String toString() {
      return "GeneratedKey{name=" + name + ", plainKey=<redacted>}";
    }
  }

  /**
   * A presented key split into its parts.
   *
   * @param name the key name
   * @param secret the secret part
   */
  public record ParsedKey(String name, String secret) {
    @Override
    public String toString() {
      return "ParsedKey{name=" + name + ", secret=<redacted>}";
    }
  }

  /** Generates a key named {@code name}. */
  public static GeneratedKey generate(String name) {
    requireNonNull(name, "name");
    byte[] secretBytes = new byte[SECRET_BYTES];
    RANDOM.nextBytes(secretBytes);
    String secret = Base64.getUrlEncoder().withoutPadding().encodeToString(secretBytes);
    byte[] salt = new byte[SALT_BYTES];
    RANDOM.nextBytes(salt);
    return new GeneratedKey(name, PREFIX + name + "." + secret, hash(secret, salt));
  }

  /** A random key name: {@code key-} and 12 characters of {@code [a-z0-9]}. */
  public static String generateName() {
    StringBuilder name = new StringBuilder("key-");
    for (int i = 0; i < 12; i++) {
      name.append(NAME_ALPHABET[RANDOM.nextInt(NAME_ALPHABET.length)]);
    }
    return name.toString();
  }

  /** The SHA-256 hash of {@code secret} with {@code salt}, as stored in config. */
  public static ApiKeyHash hash(String secret, byte[] salt) {
    Preconditions.checkArgument(
        salt.length >= SALT_BYTES, "salt: %s bytes (expected: >= %s)", salt.length, SALT_BYTES);
    return ApiKeyHash.newBuilder()
        .setAlgorithm(ApiKeyHashAlgorithm.API_KEY_HASH_ALGORITHM_SHA256)
        .setSalt(ByteString.copyFrom(salt))
        .setDigest(ByteString.copyFrom(digest(salt, secret)))
        .build();
  }

  /** Splits a presented key; empty if it is not of the form {@code sk-sluice-<name>.<secret>}. */
  public static Optional<ParsedKey> parse(String plainKey) {
    if (!plainKey.startsWith(PREFIX)) {
      return Optional.empty();
    }
    int dot = plainKey.lastIndexOf('.');
    if (dot <= PREFIX.length() || dot == plainKey.length() - 1) {
      return Optional.empty();
    }
    return Optional.of(new ParsedKey(plainKey.substring(PREFIX.length(), dot), plainKey.substring(dot + 1)));
  }

  /**
   * Whether {@code plainKey} is the key whose hash {@code key} holds: same name, and the secret's
   * salted digest equal in constant time. Does not check revocation or expiry.
   */
  public static boolean verify(String plainKey, ApiKey key) {
    Optional<ParsedKey> parsed = parse(plainKey);
    if (parsed.isEmpty()
        || !parsed.get().name().equals(key.getName())
        || !key.hasHash()
        || key.getHash().getAlgorithm() != ApiKeyHashAlgorithm.API_KEY_HASH_ALGORITHM_SHA256) {
      return false;
    }
    byte[] expected = key.getHash().getDigest().toByteArray();
    byte[] actual = digest(key.getHash().getSalt().toByteArray(), parsed.get().secret());
    return MessageDigest.isEqual(expected, actual);
  }

  private static byte[] digest(byte[] salt, String secret) {
    try {
      MessageDigest sha256 = MessageDigest.getInstance("SHA-256");
      sha256.update(salt);
      sha256.update(secret.getBytes(UTF_8));
      return sha256.digest();
    } catch (NoSuchAlgorithmException e) {
      throw new AssertionError("every Java platform has SHA-256", e);
    }
  }
}
