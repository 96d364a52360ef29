package dev.sluice.dataplane.provider.gemini;

import dev.sluice.dataplane.provider.ProviderAdapter;
import dev.sluice.dataplane.provider.SecretResolver;
import dev.sluice.dataplane.provider.http.BackendEndpoint;
import dev.sluice.dataplane.provider.http.HttpUpstreamClient;
import dev.sluice.dataplane.provider.http.TlsContexts;

/** Creates the Gemini API adapter. */
public final class GeminiProvider {
  private GeminiProvider() {}

  /**
   * The adapter for {@code BACKEND_KIND_GEMINI} (default base URL {@code
   * https://generativelanguage.googleapis.com}).
   */
  public static ProviderAdapter create(
      HttpUpstreamClient http, SecretResolver secrets, TlsContexts tls) {
    return new GeminiAdapter(http, BackendEndpoint.cache(GeminiAdapter.DEFAULT_BASE_URL, secrets, tls));
  }
}
