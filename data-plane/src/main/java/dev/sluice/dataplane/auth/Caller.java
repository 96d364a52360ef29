package dev.sluice.dataplane.auth;

import static java.util.Objects.requireNonNull;

import com.google.common.collect.ImmutableList;
import com.google.common.collect.ImmutableSet;
import dev.sluice.config.v1.Consumer;
import io.grpc.Context;
import java.util.Collection;
import org.jspecify.annotations.Nullable;

/**
 * The authenticated caller of an inference request and what it may use.
 *
 * @param consumer the Consumer resource name ({@value #ANONYMOUS} for anonymous callers)
 * @param tenant the consumer's tenant, or null when it has none
 * @param apiKey the name (public id) of the key used, or null when none was
 * @param models model names granted; {@code *} grants every model
 * @param modelGroups model groups granted
 * @param rateLimitPolicies names of the RateLimitPolicy resources the consumer is subject to, in
 *     config order (they apply in addition to the matched route's); carried here so the request
 *     path needs no second lookup of the consumer
 * @param principal who, within the consumer, presented a JWT: {@code <iss>#<sub>} (just {@code
 *     <iss>} for a token without {@code sub}); null for API keys (see {@code apiKey}) and anonymous
 *     callers. Many people or services share one consumer, so audit needs this finer identity.
 */
public record Caller(
    String consumer,
    @Nullable String tenant,
    @Nullable String apiKey,
    ImmutableSet<String> models,
    ImmutableSet<String> modelGroups,
    ImmutableList<String> rateLimitPolicies,
    @Nullable String principal) {
  /** Consumer name of callers let in without a key when anonymous access is allowed. */
  public static final String ANONYMOUS = "anonymous";

  /** Grant of every model. */
  public static final String ALL_MODELS = "*";

  /**
   * Where the authenticated caller of the current inference call sits in the gRPC {@link Context},
   * for interceptors and logic further in (rate limits, audit).
   */
  public static final Context.Key<Caller> CONTEXT_KEY = Context.key("sluice.caller");

  public Caller {
    requireNonNull(consumer, "consumer");
    requireNonNull(models, "models");
    requireNonNull(modelGroups, "modelGroups");
    requireNonNull(rateLimitPolicies, "rateLimitPolicies");
  }

  /**
   * A caller without a key, granted every model (dev mode only). No consumer policies apply to it;
   * route policies still do.
   */
  public static Caller anonymous() {
    return new Caller(
        ANONYMOUS,
        null,
        null,
        ImmutableSet.of(ALL_MODELS),
        ImmutableSet.of(),
        ImmutableList.of(),
        null);
  }

  /** The caller behind {@code consumer}, authenticated with key {@code apiKey}. */
  public static Caller of(Consumer consumer, @Nullable String apiKey) {
    return of(consumer, apiKey, null);
  }

  /**
   * The caller behind {@code consumer}, authenticated with a JWT whose issuer and subject are
   * {@code principal}. Its grants and policies are the consumer's, as for an API key.
   */
  public static Caller ofToken(Consumer consumer, String principal) {
    return of(consumer, null, requireNonNull(principal, "principal"));
  }

  private static Caller of(
      Consumer consumer, @Nullable String apiKey, @Nullable String principal) {
    return new Caller(
        consumer.getName(),
        consumer.getTenant().isEmpty() ? null : consumer.getTenant(),
        apiKey,
        ImmutableSet.copyOf(consumer.getModelsList()),
        ImmutableSet.copyOf(consumer.getModelGroupsList()),
        ImmutableList.copyOf(consumer.getRateLimitPoliciesList()),
        principal);
  }

  /** Whether the caller is granted every model, existing or not. */
  public boolean grantedAllModels() {
    return models.contains(ALL_MODELS);
  }

  /**
   * Whether the caller may use a model. A grant names a model by its canonical name or any alias
   * and covers all its names; a group grant covers the group's models.
   *
   * @param requestedName the name or alias in the request
   * @param canonicalName the model's canonical name, or null when no model has that name
   * @param aliases the model's aliases (empty when there is no model)
   * @param groups the model's groups (empty when there is no model)
   */
  public boolean mayUse(
      String requestedName,
      @Nullable String canonicalName,
      Collection<String> aliases,
      Collection<String> groups) {
    if (grantedAllModels() || models.contains(requestedName)) {
      return true;
    }
    if (canonicalName == null) {
      return false;
    }
    if (models.contains(canonicalName)) {
      return true;
    }
    for (String alias : aliases) {
      if (models.contains(alias)) {
        return true;
      }
    }
    for (String group : groups) {
      if (modelGroups.contains(group)) {
        return true;
      }
    }
    return false;
  }
}
