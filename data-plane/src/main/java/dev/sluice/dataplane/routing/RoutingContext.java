package dev.sluice.dataplane.routing;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.Timestamp;
import io.grpc.Deadline;
import org.jspecify.annotations.Nullable;

/**
 * Who asks and under which constraints: everything about a request that routing needs besides its
 * body.
 *
 * @param requestId the request id (the client's or a generated one)
 * @param consumer the calling consumer, or null when unknown
 * @param tenant the consumer's tenant, or null when it has none
 * @param headers the request metadata, for header matches and sticky routing
 * @param deadline the client's deadline, or null when it set none
 * @param createTime when the gateway started serving the request
 * @param startNanos the same instant on the {@link System#nanoTime()} scale
 */
public record RoutingContext(
    String requestId,
    @Nullable String consumer,
    @Nullable String tenant,
    RequestHeaders headers,
    @Nullable Deadline deadline,
    Timestamp createTime,
    long startNanos) {
  public RoutingContext {
    requireNonNull(requestId, "requestId");
    requireNonNull(headers, "headers");
    requireNonNull(createTime, "createTime");
  }
}
