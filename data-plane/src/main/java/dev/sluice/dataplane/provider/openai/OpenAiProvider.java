package dev.sluice.dataplane.provider.openai;

import dev.sluice.config.v1.BackendKind;
import dev.sluice.dataplane.provider.ProviderAdapter;
import dev.sluice.dataplane.provider.SecretResolver;
import dev.sluice.dataplane.provider.http.BackendEndpoint;
import dev.sluice.dataplane.provider.http.HttpUpstreamClient;
import dev.sluice.dataplane.provider.http.TlsContexts;

/** Creates the OpenAI-protocol adapters. */
public final class OpenAiProvider {
  private OpenAiProvider() {}

  /**
   * An adapter for {@code kind}, {@link BackendKind#BACKEND_KIND_OPENAI} (default base URL {@code
   * https://api.openai.com/v1}) or {@link BackendKind#BACKEND_KIND_OPENAI_COMPATIBLE} (base URL
   * required, key optional).
   */
  public static ProviderAdapter create(
      BackendKind kind, HttpUpstreamClient http, SecretResolver secrets, TlsContexts tls) {
    String defaultBaseUrl =
        kind == BackendKind.BACKEND_KIND_OPENAI ? OpenAiAdapter.DEFAULT_BASE_URL : "";
    return new OpenAiAdapter(kind, http, BackendEndpoint.cache(defaultBaseUrl, secrets, tls));
  }
}
