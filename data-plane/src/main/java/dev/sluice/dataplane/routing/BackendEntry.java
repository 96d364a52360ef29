package dev.sluice.dataplane.routing;

import static java.util.Objects.requireNonNull;

import dev.sluice.config.v1.Backend;
import dev.sluice.config.v1.BackendKind;
import java.util.Locale;

/**
 * A configured backend and this node's load and health record for it.
 *
 * @param backend the resource as configured
 * @param load shared with earlier and later tables while the backend name stays configured
 */
record BackendEntry(Backend backend, BackendLoad load) {
  BackendEntry {
    requireNonNull(backend, "backend");
    requireNonNull(load, "load");
  }

  String name() {
    return backend.getName();
  }

  int maxConcurrentRequests() {
    return backend.getMaxConcurrentRequests();
  }

  /**
   * The provider as an OpenTelemetry {@code gen_ai.provider.name} value, as {@code
   * ChatResponse.provider} documents it.
   */
  static String providerName(BackendKind kind) {
    switch (kind) {
      case BACKEND_KIND_OPENAI:
        return "openai";
      case BACKEND_KIND_ANTHROPIC:
        return "anthropic";
      case BACKEND_KIND_GEMINI:
        return "gcp.gemini";
      default:
        return kind.name().substring("BACKEND_KIND_".length()).toLowerCase(Locale.ROOT);
    }
  }
}
