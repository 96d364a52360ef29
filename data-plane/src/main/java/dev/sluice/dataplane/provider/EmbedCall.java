package dev.sluice.dataplane.provider;

import static java.util.Objects.requireNonNull;

import dev.sluice.inference.v1.EmbedRequest;
import io.grpc.Deadline;
import org.jspecify.annotations.Nullable;

/**
 * One attempt of an embeddings request against one backend; fields as in {@link ChatCall}.
 */
public record EmbedCall(
    EmbedRequest request, UpstreamTarget target, @Nullable Deadline deadline, String requestId) {
  public EmbedCall {
    requireNonNull(request, "request");
    requireNonNull(target, "target");
    requireNonNull(requestId, "requestId");
  }
}
