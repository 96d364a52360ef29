package dev.sluice.dataplane.provider;

import static java.util.Objects.requireNonNull;

import dev.sluice.inference.v1.ChatRequest;
import io.grpc.Deadline;
import org.jspecify.annotations.Nullable;

/**
 * One attempt of a chat request against one backend.
 *
 * @param request the client's request after gateway processing (templates applied, model name
 *     still the public one: adapters send {@link UpstreamTarget#upstreamModel()} instead)
 * @param target the backend and upstream model of this attempt
 * @param deadline when the attempt must be over (the client's deadline, tightened by route and
 *     backend timeouts); adapters pass it upstream and fail with {@code TIMEOUT} when it passes.
 *     Null means none.
 * @param requestId the gateway's request id, sent upstream where the provider accepts one
 */
public record ChatCall(
    ChatRequest request, UpstreamTarget target, @Nullable Deadline deadline, String requestId) {
  public ChatCall {
    requireNonNull(request, "request");
    requireNonNull(target, "target");
    requireNonNull(requestId, "requestId");
  }
}
