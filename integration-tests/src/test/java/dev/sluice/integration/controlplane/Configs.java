package dev.sluice.integration.controlplane;

import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Message;
import dev.sluice.admin.v1.ApplyChangesRequest;
import dev.sluice.admin.v1.Change;
import dev.sluice.config.v1.Backend;
import dev.sluice.config.v1.BackendKind;
import dev.sluice.config.v1.BackendTarget;
import dev.sluice.config.v1.MockSettings;
import dev.sluice.config.v1.Model;
import dev.sluice.config.v1.ModelVersion;
import dev.sluice.config.v1.Resource;
import dev.sluice.config.v1.ResourceKind;
import dev.sluice.config.v1.ResourceRef;
import dev.sluice.config.v1.SecretRef;
import dev.sluice.type.v1.ModelCapability;
import java.util.List;

/** Config resources and change sets, built as an operator's client of the admin API would. */
final class Configs {
  /** The MOCK backend every model of these tests runs on: no network, a few tokens per answer. */
  static final String MOCK = "mock";

  private Configs() {}

  /** A MOCK backend. */
  static Resource mockBackend(String name) {
    return mockBackend(name, "");
  }

  /** A MOCK backend with a description, to make distinguishable revisions of one resource. */
  static Resource mockBackend(String name, String description) {
    return Resource.newBuilder()
        .setBackend(
            Backend.newBuilder()
                .setName(name)
                .setDescription(description)
                .setKind(BackendKind.BACKEND_KIND_MOCK)
                .setMock(MockSettings.newBuilder().setTokensPerResponse(4)))
        .build();
  }

  /**
   * A GEMINI backend: valid to the control plane, and never called by these tests (its key is a
   * reference to an environment variable nobody sets).
   */
  static Resource geminiBackend(String name) {
    return Resource.newBuilder()
        .setBackend(
            Backend.newBuilder()
                .setName(name)
                .setKind(BackendKind.BACKEND_KIND_GEMINI)
                .setApiKey(SecretRef.newBuilder().setEnvVar("SLUICE_IT_GEMINI_API_KEY")))
        .build();
  }

  /** A chat model with one version, {@code v1}, on {@code backend}. */
  static Resource chatModel(String name, String backend) {
    return Resource.newBuilder().setModel(model(name, backend)).build();
  }

  /** A chat model on {@code backend} that also answers to {@code aliases}. */
  static Resource chatModel(String name, String backend, String... aliases) {
    return Resource.newBuilder()
        .setModel(model(name, backend).toBuilder().addAllAliases(List.of(aliases)))
        .build();
  }

  private static Model model(String name, String backend) {
    return Model.newBuilder()
        .setName(name)
        .addCapabilities(ModelCapability.MODEL_CAPABILITY_CHAT)
        .addVersions(
            ModelVersion.newBuilder()
                .setName("v1")
                .setUpstreamModel("mock-1")
                .addBackends(BackendTarget.newBuilder().setBackend(backend)))
        .build();
  }

  static ResourceRef ref(ResourceKind kind, String name) {
    return ResourceRef.newBuilder().setKind(kind).setName(name).build();
  }

  static ResourceRef modelRef(String name) {
    return ref(ResourceKind.RESOURCE_KIND_MODEL, name);
  }

  /** A change set that upserts {@code resources}, with an author and a reason for history. */
  static ApplyChangesRequest.Builder upserts(Resource... resources) {
    ApplyChangesRequest.Builder request =
        ApplyChangesRequest.newBuilder().setAuthor("integration test").setReason("test step");
    for (Resource resource : resources) {
      request.addChanges(Change.newBuilder().setUpsert(resource));
    }
    return request;
  }

  /**
   * The content of a resource, without its output-only {@code version}: what an operator wrote,
   * so contents from different config versions compare equal when nothing was edited.
   */
  static Resource content(Resource resource) {
    FieldDescriptor kind =
        resource.getOneofFieldDescriptor(Resource.getDescriptor().getOneofs().get(0));
    if (kind == null) {
      return resource;
    }
    Message inner = (Message) resource.getField(kind);
    Message withoutVersion =
        inner.toBuilder()
            .clearField(inner.getDescriptorForType().findFieldByName("version"))
            .build();
    return resource.toBuilder().setField(kind, withoutVersion).build();
  }
}
