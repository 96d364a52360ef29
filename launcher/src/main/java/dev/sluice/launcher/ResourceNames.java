package dev.sluice.launcher;

import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Message;
import dev.sluice.config.v1.Resource;
import dev.sluice.config.v1.ResourceKind;
import dev.sluice.config.v1.ResourceRef;
import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * How the command line names resources: {@code kind/name}, with the kind spelled as its YAML key
 * ({@code backend}, {@code model}, {@code rate_limit_policy}, ...).
 */
final class ResourceNames {
  private ResourceNames() {}

  /** The resource's reference: the set oneof field gives the kind, its {@code name} field the name. */
  static ResourceRef refOf(Resource resource) {
    if (resource.getKindCase() == Resource.KindCase.KIND_NOT_SET) {
      throw new IllegalArgumentException("resource has no kind set");
    }
    Message body = body(resource);
    FieldDescriptor name = body.getDescriptorForType().findFieldByName("name");
    return ResourceRef.newBuilder()
        .setKind(ResourceKind.forNumber(resource.getKindCase().getNumber()))
        .setName((String) body.getField(name))
        .build();
  }

  /** The resource's own {@code version} field (the config version that last changed it). */
  static long versionOf(Resource resource) {
    Message body = body(resource);
    return (Long) body.getField(body.getDescriptorForType().findFieldByName("version"));
  }

  /** The resource's {@code description} field. */
  static String descriptionOf(Resource resource) {
    Message body = body(resource);
    return (String) body.getField(body.getDescriptorForType().findFieldByName("description"));
  }

  private static Message body(Resource resource) {
    FieldDescriptor field =
        Resource.getDescriptor().findFieldByNumber(resource.getKindCase().getNumber());
    return (Message) resource.getField(field);
  }

  /** {@code model/mock-chat}. */
  static String display(ResourceRef ref) {
    return kindName(ref.getKind()) + "/" + ref.getName();
  }

  /** {@code rate_limit_policy} for RESOURCE_KIND_RATE_LIMIT_POLICY. */
  static String kindName(ResourceKind kind) {
    return kind.name().replace("RESOURCE_KIND_", "").toLowerCase(Locale.ROOT);
  }

  /**
   * Parses a kind as a user types it: {@code model}, {@code models}, {@code rate-limit-policy},
   * {@code rateLimitPolicy} or {@code RESOURCE_KIND_MODEL}.
   */
  static ResourceKind parseKind(String text) {
    String normalized =
        text.trim()
            .replaceAll("([a-z])([A-Z])", "$1_$2")
            .replace('-', '_')
            .toUpperCase(Locale.ROOT)
            .replaceFirst("^RESOURCE_KIND_", "");
    for (ResourceKind kind : ResourceKind.values()) {
      if (kind == ResourceKind.UNRECOGNIZED || kind == ResourceKind.RESOURCE_KIND_UNSPECIFIED) {
        continue;
      }
      String name = kind.name().replace("RESOURCE_KIND_", "");
      String plural =
          name.matches(".*[^AEIOU]Y") ? name.substring(0, name.length() - 1) + "IES" : name + "S";
      if (normalized.equals(name) || normalized.equals(plural)) {
        return kind;
      }
    }
    throw new IllegalArgumentException(
        "unknown resource kind '" + text + "' (expected one of: " + knownKinds() + ")");
  }

  private static String knownKinds() {
    return Arrays.stream(ResourceKind.values())
        .filter(k -> k != ResourceKind.UNRECOGNIZED && k != ResourceKind.RESOURCE_KIND_UNSPECIFIED)
        .map(ResourceNames::kindName)
        .collect(Collectors.joining(", "));
  }
}
