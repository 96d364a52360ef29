package dev.sluice.controlplane.store;

import static java.util.Objects.requireNonNull;

import dev.sluice.config.v1.Resource;
import dev.sluice.config.v1.ResourceKind;
import dev.sluice.config.v1.ResourceRef;
import java.util.Comparator;

/**
 * The identity of a resource: its kind and name. Ordered by kind number, then name, which is the
 * order of resources in a {@code ConfigSnapshot}.
 */
public record ResourceKey(ResourceKind kind, String name) implements Comparable<ResourceKey> {
  private static final Comparator<ResourceKey> ORDER =
      Comparator.comparingInt((ResourceKey k) -> k.kind().getNumber())
          .thenComparing(ResourceKey::name);

  public ResourceKey {
    requireNonNull(kind, "kind");
    requireNonNull(name, "name");
  }

  public static ResourceKey of(ResourceRef ref) {
    return new ResourceKey(ref.getKind(), ref.getName());
  }

  /**
   * The key of {@code resource}. The oneof case number equals the {@link ResourceKind} number by
   * design of {@code sluice.config.v1.Resource}.
   */
  public static ResourceKey of(Resource resource) {
    ResourceKind kind = ResourceKind.forNumber(resource.getKindCase().getNumber());
    if (kind == null || kind == ResourceKind.RESOURCE_KIND_UNSPECIFIED) {
      throw new IllegalArgumentException("resource has no kind set");
    }
    return new ResourceKey(kind, Resources.name(resource));
  }

  public ResourceRef toRef() {
    return ResourceRef.newBuilder().setKind(kind).setName(name).build();
  }

  @Override
  public int compareTo(ResourceKey other) {
    return ORDER.compare(this, other);
  }

  @Override
  public String toString() {
    return kind.name().substring("RESOURCE_KIND_".length()).toLowerCase(java.util.Locale.ROOT)
        + "/"
        + name;
  }
}
