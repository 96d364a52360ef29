package dev.sluice.dataplane.provider;

import dev.sluice.config.v1.SecretRef;
import java.time.Duration;
import java.util.function.Function;
import java.util.function.LongSupplier;
import org.jspecify.annotations.Nullable;

/**
 * Resolves {@link SecretRef}s (environment variables or files) to {@link Secret}s on the data
 * plane, where the secrets live; config only ever carries the references.
 *
 * <p>Resolution is cheap enough for the hot path: values are cached, environment variables are
 * looked up again only when the cached entry is older than the recheck interval, and a file is
 * re-read only when its modification time or size changed (checked at most once per recheck
 * interval) or its last read is older than the maximum age. So a rotated Kubernetes secret is
 * picked up within seconds, without a config change. The first read of a file happens on the
 * calling thread; it is a small local read, done once per file and interval.
 *
 * <p>Failures are {@link UpstreamException}s of kind {@link UpstreamFailure#MISCONFIGURED} whose
 * message names the reference (the variable name or file path) and never the value. Thread-safe.
 */
public interface SecretResolver {
  /** Default interval between checks of a cached value against its source. */
  Duration DEFAULT_RECHECK_INTERVAL = Duration.ofSeconds(1);

  /**
   * Resolves {@code ref}.
   *
   * @param ref the reference; exactly one source must be set
   * @param backend the name of the backend that needs the secret, for the error message
   * @throws UpstreamException {@code MISCONFIGURED} when the variable is unset, the file cannot be
   *     read, or the value is empty or contains line breaks or other control characters (which
   *     would allow header injection)
   */
  Secret resolve(SecretRef ref, String backend);

  /** A resolver over this process's environment and file system. */
  static SecretResolver fromEnvironment() {
    return new CachingSecretResolver(
        System::getenv, System::nanoTime, DEFAULT_RECHECK_INTERVAL, Duration.ofSeconds(60));
  }

  /**
   * A resolver over the given environment (tests, or an embedding application that supplies its
   * own), with the real file system.
   *
   * @param environment returns a variable's value, or null when it is unset
   * @param nanoClock monotonic nanoseconds, as {@link System#nanoTime()}
   * @param recheckInterval how long a cached value is used without looking at its source
   */
  static SecretResolver create(
      Function<String, @Nullable String> environment,
      LongSupplier nanoClock,
      Duration recheckInterval) {
    return new CachingSecretResolver(
        environment, nanoClock, recheckInterval, recheckInterval.multipliedBy(60));
  }
}
