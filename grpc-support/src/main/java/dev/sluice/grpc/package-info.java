/**
 * gRPC plumbing shared by the control plane and the data plane: the one error boundary that turns
 * exceptions into {@code google.rpc.Status} with an {@code ErrorInfo}, and the standard services
 * (health, reflection) every Sluice server exposes.
 */
@NullMarked
package dev.sluice.grpc;

import org.jspecify.annotations.NullMarked;
