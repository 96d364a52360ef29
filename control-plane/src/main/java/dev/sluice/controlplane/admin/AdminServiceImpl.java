package dev.sluice.controlplane.admin;

import static java.util.Objects.requireNonNull;

import dev.sluice.admin.v1.AdminServiceGrpc;
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
import dev.sluice.grpc.ErrorMapper;
import io.grpc.Context;
import io.grpc.Deadline;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * {@code sluice.admin.v1.AdminService} over gRPC: translation only. Each method hands the request
 * and the authenticated principal (from {@link AdminAuthInterceptor#PRINCIPAL}) to {@link
 * AdminService} and completes the call from the future, failures through {@link ErrorMapper}.
 */
public final class AdminServiceImpl extends AdminServiceGrpc.AdminServiceImplBase {
  private final AdminService admin;

  public AdminServiceImpl(AdminService admin) {
    this.admin = requireNonNull(admin, "admin");
  }

  @Override
  public void applyChanges(
      ApplyChangesRequest request, StreamObserver<ApplyChangesResponse> responses) {
    reply(admin.applyChanges(request, principal()), responses);
  }

  @Override
  public void getResource(GetResourceRequest request, StreamObserver<GetResourceResponse> responses) {
    reply(admin.getResource(request), responses);
  }

  @Override
  public void listResources(
      ListResourcesRequest request, StreamObserver<ListResourcesResponse> responses) {
    reply(admin.listResources(request), responses);
  }

  @Override
  public void deleteResource(
      DeleteResourceRequest request, StreamObserver<DeleteResourceResponse> responses) {
    reply(admin.deleteResource(request, principal()), responses);
  }

  @Override
  public void listHistory(ListHistoryRequest request, StreamObserver<ListHistoryResponse> responses) {
    reply(admin.listHistory(request), responses);
  }

  @Override
  public void rollback(RollbackRequest request, StreamObserver<RollbackResponse> responses) {
    reply(admin.rollback(request, principal()), responses);
  }

  @Override
  public void getConfigSnapshot(
      GetConfigSnapshotRequest request, StreamObserver<GetConfigSnapshotResponse> responses) {
    reply(admin.getConfigSnapshot(request), responses);
  }

  @Override
  public void getFleetStatus(
      GetFleetStatusRequest request, StreamObserver<GetFleetStatusResponse> responses) {
    reply(admin.getFleetStatus(request), responses);
  }

  @Override
  public void waitForFleetVersion(
      WaitForFleetVersionRequest request, StreamObserver<WaitForFleetVersionResponse> responses) {
    Deadline deadline = Context.current().getDeadline();
    Duration left =
        deadline == null ? null : Duration.ofNanos(deadline.timeRemaining(TimeUnit.NANOSECONDS));
    CompletableFuture<WaitForFleetVersionResponse> wait = admin.waitForFleetVersion(request, left);
    // A cancelled call stops the wait and releases its listener.
    ((ServerCallStreamObserver<WaitForFleetVersionResponse>) responses)
        .setOnCancelHandler(() -> wait.cancel(false));
    reply(wait, responses);
  }

  @Override
  public void createApiKey(
      CreateApiKeyRequest request, StreamObserver<CreateApiKeyResponse> responses) {
    reply(admin.createApiKey(request, principal()), responses);
  }

  @Override
  public void revokeApiKey(
      RevokeApiKeyRequest request, StreamObserver<RevokeApiKeyResponse> responses) {
    reply(admin.revokeApiKey(request, principal()), responses);
  }

  private static String principal() {
    String principal = AdminAuthInterceptor.PRINCIPAL.get();
    return principal == null ? "" : principal;
  }

  private static <T> void reply(CompletableFuture<T> future, StreamObserver<T> responses) {
    future.whenComplete(
        (response, failure) -> {
          if (failure != null) {
            if (failure instanceof java.util.concurrent.CancellationException) {
              return;
            }
            responses.onError(ErrorMapper.toStatusRuntimeException(failure));
          } else {
            responses.onNext(response);
            responses.onCompleted();
          }
        });
  }
}
