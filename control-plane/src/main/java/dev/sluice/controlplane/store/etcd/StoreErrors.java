package dev.sluice.controlplane.store.etcd;

import dev.sluice.grpc.ApiException;
import io.etcd.jetcd.common.exception.ClosedClientException;
import io.etcd.jetcd.common.exception.CompactedException;
import io.etcd.jetcd.common.exception.EtcdException;
import io.grpc.Metadata;
import io.grpc.Status;
import java.util.Locale;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeoutException;
import org.jspecify.annotations.Nullable;

/**
 * Turns what jetcd and gRPC throw into the {@link ApiException}s of the store contract.
 *
 * <p>jetcd surfaces failures of KV calls as the raw {@code StatusRuntimeException} (possibly
 * wrapped), of watches as {@link EtcdException}, and of our own timeouts as {@link
 * TimeoutException}; these helpers look through all three.
 */
final class StoreErrors {
  static final String STORE_UNAVAILABLE = "STORE_UNAVAILABLE";
  static final String STORE_OUTCOME_UNKNOWN = "STORE_OUTCOME_UNKNOWN";
  static final String VERSION_COMPACTED = "VERSION_COMPACTED";
  static final String VERSION_NOT_FOUND = "VERSION_NOT_FOUND";

  private StoreErrors() {}

  /** The failure itself, without the wrappers futures add. */
  static Throwable unwrap(Throwable t) {
    Throwable current = t;
    while ((current instanceof CompletionException || current instanceof ExecutionException)
        && current.getCause() != null) {
      current = current.getCause();
    }
    return current;
  }

  /** The gRPC code of a failure; {@code DEADLINE_EXCEEDED} for our own timeout. */
  static Status.Code code(Throwable t) {
    Throwable cause = unwrap(t);
    if (cause instanceof TimeoutException) {
      return Status.Code.DEADLINE_EXCEEDED;
    }
    if (cause instanceof ClosedClientException || cause instanceof CancellationException) {
      return Status.Code.CANCELLED;
    }
    if (cause instanceof EtcdException etcd) {
      return Status.Code.valueOf(etcd.getErrorCode().name());
    }
    return Status.fromThrowable(cause).getCode();
  }

  private static String description(Throwable t) {
    Throwable cause = unwrap(t);
    if (cause instanceof EtcdException) {
      return String.valueOf(cause.getMessage());
    }
    String description = Status.fromThrowable(cause).getDescription();
    return description == null ? String.valueOf(cause.getMessage()) : description;
  }

  /** Whether the failure says etcd could not be reached (as opposed to etcd refusing the call). */
  static boolean isConnectivity(Throwable t) {
    Status.Code code = code(t);
    return code == Status.Code.UNAVAILABLE || code == Status.Code.DEADLINE_EXCEEDED;
  }

  /** Whether the revision read or watched has been compacted away. */
  static boolean isCompacted(Throwable t) {
    Throwable cause = unwrap(t);
    return cause instanceof CompactedException
        || (code(t) == Status.Code.OUT_OF_RANGE && description(t).contains("compacted"));
  }

  /** Whether the revision read is newer than etcd's current revision. */
  static boolean isFutureRevision(Throwable t) {
    return code(t) == Status.Code.OUT_OF_RANGE && description(t).contains("future revision");
  }

  /** etcd rejected a put attached to a lease that no longer exists (nothing was written). */
  static boolean isLeaseNotFound(Throwable t) {
    return code(t) == Status.Code.NOT_FOUND && description(t).contains("lease not found");
  }

  /**
   * etcd refused a transaction for having more operations than its {@code --max-txn-ops} allows;
   * it checks this before applying anything, so nothing was written.
   */
  static boolean isTooManyOps(Throwable t) {
    return code(t) == Status.Code.INVALID_ARGUMENT
        && description(t).contains("too many operations in txn request");
  }

