package dev.sluice.dataplane.provider;

import static java.util.Objects.requireNonNull;

import dev.sluice.config.v1.Backend;

/**
 * Where one upstream call goes: the configured backend and the model id to send it.
 *
 * @param backend the backend from the current config snapshot (its secrets are references only;
 *     adapters resolve them through their {@code SecretResolver} at call time)
 * @param upstreamModel the provider's model identifier, e.g. {@code gpt-4o-2024-11-20}
 */
public record UpstreamTarget(Backend backend, String upstreamModel) {
  public UpstreamTarget {
    requireNonNull(backend, "backend");
    requireNonNull(upstreamModel, "upstreamModel");
  }
}
