package dev.sluice.controlplane.validation;

import com.google.common.collect.ImmutableList;
import dev.sluice.controlplane.store.ResourceKey;
import org.jspecify.annotations.Nullable;

/** Collects violations for one resource (or the config as a whole when the key is null). */
final class Issues {
  private final @Nullable ResourceKey resource;
  private final ImmutableList.Builder<Violation> sink;

  Issues(@Nullable ResourceKey resource, ImmutableList.Builder<Violation> sink) {
    this.resource = resource;
    this.sink = sink;
  }

  void add(String field, String description) {
    sink.add(new Violation(resource, field, description));
  }
}