  /** Whether the call certainly never reached etcd (see {@link DeadlineInterceptor}). */
  static boolean wasNotSent(Throwable t) {
    Metadata trailers = Status.trailersFromThrowable(unwrap(t));
    return trailers != null && trailers.containsKey(DeadlineInterceptor.NOT_SENT);
  }

  /**
   * Whether etcd refused our credentials or their lack. etcd reports some of these as {@code
   * INVALID_ARGUMENT} ("user name is empty", "authentication failed"), which must not read as a
   * change being too large.
   */
  private static boolean isAccessDenied(Throwable t) {
    Status.Code code = code(t);
    if (code == Status.Code.UNAUTHENTICATED || code == Status.Code.PERMISSION_DENIED) {
      return true;
    }
    String description = description(t);
    return code == Status.Code.INVALID_ARGUMENT
        && (description.contains("user name is empty")
            || description.contains("authentication failed"));
  }

  /** The error for a failed read or any call that changes nothing. */
  static ApiException forRead(String operation, Throwable t) {
    return map(operation, t, false, null);
  }

  /**
   * The error for a failed commit. A commit that may have reached etcd has an unknown outcome: etcd
   * may have applied it even though no answer arrived, so it must not be reported as not written;
   * the caller retries with the same request id and {@code findByRequestId} tells.
   */
  static ApiException forCommit(Throwable t, @Nullable String requestId) {
    return map("commit", t, true, requestId);
  }

  private static ApiException map(
      String operation, Throwable t, boolean mutating, @Nullable String requestId) {
    Throwable cause = unwrap(t);
    if (cause instanceof ApiException api) {
      return api;
    }
    Status.Code code = isAccessDenied(cause) ? Status.Code.PERMISSION_DENIED : code(cause);
    ApiException.Builder error =
        switch (code) {
          case UNAVAILABLE, DEADLINE_EXCEEDED, CANCELLED, UNKNOWN, INTERNAL, ABORTED -> {
            if (mutating && !wasNotSent(cause)) {
              yield ApiException.builder(Status.Code.UNAVAILABLE, STORE_OUTCOME_UNKNOWN)
                  .message(
                      "the config store did not confirm the "
                          + operation
                          + "; it may or may not have been applied (retry with the same request"
                          + " id)");
            }
            yield ApiException.builder(Status.Code.UNAVAILABLE, STORE_UNAVAILABLE)
                .message("the config store is unavailable; nothing was written");
          }
          case RESOURCE_EXHAUSTED ->
              description(cause).contains("space exceeded")
                  ? ApiException.builder(Status.Code.RESOURCE_EXHAUSTED, "STORE_FULL")
                      .message("the config store is out of space; nothing was written")
                  // gRPC's own message size limit, hit before etcd's request size limit
                  : ApiException.builder(Status.Code.INVALID_ARGUMENT, "CHANGE_TOO_LARGE")
                      .message("the config store rejected the " + operation + " as too large");
          case INVALID_ARGUMENT ->
              ApiException.builder(Status.Code.INVALID_ARGUMENT, "CHANGE_TOO_LARGE")
                  .message("the config store rejected the " + operation + " as too large");
          case UNAUTHENTICATED, PERMISSION_DENIED ->
              ApiException.builder(Status.Code.INTERNAL, "STORE_ACCESS_DENIED")
                  .message("the config store denied access to this control plane");
          default ->
              ApiException.builder(Status.Code.INTERNAL, "STORE_ERROR")
                  .message("the config store failed the " + operation);
        };
    error
        .metadata("operation", operation)
        .metadata("store_status", code.name().toLowerCase(Locale.ROOT))
        .cause(cause);
    if (requestId != null && !requestId.isEmpty()) {
      error.metadata("request_id", requestId);
    }
    return error.build();
  }

  static ApiException closed() {
    return ApiException.builder(Status.Code.UNAVAILABLE, STORE_UNAVAILABLE)
        .message("the config store is closed")
        .build();
  }
}
