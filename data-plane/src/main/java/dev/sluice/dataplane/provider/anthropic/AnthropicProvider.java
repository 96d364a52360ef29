package dev.sluice.dataplane.provider.anthropic;

import dev.sluice.dataplane.provider.ProviderAdapter;
import dev.sluice.dataplane.provider.SecretResolver;
import dev.sluice.dataplane.provider.http.BackendEndpoint;
import dev.sluice.dataplane.provider.http.HttpUpstreamClient;
import dev.sluice.dataplane.provider.http.TlsContexts;

/** Creates the Anthropic Messages adapter. */
public final class AnthropicProvider {
  private AnthropicProvider() {}

  /** The adapter for {@code BACKEND_KIND_ANTHROPIC} (default base URL {@code https://api.anthropic.com}). */
  public static ProviderAdapter create(
      HttpUpstreamClient http, SecretResolver secrets, TlsContexts tls) {
    return new AnthropicAdapter(
        http, BackendEndpoint.cache(AnthropicAdapter.DEFAULT_BASE_URL, secrets, tls));
  }
}
