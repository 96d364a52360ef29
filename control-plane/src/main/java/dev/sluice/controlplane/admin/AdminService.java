package dev.sluice.controlplane.admin;

import dev.sluice.admin.v1.ApplyChangesRequest;
import dev.sluice.admin.v1.ApplyChangesResponse;
import dev.sluice.admin.v1.CreateApiKeyRequest;
import dev.sluice.admin.v1.CreateApiKeyResponse;
import dev.sluice.admin.v1.DeleteResourceRequest;
import dev.sluice.admin.v1.DeleteResourceResponse;
import dev.sluice.admin.v1.GetConfigSnapshotRequest;
import dev.sluice.admin.v1.GetConfigSnapshotResponse;
import dev.sluice.admin.v1.GetFleetStatusRequest;
import dev.sluice.admin.v1.GetFleetStatusResponse;
import dev.sluice.admin.v1.GetResourceRequest;
import dev.sluice.admin.v1.GetResourceResponse;
import dev.sluice.admin.v1.ListHistoryRequest;
import dev.sluice.admin.v1.ListHistoryResponse;
import dev.sluice.admin.v1.ListResourcesRequest;
import dev.sluice.admin.v1.ListResourcesResponse;
import dev.sluice.admin.v1.RevokeApiKeyRequest;
import dev.sluice.admin.v1.RevokeApiKeyResponse;
import dev.sluice.admin.v1.RollbackRequest;
import dev.sluice.admin.v1.RollbackResponse;
import dev.sluice.admin.v1.WaitForFleetVersionRequest;
import dev.sluice.admin.v1.WaitForFleetVersionResponse;
import dev.sluice.controlplane.discovery.FleetView;
import dev.sluice.controlplane.snapshot.SnapshotSource;
import dev.sluice.controlplane.store.ConfigStore;
import dev.sluice.controlplane.validation.ConfigValidator;
import java.time.Clock;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.ScheduledExecutorService;

/**
 * The rules of {@code sluice.admin.v1.AdminService}, without gRPC: every method takes the request
 * message (and, for mutations, the authenticated principal recorded in history) and returns a
 * future of the response. Failures are {@link dev.sluice.grpc.ApiException}s with the codes and
 * reasons documented in {@code admin_service.proto}.
 *
 * <h2>Writes</h2>
 *
 * Every mutation is validate-then-commit: read the current config, build the whole candidate,
 * run {@link ConfigValidator} on it, and commit with compare-and-set on the head version. When only
 * the head moved (another change landed in between), the mutation is re-planned against the new
 * head, up to 5 times, then fails ABORTED (reason {@code CONCURRENT_CHANGES}). Stale
 * caller-supplied versions fail ABORTED (reason {@code VERSION_CONFLICT}) with a {@code
 * VersionConflict} detail at once. A mutation with a {@code request_id} that already committed
 * returns the committed result (reconstructed from history) and writes nothing; the check runs on
 * every attempt, so two concurrent requests with one id still commit once.
 *
 * <h2>Field paths</h2>
 *
 * Violations in a resource the request upserts are reported relative to the request ({@code
 * changes[3].upsert.model.versions[0].backends[1].weight}); violations elsewhere in the config
 * (for example a route still referring to a deleted backend) by resource ({@code
 * route/canary.destinations[0].model}; see {@link dev.sluice.controlplane.validation.Violation}).
 *
 * <h2>Secrets</h2>
 *
 * No response carries an API key hash; the plain key exists only in {@link #createApiKey}'s
 * response.
 */
public interface AdminService {
  CompletableFuture<ApplyChangesResponse> applyChanges(
      ApplyChangesRequest request, String principal);

  CompletableFuture<GetResourceResponse> getResource(GetResourceRequest request);

  CompletableFuture<ListResourcesResponse> listResources(ListResourcesRequest request);

  CompletableFuture<DeleteResourceResponse> deleteResource(
      DeleteResourceRequest request, String principal);

  CompletableFuture<ListHistoryResponse> listHistory(ListHistoryRequest request);

  CompletableFuture<RollbackResponse> rollback(RollbackRequest request, String principal);

  CompletableFuture<GetConfigSnapshotResponse> getConfigSnapshot(GetConfigSnapshotRequest request);

  CompletableFuture<GetFleetStatusResponse> getFleetStatus(GetFleetStatusRequest request);

  /**
   * Waits as {@code WaitForFleetVersion} says. {@code callTimeLeft} is the time left until the
   * caller's deadline, if it has one: the wait then ends a little before it, so the caller gets an
   * answer rather than DEADLINE_EXCEEDED. Cancelling the future stops the wait.
   */
  CompletableFuture<WaitForFleetVersionResponse> waitForFleetVersion(
      WaitForFleetVersionRequest request, @org.jspecify.annotations.Nullable Duration callTimeLeft);

  CompletableFuture<CreateApiKeyResponse> createApiKey(
      CreateApiKeyRequest request, String principal);

  CompletableFuture<RevokeApiKeyResponse> revokeApiKey(
      RevokeApiKeyRequest request, String principal);

  /**
   * The admin logic over {@code store}.
   *
   * @param fleet the nodes fleet queries report: the whole fleet (a {@link
   *     dev.sluice.controlplane.discovery.MergedFleetView}) in a replica
   * @param executor runs planning and validation, off the store's threads
   * @param scheduler times fleet waits
   */
  static AdminService create(
      ConfigStore store,
      ConfigValidator validator,
      SnapshotSource snapshots,
      FleetView fleet,
      Executor executor,
      ScheduledExecutorService scheduler,
      Clock clock) {
    return new ConfigAdminService(store, validator, snapshots, fleet, executor, scheduler, clock);
  }
}
