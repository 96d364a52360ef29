package dev.sluice.dataplane.routing;

import static java.util.Objects.requireNonNull;

/**
 * A model version that one or more attempts of a request go to.
 *
 * @param model the model that owns the version (the requested one, or another after a redirect)
 * @param version the version whose backends serve the attempts
 */
record Destination(ModelEntry model, VersionEntry version) {
  Destination {
    requireNonNull(model, "model");
    requireNonNull(version, "version");
  }
}
