package dev.sluice.dataplane.routing;

import dev.sluice.config.v1.BackendKind;
import dev.sluice.dataplane.provider.ProviderAdapter;
import org.jspecify.annotations.Nullable;

/** Finds the adapter that speaks a backend kind's wire protocol. */
@FunctionalInterface
public interface ProviderLookup {
  /** The adapter for {@code kind}, or null when this node has none. */
  @Nullable ProviderAdapter forKind(BackendKind kind);
}
