/**
 * The gRPC face of the data plane: {@code sluice.inference.v1.InferenceService} and the
 * interceptors in front of it (metrics, the error boundary, authentication).
 *
 * <p>{@link dev.sluice.dataplane.server.InferenceServiceImpl} only translates between gRPC and the
 * {@code InferenceHandler}, which validates requests, checks grants, resolves models, admits each
 * request against its rate limits and hands the work to the router.
 */
@NullMarked
package dev.sluice.dataplane.server;

import org.jspecify.annotations.NullMarked;
