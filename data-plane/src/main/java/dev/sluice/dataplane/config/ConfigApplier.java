package dev.sluice.dataplane.config;

import static java.util.Objects.requireNonNull;

import com.google.rpc.Code;
import com.google.rpc.Status;
import dev.sluice.config.v1.ConfigSnapshot;
import dev.sluice.dataplane.routing.ProviderLookup;
import dev.sluice.discovery.v1.ConfigSource;
import dev.sluice.discovery.v1.StreamConfigResponse;
import java.io.IOException;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.jspecify.annotations.Nullable;

/**
 * Turns a snapshot into the served config: validates and builds the {@link RuntimeConfig}, swaps it
 * in, and saves it to the cache file. A snapshot that fails is reported back (for the NACK) and
 * changes nothing: the last good config stays in force.
 *
 * <p>Runs on the config thread only.
 */
final class ConfigApplier {
  private static final Logger logger = Logger.getLogger(ConfigApplier.class.getName());

  private final ServingConfig serving;
  private final @Nullable SnapshotFile cache;
  private final ProviderLookup providers;

  ConfigApplier(ServingConfig serving, @Nullable SnapshotFile cache, ProviderLookup providers) {
    this.serving = requireNonNull(serving, "serving");
    this.cache = cache;
    this.providers = requireNonNull(providers, "providers");
  }

  /** The adapters configs are checked against. */
  ProviderLookup providers() {
    return providers;
  }

  /**
   * Applies {@code snapshot} at {@code versionInfo} from the control plane. Returns null once the
   * node serves it, or the reason it was rejected: INVALID_ARGUMENT for content that fails
   * validation (including a backend kind this build cannot call), FAILED_PRECONDITION for a version
   * older than the one served.
   */
  @Nullable Status apply(String versionInfo, ConfigSnapshot snapshot) {
    RuntimeConfig previous = serving.current();
    if (previous != null) {
      ConfigVersion offered = ConfigVersion.parse(versionInfo);
      ConfigVersion served = ConfigVersion.parse(previous.versionInfo());
      if (offered != null && served != null && offered.olderThan(served)) {
        return status(
            Code.FAILED_PRECONDITION,
            "version "
                + versionInfo
                + " is older than the served version "
                + previous.versionInfo());
      }
    }
    RuntimeConfig next;
    try {
      next =
          RuntimeConfig.build(
              versionInfo, snapshot, ConfigSource.CONFIG_SOURCE_CONTROL_PLANE, previous, providers);
    } catch (IllegalArgumentException e) {
      logger.warning(() -> "Rejected config " + versionInfo + ": " + e.getMessage());
      return status(Code.INVALID_ARGUMENT, String.valueOf(e.getMessage()));
    }
    serving.serve(next);
    logger.info(() -> "Serving config " + versionInfo + " (digest " + snapshot.getDigest() + ")");
    if (cache != null) {
      try {
        cache.write(versionInfo, snapshot);
      } catch (IOException e) {
        // The config is served; only a restart without a control plane would miss it.
        logger.log(Level.WARNING, "Could not save the config to " + cache.path(), e);
      }
    }
    return null;
  }

  /** Serves a config that needs no validation any more (one from the cache file, or re-sourced). */
  void serve(RuntimeConfig config) {
    serving.serve(config);
    logger.info(() -> "Serving config " + config.versionInfo() + " from " + config.source());
  }

  /**
   * Reads and validates the cache file: the config it holds, or null when there is no usable one
   * (absent, corrupted, or no longer valid).
   */
  @Nullable RuntimeConfig loadCache() {
    if (cache == null) {
      return null;
    }
    try {
      StreamConfigResponse saved = cache.read();
      if (saved == null) {
        return null;
      }
      return RuntimeConfig.build(
          saved.getVersionInfo(),
          saved.getSnapshot(),
          ConfigSource.CONFIG_SOURCE_FILE_CACHE,
          null,
          providers);
    } catch (IOException | IllegalArgumentException e) {
      logger.log(Level.WARNING, "Ignoring the config cache file " + cache.path(), e);
      return null;
    }
  }

  private static Status status(Code code, String message) {
    return Status.newBuilder().setCode(code.getNumber()).setMessage(message).build();
  }
}
