package dev.sluice.dataplane.routing;

import static java.util.Objects.requireNonNull;

import com.google.common.collect.ImmutableMap;
import com.google.common.collect.ImmutableSet;
import dev.sluice.config.v1.Model;
import dev.sluice.inference.v1.ModelInfo;
import dev.sluice.type.v1.ModelCapability;
import org.jspecify.annotations.Nullable;

/** A public model of one config version: its resource, its versions and its client-facing info. */
public final class ModelEntry {
  private final Model model;
  private final ModelInfo info;
  private final ImmutableMap<String, VersionEntry> versions;
  private final VersionEntry defaultVersion;
  private final ImmutableSet<String> groups;
  private final ImmutableSet<ModelCapability> capabilities;

  ModelEntry(
      Model model, ImmutableMap<String, VersionEntry> versions, VersionEntry defaultVersion) {
    this.model = requireNonNull(model, "model");
    this.versions = requireNonNull(versions, "versions");
    this.defaultVersion = requireNonNull(defaultVersion, "defaultVersion");
    this.groups = ImmutableSet.copyOf(model.getGroupsList());
    this.capabilities = ImmutableSet.copyOf(model.getCapabilitiesList());
    this.info =
        ModelInfo.newBuilder()
            .setName(model.getName())
            .addAllAliases(model.getAliasesList())
            .setDescription(model.getDescription())
            .addAllCapabilities(model.getCapabilitiesList())
            .setContextWindowTokens(model.getContextWindowTokens())
            .setMaxOutputTokens(model.getMaxOutputTokens())
            .build();
  }

  /** The canonical public name. */
  public String name() {
    return model.getName();
  }

  /** The config resource. */
  public Model model() {
    return model;
  }

  /** The model as clients see it in listings. */
  public ModelInfo info() {
    return info;
  }

  /** The groups the model belongs to, for grants. */
  public ImmutableSet<String> groups() {
    return groups;
  }

  /**
   * Whether the model may serve an operation needing {@code capability}: true when the operator
   * declared it, or declared no capabilities at all (nothing to check against).
   */
  public boolean supports(ModelCapability capability) {
    return capabilities.isEmpty() || capabilities.contains(capability);
  }

  VersionEntry defaultVersion() {
    return defaultVersion;
  }

  @Nullable VersionEntry version(String name) {
    return versions.get(name);
  }
}
