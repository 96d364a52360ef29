package dev.sluice.controlplane.admin;

import com.google.rpc.BadRequest;
import dev.sluice.admin.v1.ResourceVersion;
import dev.sluice.admin.v1.VersionConflict;
import dev.sluice.controlplane.store.ResourceKey;
import dev.sluice.grpc.ApiException;
import io.grpc.Status;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletionException;

/** The admin API's errors, with the reasons documented in admin_service.proto. */
final class AdminErrors {
  private AdminErrors() {}

  /** INVALID_ARGUMENT, reason INVALID_CONFIG, with every field violation. */
  static ApiException invalidConfig(List<BadRequest.FieldViolation> violations) {
    BadRequest.FieldViolation first = violations.get(0);
    String message =
        violations.size() == 1
            ? "invalid config: " + first.getField() + ": " + first.getDescription()
            : "invalid config: "
                + violations.size()
                + " problems, first "
                + first.getField()
                + ": "
                + first.getDescription();
    return ApiException.builder(Status.Code.INVALID_ARGUMENT, "INVALID_CONFIG")
        .message(message)
        .badRequest(violations)
        .build();
  }

  static ApiException invalidConfig(String field, String description) {
    return invalidConfig(List.of(ApiException.fieldViolation(field, description)));
  }

  /** ABORTED, reason VERSION_CONFLICT, with a VersionConflict detail. */
  static ApiException versionConflict(long configVersion, Map<ResourceKey, Long> resources) {
    VersionConflict.Builder detail = VersionConflict.newBuilder().setConfigVersion(configVersion);
    StringBuilder message = new StringBuilder("stale expected version: ");
    if (resources.isEmpty()) {
      message.append("the config is at version ").append(configVersion);
    } else {
      String sep = "";
      for (Map.Entry<ResourceKey, Long> e : resources.entrySet()) {
        detail.addResources(
            ResourceVersion.newBuilder().setRef(e.getKey().toRef()).setVersion(e.getValue()));
        message.append(sep).append(e.getKey()).append(" is at version ").append(e.getValue());
        sep = ", ";
      }
    }
    return ApiException.builder(Status.Code.ABORTED, "VERSION_CONFLICT")
        .message(message + "; re-read and retry")
        .metadata("config_version", Long.toString(configVersion))
        .detail(detail.build())
        .build();
  }

  static ApiException notFound(ResourceKey key) {
    return ApiException.builder(Status.Code.NOT_FOUND, "RESOURCE_NOT_FOUND")
        .message(key + " does not exist")
        .metadata("resource", key.toString())
        .build();
  }

  static ApiException outOfRange(String message) {
    return ApiException.builder(Status.Code.OUT_OF_RANGE, "VERSION_OUT_OF_RANGE")
        .message(message)
        .build();
  }

  static ApiException historyUnavailable(long version) {
    return ApiException.builder(Status.Code.FAILED_PRECONDITION, "HISTORY_UNAVAILABLE")
        .message("config version " + version + " is no longer available")
        .metadata("version", Long.toString(version))
        .build();
  }

  static ApiException contention(int attempts) {
    return ApiException.builder(Status.Code.ABORTED, "CONCURRENT_CHANGES")
        .message(
            "the config changed concurrently on each of "
                + attempts
                + " attempts; retry (with the same request_id)")
        .build();
  }

  /**
   * Translates store read errors to the admin API's: a compacted version is HISTORY_UNAVAILABLE, a
   * never-committed one OUT_OF_RANGE.
   */
  static Throwable translateReadError(Throwable t, long version) {
    Throwable cause = t instanceof CompletionException && t.getCause() != null ? t.getCause() : t;
    if (cause instanceof ApiException api) {
      if (api.reason().equals("VERSION_COMPACTED")) {
        return historyUnavailable(version);
      }
      if (api.reason().equals("VERSION_NOT_FOUND")) {
        return outOfRange("config version " + version + " does not exist");
      }
    }
    return cause;
  }
}
