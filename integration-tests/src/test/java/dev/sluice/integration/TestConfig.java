package dev.sluice.integration;

import dev.sluice.config.v1.Backend;
import dev.sluice.config.v1.BackendKind;
import dev.sluice.config.v1.BackendTarget;
import dev.sluice.config.v1.MockSettings;
import dev.sluice.config.v1.Model;
import dev.sluice.config.v1.ModelVersion;
import dev.sluice.config.v1.Resource;
import dev.sluice.type.v1.ModelCapability;

/** Config resources the tests apply, built as a client of the admin API would build them. */
final class TestConfig {
  private TestConfig() {}

  static Resource openAiCompatibleBackend(String name, String baseUrl) {
    return Resource.newBuilder()
        .setBackend(
            Backend.newBuilder()
                .setName(name)
                .setKind(BackendKind.BACKEND_KIND_OPENAI_COMPATIBLE)
                .setBaseUrl(baseUrl))
        .build();
  }

  static Resource mockBackend(String name, int tokensPerResponse, double tokensPerSecond) {
    return Resource.newBuilder()
        .setBackend(
            Backend.newBuilder()
                .setName(name)
                .setKind(BackendKind.BACKEND_KIND_MOCK)
                .setMock(
                    MockSettings.newBuilder()
                        .setTokensPerResponse(tokensPerResponse)
                        .setTokensPerSecond(tokensPerSecond)))
        .build();
  }

  static Resource chatModel(String name, String backend, String upstreamModel) {
    return Resource.newBuilder()
        .setModel(
            Model.newBuilder()
                .setName(name)
                .setDescription("test model " + name)
                .addCapabilities(ModelCapability.MODEL_CAPABILITY_CHAT)
                .addVersions(
                    ModelVersion.newBuilder()
                        .setName("v1")
                        .setUpstreamModel(upstreamModel)
                        .addBackends(BackendTarget.newBuilder().setBackend(backend))))
        .build();
  }
}
