package dev.sluice.controlplane.store;

import dev.sluice.config.v1.Resource;

/** Field access common to every resource kind (fields 1 to 4 are name, version, description, labels). */
public final class Resources {
  private Resources() {}

  /** The resource's name. */
  public static String name(Resource resource) {
    return switch (resource.getKindCase()) {
      case BACKEND -> resource.getBackend().getName();
      case MODEL -> resource.getModel().getName();
      case ROUTE -> resource.getRoute().getName();
      case RATE_LIMIT_POLICY -> resource.getRateLimitPolicy().getName();
      case CONSUMER -> resource.getConsumer().getName();
      case API_KEY -> resource.getApiKey().getName();
      case PROMPT_TEMPLATE -> resource.getPromptTemplate().getName();
      case JWT_ISSUER -> resource.getJwtIssuer().getName();
      case KIND_NOT_SET -> throw new IllegalArgumentException("resource has no kind set");
    };
  }

  /** The resource's output-only {@code version}: the config version that last changed it. */
  public static long version(Resource resource) {
    var message = message(resource);
    return (Long) message.getField(message.getDescriptorForType().findFieldByName("version"));
  }

  /** The set message of the {@code kind} oneof (a Backend, a Model, ...). */
  public static com.google.protobuf.Message message(Resource resource) {
    if (resource.getKindCase() == Resource.KindCase.KIND_NOT_SET) {
      throw new IllegalArgumentException("resource has no kind set");
    }
    var field = Resource.getDescriptor().findFieldByNumber(resource.getKindCase().getNumber());
    return (com.google.protobuf.Message) resource.getField(field);
  }

  /**
   * A copy of {@code resource} with its output-only {@code version} set. Uses the descriptor so
   * that a new kind needs no change here.
   */
  public static Resource withVersion(Resource resource, long version) {
    var field = Resource.getDescriptor().findFieldByNumber(resource.getKindCase().getNumber());
    var message = (com.google.protobuf.Message) resource.getField(field);
    var versionField = message.getDescriptorForType().findFieldByName("version");
    var updated = message.toBuilder().setField(versionField, version).build();
    return resource.toBuilder().setField(field, updated).build();
  }
}
