package dev.sluice.dataplane.provider;

import static java.util.Objects.requireNonNull;

import dev.sluice.config.v1.SecretRef;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;
import java.util.function.LongSupplier;
import java.util.regex.Pattern;
import org.jspecify.annotations.Nullable;

/**
 * The {@link SecretResolver}: a cache of resolved references, checked against their sources at
 * most once per recheck interval.
 *
 * <p>Cache entries are immutable and replaced wholesale, so concurrent resolutions race benignly
 * (at worst a file is read twice) and never block each other.
 */
final class CachingSecretResolver implements SecretResolver {
  private static final Pattern ENV_NAME = Pattern.compile("[A-Za-z_][A-Za-z0-9_]*");
  /** Larger files are not secrets we know how to use (a PEM key chain is a few KiB). */
  private static final int MAX_FILE_BYTES = 1 << 20;

  private final Function<String, @Nullable String> environment;
  private final LongSupplier nanoClock;
  private final long recheckNanos;
  private final long maxAgeNanos;
  private final ConcurrentHashMap<SecretRef, Entry> cache = new ConcurrentHashMap<>();

  CachingSecretResolver(
      Function<String, @Nullable String> environment,
      LongSupplier nanoClock,
      Duration recheckInterval,
      Duration maxAge) {
    this.environment = requireNonNull(environment, "environment");
    this.nanoClock = requireNonNull(nanoClock, "nanoClock");
    this.recheckNanos = recheckInterval.toNanos();
    this.maxAgeNanos = maxAge.toNanos();
    if (recheckNanos < 0 || maxAgeNanos < recheckNanos) {
      throw new IllegalArgumentException(
          "recheckInterval: " + recheckInterval + ", maxAge: " + maxAge
              + " (expected: 0 <= recheckInterval <= maxAge)");
    }
  }

  @Override
  public Secret resolve(SecretRef ref, String backend) {
    requireNonNull(ref, "ref");
    requireNonNull(backend, "backend");
    long now = nanoClock.getAsLong();
    Entry cached = cache.get(ref);
    if (cached != null && now - cached.checkedAt < recheckNanos) {
      return cached.secret;
    }
    Entry fresh =
        switch (ref.getSourceCase()) {
          case ENV_VAR -> fromEnvironment(ref.getEnvVar(), backend, cached, now);
          case FILE_PATH -> fromFile(ref.getFilePath(), backend, cached, now);
          case SOURCE_NOT_SET -> throw misconfigured(backend, "a secret reference has no source", null);
        };
    cache.put(ref, fresh);
    return fresh.secret;
  }

  private Entry fromEnvironment(String name, String backend, @Nullable Entry cached, long now) {
    String where = "environment variable " + name;
    if (!ENV_NAME.matcher(name).matches()) {
      throw misconfigured(backend, "secret " + where + " is not a valid variable name", null);
    }
    String value = environment.apply(name);
    if (value == null) {
      throw misconfigured(backend, "secret " + where + " is not set", null);
    }
    if (cached != null && cached.raw.equals(value)) {
      return cached.checked(now);
    }
    return new Entry(value, validated(value, where, backend), now, now, null, -1);
  }

  private Entry fromFile(String pathName, String backend, @Nullable Entry cached, long now) {
    String where = "file " + pathName;
    Path path = Path.of(pathName);
    BasicFileAttributes attributes;
    try {
      attributes = Files.readAttributes(path, BasicFileAttributes.class);
    } catch (IOException | RuntimeException e) {
      throw misconfigured(backend, "secret " + where + " cannot be read", e);
    }
    FileTime modified = attributes.lastModifiedTime();
    long size = attributes.size();
    if (cached != null
        && modified.equals(cached.modified)
        && size == cached.size
        && now - cached.readAt < maxAgeNanos) {
      return cached.checked(now);
    }
    if (size > MAX_FILE_BYTES) {
      throw misconfigured(backend, "secret " + where + " is larger than 1 MiB", null);
    }
    String raw;
    try (InputStream in = Files.newInputStream(path)) {
      byte[] bytes = in.readNBytes(MAX_FILE_BYTES + 1);
      if (bytes.length > MAX_FILE_BYTES) {
        throw misconfigured(backend, "secret " + where + " is larger than 1 MiB", null);
      }
      raw =
          StandardCharsets.UTF_8
              .newDecoder()
              .onMalformedInput(CodingErrorAction.REPORT)
              .onUnmappableCharacter(CodingErrorAction.REPORT)
              .decode(java.nio.ByteBuffer.wrap(bytes))
              .toString();
    } catch (CharacterCodingException e) {
      throw misconfigured(backend, "secret " + where + " is not UTF-8 text", null);
    } catch (IOException | RuntimeException e) {
      if (e instanceof UpstreamException ue) {
        throw ue;
      }
      throw misconfigured(backend, "secret " + where + " cannot be read", e);
    }
    String value = withoutTrailingNewline(raw);
    if (cached != null && cached.raw.equals(value)) {
      return new Entry(value, cached.secret, now, now, modified, size);
    }
    return new Entry(value, validated(value, where, backend), now, now, modified, size);
  }

  /** Removes one trailing line break ({@code \n} or {@code \r\n}), as editors and kubectl add. */
  static String withoutTrailingNewline(String raw) {
    if (raw.endsWith("\r\n")) {
      return raw.substring(0, raw.length() - 2);
    }
    if (raw.endsWith("\n")) {
      return raw.substring(0, raw.length() - 1);
    }
    return raw;
  }

  private static Secret validated(String value, String where, String backend) {
    if (value.isEmpty()) {
      throw misconfigured(backend, "secret " + where + " is empty", null);
    }
    for (int i = 0; i < value.length(); i++) {
      char c = value.charAt(i);
      // Multi-line values (PEM keys) are legitimate secrets, but never as header values; the
      // header writer re-checks. Other control characters are never legitimate.
      if ((c < 0x20 && c != '\n' && c != '\r' && c != '\t') || c == 0x7f) {
        throw misconfigured(backend, "secret " + where + " contains control characters", null);
      }
    }
    return Secret.of(value);
  }

  private static UpstreamException misconfigured(
      String backend, String message, @Nullable Throwable cause) {
    return new UpstreamException(
        UpstreamFailure.MISCONFIGURED, backend, 0, null, message + " (backend " + backend + ")",
        cause);
  }

  /** One cached resolution; immutable. */
  private static final class Entry {
    final String raw;
    final Secret secret;
    final long checkedAt;
    final long readAt;
    final @Nullable FileTime modified;
    final long size;

    Entry(String raw, Secret secret, long checkedAt, long readAt, @Nullable FileTime modified,
        long size) {
      this.raw = raw;
      this.secret = secret;
      this.checkedAt = checkedAt;
      this.readAt = readAt;
      this.modified = modified;
      this.size = size;
    }

    Entry checked(long now) {
      return new Entry(raw, secret, now, readAt, modified, size);
    }

    @Override
    public String toString() {
      return "Entry[redacted]";
    }
  }
}
