package dev.sluice.controlplane.validation;

import static java.util.Objects.requireNonNull;

import com.google.rpc.BadRequest;
import dev.sluice.controlplane.store.ResourceKey;
import org.jspecify.annotations.Nullable;

/**
 * One broken rule in a config.
 *
 * <p>Field paths use proto field names (snake_case), {@code .} between fields and {@code [i]} for
 * list elements and {@code [key]} for map entries, relative to the resource's own message (a
 * {@code Backend}, a {@code Model}, ...): for example {@code versions[0].backends[1].weight}.
 * {@link #path()} qualifies that with the resource as {@code <kind>/<name>.<field>}, where
 * {@code <kind>} is the field name of the kind in {@code sluice.config.v1.Resource}: {@code
 * backend/openai.base_url}, {@code rate_limit_policy/per-team.limits[0].window}.
 *
 * @param resource the resource the rule concerns; null for a rule about the config as a whole
 * @param field the path of the offending field within the resource; empty for the whole resource
 * @param description what is wrong, stating the value and the expectation; never a secret
 */
public record Violation(@Nullable ResourceKey resource, String field, String description) {
  public Violation {
    requireNonNull(field, "field");
    requireNonNull(description, "description");
  }

  /** The resource-qualified path, e.g. {@code model/gpt-4o.versions[0].backends[1].weight}. */
  public String path() {
    if (resource == null) {
      return field;
    }
    return field.isEmpty() ? resource.toString() : resource + "." + field;
  }

  /** This violation as a {@code google.rpc.BadRequest} field violation with {@link #path()}. */
  public BadRequest.FieldViolation toFieldViolation() {
    return toFieldViolation(path());
  }

  /** This violation as a field violation with the given path (e.g. relative to a request). */
  public BadRequest.FieldViolation toFieldViolation(String path) {
    return BadRequest.FieldViolation.newBuilder()
        .setField(path)
        .setDescription(description)
        .build();
  }

  @Override
  public String toString() {
    return path() + ": " + description;
  }
}
