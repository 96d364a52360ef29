package dev.sluice.dataplane.routing;

import dev.sluice.config.v1.BackendKind;
import dev.sluice.dataplane.provider.ProviderAdapter;
import org.jspecify.annotations.Nullable;

/**
 * Finds the adapter that speaks a backend kind's wire protocol. One lookup serves a data plane for
 * life: the router calls through it, and config is checked against it before it is served, so a
 * node never accepts a backend it could not call.
 */
@FunctionalInterface
public interface ProviderLookup {
  /** The adapter for {@code kind}, or null when this node has none. */
  @Nullable ProviderAdapter forKind(BackendKind kind);

  /** Whether this node can call backends of {@code kind}. */
  default boolean supports(BackendKind kind) {
    return forKind(kind) != null;
  }
}
