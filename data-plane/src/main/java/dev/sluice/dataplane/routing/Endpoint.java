package dev.sluice.dataplane.routing;

import static java.util.Objects.requireNonNull;

import dev.sluice.dataplane.provider.UpstreamTarget;

/**
 * One backend of a model version, with the upstream model to ask it for.
 *
 * @param backend the backend and its load record
 * @param target what an adapter needs to call it, built once per config version
 * @param weight the share of the version's traffic, after "all zero means equal" was applied
 */
record Endpoint(BackendEntry backend, UpstreamTarget target, int weight) {
  Endpoint {
    requireNonNull(backend, "backend");
    requireNonNull(target, "target");
  }

  String backendName() {
    return backend.name();
  }
}
