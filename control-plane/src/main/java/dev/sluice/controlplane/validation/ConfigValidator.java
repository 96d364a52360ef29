package dev.sluice.controlplane.validation;

import com.google.common.collect.ImmutableList;
import dev.sluice.config.v1.Resource;
import dev.sluice.controlplane.store.ResourceKey;
import java.util.Map;

/**
 * Checks a whole candidate config: every resource on its own (names, sizes, required fields,
 * ranges, kind-specific settings, secrets only by reference) and all of them together (every
 * reference resolves, model names and aliases are unique, ...).
 *
 * <p>It reports every violation it finds, not just the first, in resource order and then field
 * order, so one round trip shows an operator everything to fix. It is pure and thread-safe: the
 * same instance serves admin writes and snapshot builds, which therefore accept exactly the same
 * configs.
 */
public interface ConfigValidator {
  /** Resource names: {@code ^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$}. */
  String NAME_PATTERN = "[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?";

  /** The largest encoded size of one resource, 256 KiB. */
  int MAX_RESOURCE_BYTES = 256 * 1024;

  /** The longest description, in characters. */
  int MAX_DESCRIPTION_CHARS = 1024;

  /** Returns every violation in {@code config}; empty when it is valid. */
  ImmutableList<Violation> validate(Map<ResourceKey, Resource> config);

  /** The validator of Sluice's documented rules (see the comments in sluice/config/v1). */
  static ConfigValidator create() {
    return new StandardConfigValidator();
  }

  /** Whether {@code name} is a valid resource name. */
  static boolean isValidName(String name) {
    return FieldRules.NAME.matcher(name).matches();
  }
}
