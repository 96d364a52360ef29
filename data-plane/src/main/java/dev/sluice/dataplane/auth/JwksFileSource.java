package dev.sluice.dataplane.auth;

import static java.util.Objects.requireNonNull;

import dev.sluice.dataplane.auth.JwksKeySet.VerificationKey;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.jspecify.annotations.Nullable;

/**
 * Keys from a JWKS file on this host ({@code jwks_file}).
 *
 * <p>The file is read when the config that names it is built, so a missing or malformed file
 * refuses that config instead of leaving its issuer without keys. After that, the file's
 * modification time, size and identity are checked at most every {@link
 * JwksFetcher#fileCheckInterval()} on the fetcher's thread, prompted by lookups; a changed file is
 * read again and its keys replace the old ones. A file that has become unreadable or malformed
 * keeps the last good keys in use (an operator halfway through an edit must not lock every caller
 * out) and is reported once per change.
 */
final class JwksFileSource implements JwksSource {
  private static final Logger logger = Logger.getLogger(JwksFileSource.class.getName());

  /** What identifies one version of the file without reading it. */
  private record Stamp(FileTime modified, long size, @Nullable Object fileKey) {}

  private final Path path;
  private final JwksFetcher fetcher;
  private final AtomicBoolean checking = new AtomicBoolean();
  private volatile JwksKeySet keys;
  private volatile Stamp stamp;
  private volatile long nextCheckNanos;

  private JwksFileSource(Path path, JwksFetcher fetcher, JwksKeySet keys, Stamp stamp) {
    this.path = path;
    this.fetcher = fetcher;
    this.keys = keys;
    this.stamp = stamp;
    this.nextCheckNanos = fetcher.nanoTime() + fetcher.fileCheckInterval().toNanos();
  }

  /**
   * Reads {@code path} now.
   *
   * @throws IllegalArgumentException when the file cannot be read or holds no usable JWKS
   */
  static JwksFileSource load(Path path, JwksFetcher fetcher) {
    requireNonNull(path, "path");
    requireNonNull(fetcher, "fetcher");
    try {
      Stamp stamp = stampOf(path);
      return new JwksFileSource(path, fetcher, read(path), stamp);
    } catch (IOException e) {
      throw new IllegalArgumentException("cannot read " + path + ": " + e, e);
    }
  }

  @Override
  public @Nullable VerificationKey key(String kid) {
    maybeCheck();
    return keys.key(kid);
  }

  private void maybeCheck() {
    long now = fetcher.nanoTime();
    if (now - nextCheckNanos < 0 || !checking.compareAndSet(false, true)) {
      return;
    }
    nextCheckNanos = now + fetcher.fileCheckInterval().toNanos();
    try {
      fetcher.executor().execute(this::check);
    } catch (RejectedExecutionException e) {
      checking.set(false);
    }
  }

  private void check() {
    try {
      Stamp current = stampOf(path);
      if (current.equals(stamp)) {
        return;
      }
      stamp = current;
      JwksKeySet reloaded = read(path);
      keys = reloaded;
      logger.info(() -> "Reloaded JWKS file " + path + ": kids " + reloaded.kids());
    } catch (IOException | RuntimeException e) {
      logger.log(
          Level.WARNING, "JWKS file " + path + " changed but cannot be used; keeping its last keys", e);
    } finally {
      checking.set(false);
    }
  }

  private static Stamp stampOf(Path path) throws IOException {
    BasicFileAttributes attributes = Files.readAttributes(path, BasicFileAttributes.class);
    return new Stamp(attributes.lastModifiedTime(), attributes.size(), attributes.fileKey());
  }

  private static JwksKeySet read(Path path) throws IOException {
    if (Files.size(path) > JwksKeySet.MAX_BYTES) {
      throw new IllegalArgumentException("larger than " + JwksKeySet.MAX_BYTES + " bytes");
    }
    return JwksKeySet.parse(Files.readString(path, StandardCharsets.UTF_8));
  }
}
