/**
 * A Sluice InferenceService upstream over gRPC ({@code BACKEND_KIND_SLUICE_GRPC}): another Sluice
 * gateway (chaining) or an in-house model server implementing the same API.
 */
@NullMarked
package dev.sluice.dataplane.provider.grpc;

import org.jspecify.annotations.NullMarked;
