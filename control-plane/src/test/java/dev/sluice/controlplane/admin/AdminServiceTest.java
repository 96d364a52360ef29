package dev.sluice.controlplane.admin;

import static dev.sluice.controlplane.ControlPlaneExtension.detail;
import static dev.sluice.controlplane.ControlPlaneExtension.reason;
import static dev.sluice.controlplane.Fixtures.await;
import static dev.sluice.controlplane.Fixtures.consumer;
import static dev.sluice.controlplane.Fixtures.mockBackend;
import static dev.sluice.controlplane.Fixtures.model;
import static dev.sluice.controlplane.Fixtures.ref;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import com.google.rpc.BadRequest;
import dev.sluice.admin.v1.AdminServiceGrpc;
import dev.sluice.admin.v1.ApplyChangesRequest;
import dev.sluice.admin.v1.ApplyChangesResponse;
import dev.sluice.admin.v1.Change;
import dev.sluice.admin.v1.ChangeRecord;
import dev.sluice.admin.v1.ChangeType;
import dev.sluice.admin.v1.CreateApiKeyRequest;
import dev.sluice.admin.v1.CreateApiKeyResponse;
import dev.sluice.admin.v1.DeleteResourceRequest;
import dev.sluice.admin.v1.DeleteResourceResponse;
import dev.sluice.admin.v1.GetConfigSnapshotRequest;
import dev.sluice.admin.v1.GetResourceRequest;
import dev.sluice.admin.v1.ListHistoryRequest;
import dev.sluice.admin.v1.ListHistoryResponse;
import dev.sluice.admin.v1.ListResourcesRequest;
import dev.sluice.admin.v1.ListResourcesResponse;
import dev.sluice.admin.v1.ResourceChange;
import dev.sluice.admin.v1.ResourceDiff;
import dev.sluice.admin.v1.ResourceVersion;
import dev.sluice.admin.v1.RevokeApiKeyRequest;
import dev.sluice.admin.v1.RevokeApiKeyResponse;
import dev.sluice.admin.v1.RollbackRequest;
import dev.sluice.admin.v1.RollbackResponse;
import dev.sluice.admin.v1.VersionConflict;
import dev.sluice.config.v1.ApiKey;
import dev.sluice.config.v1.Resource;
import dev.sluice.config.v1.ResourceKind;
import dev.sluice.controlplane.ControlPlaneExtension;
import dev.sluice.controlplane.apikey.ApiKeySecrets;
import dev.sluice.controlplane.snapshot.Snapshot;
import dev.sluice.controlplane.store.ResourceKey;
import dev.sluice.controlplane.store.Resources;
import dev.sluice.controlplane.store.StoredConfig;
import dev.sluice.controlplane.ControlPlane;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.MetadataUtils;
import java.net.InetSocketAddress;
import java.util.Map;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

@Timeout(60)
class AdminServiceTest {
  @RegisterExtension final ControlPlaneExtension cp = ControlPlaneExtension.create();

  private AdminServiceGrpc.AdminServiceBlockingStub admin() {
    return cp.admin();
  }

  // ---- helpers

  private static Change upsert(Resource resource) {
    return Change.newBuilder().setUpsert(resource).build();
  }

  private static Change upsert(Resource resource, long expectedVersion) {
    return Change.newBuilder().setUpsert(resource).setExpectedVersion(expectedVersion).build();
  }

  private static Change delete(ResourceKind kind, String name) {
    return Change.newBuilder().setDelete(ref(kind, name)).build();
  }

  private ApplyChangesResponse apply(Change... changes) {
    return admin().applyChanges(ApplyChangesRequest.newBuilder().addAllChanges(List.of(changes)).build());
  }

  private ApplyChangesResponse applyBaseline() {
    return apply(upsert(mockBackend("mock")), upsert(model("chat", "mock")), upsert(consumer("team-a")));
  }

  private StoredConfig stored() {
    return await(cp.store().read());
  }

  private static StatusRuntimeException failure(Runnable call) {
    return catchThrowableOfType(StatusRuntimeException.class, call::run);
  }

  private static List<String> fieldPaths(StatusRuntimeException e) {
    return detail(e, BadRequest.class).orElseThrow().getFieldViolationsList().stream()
        .map(BadRequest.FieldViolation::getField)
        .toList();
  }

  @Nested
  class ApplyChanges {
    @Test
    void aChangeSetCommitsAsOneNewVersionWithAddedDiffs() {
      ApplyChangesResponse response = applyBaseline();

      assertThat(response.getConfigVersion()).isEqualTo(1);
      assertThat(response.getDiffsList())
          .extracting(ResourceDiff::getChangeType)
          .containsOnly(ChangeType.CHANGE_TYPE_ADDED);
      assertThat(response.getDiffs(0).getAfter().getBackend().getVersion()).isEqualTo(1);
      assertThat(stored().resources()).hasSize(3);
    }

    @Test
    void modifyingReportsBeforeAndAfter() {
      applyBaseline();

      ApplyChangesResponse response = apply(upsert(mockBackend("mock", "faster")));

      ResourceDiff diff = response.getDiffs(0);
      assertThat(diff.getChangeType()).isEqualTo(ChangeType.CHANGE_TYPE_MODIFIED);
      assertThat(diff.getBefore().getBackend().getDescription()).isEmpty();
      assertThat(diff.getBefore().getBackend().getVersion()).isEqualTo(1);
      assertThat(diff.getAfter().getBackend().getDescription()).isEqualTo("faster");
      assertThat(diff.getAfter().getBackend().getVersion()).isEqualTo(2);
    }

    @Test
    void anUnchangedUpsertWritesNothing() {
      applyBaseline();

      // The client's copy carries a version; output-only fields are ignored.
      ApplyChangesResponse response = apply(upsert(Resources.withVersion(mockBackend("mock"), 99)));

      assertThat(response.getConfigVersion()).isEqualTo(1);
      assertThat(response.getDiffs(0).getChangeType()).isEqualTo(ChangeType.CHANGE_TYPE_UNCHANGED);
      assertThat(stored().version()).isEqualTo(1);
    }

    @Test
    void aDryRunReturnsTheDiffAndWritesNothing() {
      applyBaseline();

      ApplyChangesResponse response =
          admin()
              .applyChanges(
                  ApplyChangesRequest.newBuilder()
                      .addChanges(upsert(mockBackend("other")))
                      .addChanges(delete(ResourceKind.RESOURCE_KIND_CONSUMER, "team-a"))
                      .setDryRun(true)
                      .build());

      assertThat(response.getConfigVersion()).isEqualTo(1);
      assertThat(response.getDiffsList())
          .extracting(ResourceDiff::getChangeType)
          .containsExactly(ChangeType.CHANGE_TYPE_ADDED, ChangeType.CHANGE_TYPE_DELETED);
      assertThat(stored().version()).isEqualTo(1);
      assertThat(stored().resources()).hasSize(3);
    }

    @Test
    void anInvalidChangeSetIsRejectedWithRequestRelativePathsAndNothingIsWritten() {
      applyBaseline();
      Resource template = model("chat2", "nope");
      Resource bad =
          template.toBuilder()
              .setModel(
                  template.getModel().toBuilder()
                      .setVersions(
                          0,
                          template.getModel().getVersions(0).toBuilder()
                              .setBackends(
                                  0,
                                  template.getModel().getVersions(0).getBackends(0).toBuilder()
                                      .setWeight(1001))))
              .build();
      Resource badBackend = mockBackend("Bad_Name");

      StatusRuntimeException e = failure(() -> apply(upsert(badBackend), upsert(bad)));

      assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
      assertThat(reason(e)).isEqualTo("INVALID_CONFIG");
      assertThat(fieldPaths(e))
          .containsExactly(
              "changes[0].upsert.backend.name",
              "changes[1].upsert.model.versions[0].backends[0].backend",
              "changes[1].upsert.model.versions[0].backends[0].weight");
      assertThat(stored().version()).isEqualTo(1);
    }

    @Test
    void aChangeThatBreaksAnotherResourceNamesThatResource() {
      applyBaseline();

      StatusRuntimeException e = failure(() -> apply(delete(ResourceKind.RESOURCE_KIND_BACKEND, "mock")));

      assertThat(reason(e)).isEqualTo("INVALID_CONFIG");
      assertThat(fieldPaths(e)).containsExactly("model/chat.versions[0].backends[0].backend");
    }

    @Test
    void deletingAMissingResourceIsAFieldViolation() {
      StatusRuntimeException e = failure(() -> apply(delete(ResourceKind.RESOURCE_KIND_BACKEND, "ghost")));

      assertThat(fieldPaths(e)).containsExactly("changes[0].delete");
    }

    @Test
    void theRequestShapeIsCheckedBeforeAnythingElse() {
      StatusRuntimeException empty = failure(() -> apply());
      StatusRuntimeException twice = failure(() -> apply(upsert(mockBackend("a")), upsert(mockBackend("a", "x"))));
      StatusRuntimeException noOperation = failure(() -> apply(Change.getDefaultInstance()));
      StatusRuntimeException apiKey =
          failure(
              () ->
                  apply(
                      upsert(
                          Resource.newBuilder()
                              .setApiKey(ApiKey.newBuilder().setName("k").setConsumer("c"))
                              .build())));
      List<Change> tooMany = new ArrayList<>();
      for (int i = 0; i < 101; i++) {
        tooMany.add(upsert(mockBackend("b" + i)));
      }
      StatusRuntimeException overLimit = failure(() -> apply(tooMany.toArray(Change[]::new)));

      assertThat(fieldPaths(empty)).containsExactly("changes");
      assertThat(fieldPaths(twice)).containsExactly("changes[1]");
      assertThat(fieldPaths(noOperation)).containsExactly("changes[0]");
      assertThat(fieldPaths(apiKey)).containsExactly("changes[0].upsert.api_key");
      assertThat(fieldPaths(overLimit)).containsExactly("changes");
    }

    @Test
    void aStaleExpectedConfigVersionIsAbortedWithTheCurrentVersion() {
      applyBaseline();

      StatusRuntimeException e =
          failure(
              () ->
                  admin()
                      .applyChanges(
                          ApplyChangesRequest.newBuilder()
                              .addChanges(upsert(mockBackend("x")))
                              .setExpectedConfigVersion(0)
                              .build()));

      assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.ABORTED);
      assertThat(reason(e)).isEqualTo("VERSION_CONFLICT");
      assertThat(detail(e, VersionConflict.class).orElseThrow().getConfigVersion()).isEqualTo(1);
      assertThat(stored().version()).isEqualTo(1);
    }

    @Test
    void aStaleExpectedResourceVersionNamesTheResourceAndItsVersion() {
      applyBaseline();
      apply(upsert(mockBackend("mock", "v2")));

      StatusRuntimeException e = failure(() -> apply(upsert(mockBackend("mock", "v3"), 1)));

      VersionConflict conflict = detail(e, VersionConflict.class).orElseThrow();
      assertThat(conflict.getConfigVersion()).isEqualTo(2);
      assertThat(conflict.getResourcesList())
          .containsExactly(
              ResourceVersion.newBuilder()
                  .setRef(ref(ResourceKind.RESOURCE_KIND_BACKEND, "mock"))
                  .setVersion(2)
                  .build());
    }

    @Test
    void expectedVersionZeroOnlyCreates() {
      apply(upsert(mockBackend("a"), 0));

      StatusRuntimeException e = failure(() -> apply(upsert(mockBackend("a", "again"), 0)));

      assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.ABORTED);
    }

    @Test
    void aRetryWithTheSameRequestIdReturnsTheOriginalResultAndNeverAppliesTwice() {
      ApplyChangesRequest first =
          ApplyChangesRequest.newBuilder()
              .addChanges(upsert(mockBackend("a")))
              .setRequestId("req-7f3a")
              .build();
      ApplyChangesResponse original = admin().applyChanges(first);
      apply(upsert(mockBackend("a", "someone else changed it")));

      ApplyChangesResponse retried = admin().applyChanges(first);

      assertThat(retried).isEqualTo(original);
      assertThat(stored().version()).isEqualTo(2);
      assertThat(stored().get(new ResourceKey(ResourceKind.RESOURCE_KIND_BACKEND, "a")).orElseThrow()
              .getBackend().getDescription())
          .isEqualTo("someone else changed it");
    }

    @Test
    void authorReasonAndPrincipalAreRecordedInHistory() {
      admin()
          .applyChanges(
              ApplyChangesRequest.newBuilder()
                  .addChanges(upsert(mockBackend("a")))
                  .setAuthor("alice")
                  .setReason("add a backend")
                  .setRequestId("r-1")
                  .build());

      ChangeRecord record = admin().listHistory(ListHistoryRequest.getDefaultInstance()).getChanges(0);

      assertThat(record.getAuthor()).isEqualTo("alice");
      assertThat(record.getReason()).isEqualTo("add a backend");
      assertThat(record.getPrincipal()).isEqualTo(ControlPlaneExtension.PRINCIPAL);
      assertThat(record.getRequestId()).isEqualTo("r-1");
      assertThat(record.getConfigVersion()).isEqualTo(1);
      assertThat(record.hasCommitTime()).isTrue();
      assertThat(record.getChangesList())
          .containsExactly(
              ResourceChange.newBuilder()
                  .setRef(ref(ResourceKind.RESOURCE_KIND_BACKEND, "a"))
                  .setChangeType(ChangeType.CHANGE_TYPE_ADDED)
                  .build());
    }

    @Test
    void aMalformedRequestIdIsRejected() {
      StatusRuntimeException e =
          failure(
              () ->
                  admin()
                      .applyChanges(
                          ApplyChangesRequest.newBuilder()
                              .addChanges(upsert(mockBackend("a")))
                              .setRequestId("has spaces")
                              .build()));

      assertThat(fieldPaths(e)).containsExactly("request_id");
    }
  }

  @Nested
  class Concurrency {
    @Test
    void ofManyConflictingAppliesWithTheSameExpectedVersionExactlyOneWins() throws Exception {
      applyBaseline();
      long version = stored().get(new ResourceKey(ResourceKind.RESOURCE_KIND_BACKEND, "mock"))
          .map(Resources::version).orElseThrow();
      int writers = 8;
      ExecutorService pool = Executors.newFixedThreadPool(writers);
      try {
        List<Future<Status.Code>> results = new ArrayList<>();
        for (int i = 0; i < writers; i++) {
          Resource candidate = mockBackend("mock", "writer-" + i);
          Callable<Status.Code> write =
              () -> {
                try {
                  apply(upsert(candidate, version));
                  return Status.Code.OK;
                } catch (StatusRuntimeException e) {
                  return e.getStatus().getCode();
                }
              };
          results.add(pool.submit(write));
        }
        List<Status.Code> codes = new ArrayList<>();
        for (Future<Status.Code> result : results) {
          codes.add(result.get(30, TimeUnit.SECONDS));
        }

        assertThat(codes).filteredOn(c -> c == Status.Code.OK).hasSize(1);
        assertThat(codes).filteredOn(c -> c != Status.Code.OK).containsOnly(Status.Code.ABORTED);
        assertThat(stored().version()).isEqualTo(2);
      } finally {
        pool.shutdownNow();
      }
    }

    @Test
    void concurrentIndependentAppliesAllCommitWithDistinctVersions() throws Exception {
      int writers = 8;
      ExecutorService pool = Executors.newFixedThreadPool(writers);
      try {
        List<Future<Long>> results = new ArrayList<>();
        for (int i = 0; i < writers; i++) {
          Resource backend = mockBackend("backend-" + i);
          results.add(pool.submit(() -> apply(upsert(backend)).getConfigVersion()));
        }
        List<Long> versions = new ArrayList<>();
        for (Future<Long> result : results) {
          versions.add(result.get(30, TimeUnit.SECONDS));
        }

        assertThat(versions).doesNotHaveDuplicates().allMatch(v -> v >= 1 && v <= writers);
        assertThat(stored().resources()).hasSize(writers);
      } finally {
        pool.shutdownNow();
      }
    }
  }

  @Nested
  class TwoReplicas {
    @Test
    void writersRacingThroughTwoReplicasOfOneStoreAllCommitOnce() throws Exception {
      ControlPlane second =
          ControlPlane.builder()
              .listenAddress(new InetSocketAddress("127.0.0.1", 0))
              .store(cp.store())
              .adminTokens(Map.of(ControlPlaneExtension.PRINCIPAL, ControlPlaneExtension.ADMIN_TOKEN))
              .controlPlaneId("cp-test-2")
              .build();
      second.start();
      ManagedChannel channel =
          NettyChannelBuilder.forAddress("127.0.0.1", second.port()).usePlaintext().build();
      int writers = 8;
      ExecutorService pool = Executors.newFixedThreadPool(writers);
      try {
        Metadata headers = new Metadata();
        headers.put(
            Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER),
            "Bearer " + ControlPlaneExtension.ADMIN_TOKEN);
        AdminServiceGrpc.AdminServiceBlockingStub viaSecond =
            AdminServiceGrpc.newBlockingStub(channel)
                .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers));
        List<Future<Long>> results = new ArrayList<>();
        for (int i = 0; i < writers; i++) {
          AdminServiceGrpc.AdminServiceBlockingStub stub = i % 2 == 0 ? admin() : viaSecond;
          ApplyChangesRequest request =
              ApplyChangesRequest.newBuilder()
                  .addChanges(upsert(mockBackend("backend-" + i)))
                  .setRequestId("racer-" + i)
                  .build();
          results.add(
              pool.submit(
                  () ->
                      stub.withDeadlineAfter(20, TimeUnit.SECONDS)
                          .applyChanges(request)
                          .getConfigVersion()));
        }
        List<Long> versions = new ArrayList<>();
        for (Future<Long> result : results) {
          versions.add(result.get(30, TimeUnit.SECONDS));
        }

        assertThat(versions).doesNotHaveDuplicates();
        assertThat(stored().version()).isEqualTo(writers);
        assertThat(stored().resources()).hasSize(writers);
      } finally {
        pool.shutdownNow();
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        second.close();
      }
    }
  }

  @Nested
  class GetListDelete {
    @Test
    void getReturnsTheResourceWithItsVersion() {
      applyBaseline();
      apply(upsert(mockBackend("mock", "v2")));

      var response =
          admin()
              .getResource(
                  GetResourceRequest.newBuilder()
                      .setRef(ref(ResourceKind.RESOURCE_KIND_BACKEND, "mock"))
                      .build());

      assertThat(response.getConfigVersion()).isEqualTo(2);
      assertThat(response.getResource().getBackend().getVersion()).isEqualTo(2);
      assertThat(response.getResource().getBackend().getDescription()).isEqualTo("v2");
    }

    @Test
    void getOfAMissingResourceIsNotFound() {
      StatusRuntimeException e =
          failure(
              () ->
                  admin()
                      .getResource(
                          GetResourceRequest.newBuilder()
                              .setRef(ref(ResourceKind.RESOURCE_KIND_ROUTE, "nope"))
                              .build()));

      assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.NOT_FOUND);
      assertThat(e.getStatus().getDescription()).contains("route/nope");
    }

    @Test
    void getWithoutARefIsInvalid() {
      StatusRuntimeException e = failure(() -> admin().getResource(GetResourceRequest.getDefaultInstance()));

      assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
    }

    @Test
    void listingPagesThroughOneConfigVersionEvenWhileConfigChanges() {
      for (int i = 0; i < 5; i++) {
        apply(upsert(mockBackend("b" + i)));
      }
      apply(upsert(model("chat", "b0")));

      ListResourcesResponse first =
          admin()
              .listResources(
                  ListResourcesRequest.newBuilder()
                      .addKinds(ResourceKind.RESOURCE_KIND_BACKEND)
                      .setPageSize(2)
                      .build());
      apply(upsert(mockBackend("b9")));
      List<String> names = new ArrayList<>(names(first));
      ListResourcesResponse page = first;
      while (!page.getNextPageToken().isEmpty()) {
        page =
            admin()
                .listResources(
                    ListResourcesRequest.newBuilder()
                        .addKinds(ResourceKind.RESOURCE_KIND_BACKEND)
                        .setPageSize(2)
                        .setPageToken(page.getNextPageToken())
                        .build());
        assertThat(page.getConfigVersion()).isEqualTo(first.getConfigVersion());
        names.addAll(names(page));
      }

      assertThat(first.getConfigVersion()).isEqualTo(6);
      assertThat(names).containsExactly("b0", "b1", "b2", "b3", "b4");
    }

    @Test
    void listingFiltersByLabels() {
      Resource labelled = mockBackend("x");
      labelled =
          labelled.toBuilder()
              .setBackend(labelled.getBackend().toBuilder().putLabels("team", "search"))
              .build();
      apply(upsert(labelled), upsert(mockBackend("y")));

      ListResourcesResponse response =
          admin().listResources(ListResourcesRequest.newBuilder().putLabels("team", "search").build());

      assertThat(names(response)).containsExactly("x");
    }

    @Test
    void aTokenFromOtherFiltersOrGarbageIsInvalid() {
      for (int i = 0; i < 3; i++) {
        apply(upsert(mockBackend("b" + i)));
      }
      String token =
          admin().listResources(ListResourcesRequest.newBuilder().setPageSize(1).build()).getNextPageToken();

      StatusRuntimeException otherFilters =
          failure(
              () ->
                  admin()
                      .listResources(
                          ListResourcesRequest.newBuilder()
                              .addKinds(ResourceKind.RESOURCE_KIND_MODEL)
                              .setPageToken(token)
                              .build()));
      StatusRuntimeException garbage =
          failure(
              () -> admin().listResources(ListResourcesRequest.newBuilder().setPageToken("%%%").build()));

      assertThat(otherFilters.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
      assertThat(garbage.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
      assertThat(fieldPaths(garbage)).containsExactly("page_token");
    }

    @Test
    void deleteReturnsTheResourceAsItWas() {
      applyBaseline();

      DeleteResourceResponse response =
          admin()
              .deleteResource(
                  DeleteResourceRequest.newBuilder()
                      .setRef(ref(ResourceKind.RESOURCE_KIND_CONSUMER, "team-a"))
                      .setExpectedVersion(1)
                      .build());

      assertThat(response.getConfigVersion()).isEqualTo(2);
      assertThat(response.getResource().getConsumer().getName()).isEqualTo("team-a");
      assertThat(stored().resources()).hasSize(2);
    }

    @Test
    void deletingAReferencedResourceNamesTheReferringFields() {
      applyBaseline();

      StatusRuntimeException e =
          failure(
              () ->
                  admin()
                      .deleteResource(
                          DeleteResourceRequest.newBuilder()
                              .setRef(ref(ResourceKind.RESOURCE_KIND_BACKEND, "mock"))
                              .build()));

      assertThat(reason(e)).isEqualTo("INVALID_CONFIG");
      assertThat(fieldPaths(e)).containsExactly("model/chat.versions[0].backends[0].backend");
    }

    @Test
    void deleteOfAMissingResourceIsNotFoundAndAStaleVersionAborts() {
      applyBaseline();

      StatusRuntimeException missing =
          failure(
              () ->
                  admin()
                      .deleteResource(
                          DeleteResourceRequest.newBuilder()
                              .setRef(ref(ResourceKind.RESOURCE_KIND_ROUTE, "ghost"))
                              .build()));
      StatusRuntimeException stale =
          failure(
              () ->
                  admin()
                      .deleteResource(
                          DeleteResourceRequest.newBuilder()
                              .setRef(ref(ResourceKind.RESOURCE_KIND_CONSUMER, "team-a"))
                              .setExpectedVersion(7)
                              .build()));

      assertThat(missing.getStatus().getCode()).isEqualTo(Status.Code.NOT_FOUND);
      assertThat(stale.getStatus().getCode()).isEqualTo(Status.Code.ABORTED);
      assertThat(reason(stale)).isEqualTo("VERSION_CONFLICT");
    }

    private List<String> names(ListResourcesResponse response) {
      return response.getResourcesList().stream().map(Resources::name).toList();
    }
  }

  @Nested
  class HistoryAndRollback {
    @Test
    void historyIsNewestFirstPagedAndFilterable() {
      applyBaseline();
      apply(upsert(mockBackend("mock", "v2")));
      apply(upsert(consumer("team-b")));
      apply(upsert(mockBackend("mock", "v4")));

      ListHistoryResponse firstPage =
          admin().listHistory(ListHistoryRequest.newBuilder().setPageSize(3).build());
      ListHistoryResponse secondPage =
          admin()
              .listHistory(
                  ListHistoryRequest.newBuilder()
                      .setPageSize(3)
                      .setPageToken(firstPage.getNextPageToken())
                      .build());
      ListHistoryResponse ofMock =
          admin()
              .listHistory(
                  ListHistoryRequest.newBuilder()
                      .setResource(ref(ResourceKind.RESOURCE_KIND_BACKEND, "mock"))
                      .build());

      assertThat(firstPage.getChangesList()).extracting(ChangeRecord::getConfigVersion).containsExactly(4L, 3L, 2L);
      assertThat(secondPage.getChangesList()).extracting(ChangeRecord::getConfigVersion).containsExactly(1L);
      assertThat(secondPage.getNextPageToken()).isEmpty();
      assertThat(ofMock.getChangesList()).extracting(ChangeRecord::getConfigVersion).containsExactly(4L, 2L, 1L);
    }

    @Test
    void rollbackRestoresEarlierContentAsANewVersion() {
      applyBaseline();
      apply(upsert(mockBackend("mock", "broken")), upsert(mockBackend("extra")));

      RollbackResponse response =
          admin()
              .rollback(
                  RollbackRequest.newBuilder()
                      .setToVersion(1)
                      .setExpectedConfigVersion(2)
                      .setReason("bad deploy")
                      .build());

      assertThat(response.getConfigVersion()).isEqualTo(3);
      assertThat(response.getDiffsList())
          .extracting(d -> d.getRef().getName() + ":" + d.getChangeType())
          .containsExactly("extra:CHANGE_TYPE_DELETED", "mock:CHANGE_TYPE_MODIFIED");
      StoredConfig now = stored();
      assertThat(now.version()).isEqualTo(3);
      assertThat(now.get(new ResourceKey(ResourceKind.RESOURCE_KIND_BACKEND, "mock")).orElseThrow()
              .getBackend().getDescription())
          .isEmpty();
      ChangeRecord record = admin().listHistory(ListHistoryRequest.getDefaultInstance()).getChanges(0);
      assertThat(record.getRollbackToVersion()).isEqualTo(1);
      assertThat(record.getReason()).isEqualTo("bad deploy");
    }

    @Test
    void aDryRunRollbackShowsTheDiffOnly() {
      applyBaseline();
      apply(upsert(mockBackend("extra")));

      RollbackResponse response =
          admin().rollback(RollbackRequest.newBuilder().setToVersion(1).setDryRun(true).build());

      assertThat(response.getConfigVersion()).isEqualTo(2);
      assertThat(response.getDiffsList()).hasSize(1);
      assertThat(stored().version()).isEqualTo(2);
    }

    @Test
    void rollbackToTheCurrentOrAFutureVersionIsOutOfRange() {
      applyBaseline();

      StatusRuntimeException current =
          failure(() -> admin().rollback(RollbackRequest.newBuilder().setToVersion(1).build()));
      StatusRuntimeException unset =
          failure(() -> admin().rollback(RollbackRequest.getDefaultInstance()));

      assertThat(current.getStatus().getCode()).isEqualTo(Status.Code.OUT_OF_RANGE);
      assertThat(unset.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
    }

    @Test
    void rollbackLeavesApiKeysAsTheyAre() {
      applyBaseline();
      CreateApiKeyResponse key =
          admin().createApiKey(CreateApiKeyRequest.newBuilder().setConsumer("team-a").build());
      apply(upsert(mockBackend("extra")));

      admin().rollback(RollbackRequest.newBuilder().setToVersion(1).build());

      assertThat(stored().get(new ResourceKey(ResourceKind.RESOURCE_KIND_API_KEY, key.getApiKey().getName())))
          .isPresent();
      assertThat(stored().get(new ResourceKey(ResourceKind.RESOURCE_KIND_BACKEND, "extra"))).isEmpty();
    }
  }

  @Nested
  class ApiKeys {
    @Test
    void aCreatedKeyIsShownOnceAndVerifiesAgainstTheStoredHash() {
      applyBaseline();

      CreateApiKeyResponse response =
          admin()
              .createApiKey(
                  CreateApiKeyRequest.newBuilder().setConsumer("team-a").setName("ci-key").build());

      assertThat(response.getKey()).startsWith("sk-sluice-ci-key.");
      assertThat(response.getApiKey().hasHash()).isFalse();
      assertThat(response.getApiKey().getVersion()).isEqualTo(response.getConfigVersion());
      ApiKey stored =
          stored().get(new ResourceKey(ResourceKind.RESOURCE_KIND_API_KEY, "ci-key")).orElseThrow().getApiKey();
      assertThat(stored.getHash().getSalt().size()).isEqualTo(16);
      assertThat(ApiKeySecrets.verify(response.getKey(), stored)).isTrue();
      assertThat(ApiKeySecrets.verify(response.getKey() + "x", stored)).isFalse();
    }

    @Test
    void adminReadsNeverReturnTheHash() {
      applyBaseline();
      CreateApiKeyResponse created =
          admin().createApiKey(CreateApiKeyRequest.newBuilder().setConsumer("team-a").build());
      ResourceKey key = new ResourceKey(ResourceKind.RESOURCE_KIND_API_KEY, created.getApiKey().getName());

      Resource got = admin().getResource(GetResourceRequest.newBuilder().setRef(key.toRef()).build()).getResource();
      ListResourcesResponse listed = admin().listResources(ListResourcesRequest.getDefaultInstance());
      var exported = admin().getConfigSnapshot(GetConfigSnapshotRequest.getDefaultInstance()).getSnapshot();

      assertThat(got.getApiKey().hasHash()).isFalse();
      assertThat(listed.getResourcesList()).noneMatch(r -> r.getApiKey().hasHash());
      assertThat(exported.getResourcesList()).noneMatch(r -> r.getApiKey().hasHash());
      assertThat(exported.getDigest()).isEqualTo(Snapshot.of(stored(), java.time.Instant.EPOCH).digest());
    }

    @Test
    void aKeyForAnUnknownConsumerIsInvalid() {
      StatusRuntimeException e =
          failure(() -> admin().createApiKey(CreateApiKeyRequest.newBuilder().setConsumer("nobody").build()));

      assertThat(reason(e)).isEqualTo("INVALID_CONFIG");
      assertThat(fieldPaths(e)).containsExactly("consumer");
    }

    @Test
    void aRetriedCreateCannotShowTheSecretAgain() {
      applyBaseline();
      CreateApiKeyRequest request =
          CreateApiKeyRequest.newBuilder().setConsumer("team-a").setRequestId("create-1").build();
      CreateApiKeyResponse first = admin().createApiKey(request);

      StatusRuntimeException e = failure(() -> admin().createApiKey(request));

      assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.ALREADY_EXISTS);
      assertThat(reason(e)).isEqualTo("API_KEY_SECRET_UNAVAILABLE");
      assertThat(detail(e, com.google.rpc.ErrorInfo.class).orElseThrow().getMetadataMap())
          .containsEntry("name", first.getApiKey().getName());
      assertThat(stored().version()).isEqualTo(2);
    }

    @Test
    void aTakenNameAlreadyExists() {
      applyBaseline();
      admin().createApiKey(CreateApiKeyRequest.newBuilder().setConsumer("team-a").setName("k1").build());

      StatusRuntimeException e =
          failure(
              () ->
                  admin()
                      .createApiKey(
                          CreateApiKeyRequest.newBuilder().setConsumer("team-a").setName("k1").build()));

      assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.ALREADY_EXISTS);
    }

    @Test
    void revokingWritesOnceAndRevokingAgainChangesNothing() {
      applyBaseline();
      admin().createApiKey(CreateApiKeyRequest.newBuilder().setConsumer("team-a").setName("k1").build());

      RevokeApiKeyResponse revoked = admin().revokeApiKey(RevokeApiKeyRequest.newBuilder().setName("k1").build());
      RevokeApiKeyResponse again = admin().revokeApiKey(RevokeApiKeyRequest.newBuilder().setName("k1").build());

      assertThat(revoked.getApiKey().getRevoked()).isTrue();
      assertThat(revoked.getConfigVersion()).isEqualTo(3);
      assertThat(again.getConfigVersion()).isEqualTo(3);
      assertThat(stored().version()).isEqualTo(3);
      assertThat(revoked.getApiKey().hasHash()).isFalse();
    }

    @Test
    void revokingAnUnknownKeyIsNotFound() {
      StatusRuntimeException e =
          failure(() -> admin().revokeApiKey(RevokeApiKeyRequest.newBuilder().setName("nope").build()));

      assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.NOT_FOUND);
    }
  }

  @Nested
  class Authentication {
    @Test
    void aCallWithoutCredentialsIsUnauthenticated() {
      StatusRuntimeException e =
          failure(() -> cp.adminWith(null).listHistory(ListHistoryRequest.getDefaultInstance()));

      assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED);
      assertThat(reason(e)).isEqualTo("MISSING_CREDENTIAL");
    }

    @Test
    void aWrongTokenIsUnauthenticatedAndNotEchoed() {
      StatusRuntimeException e =
          failure(
              () ->
                  cp.adminWith("Bearer wrong-token-0123456789")
                      .listHistory(ListHistoryRequest.getDefaultInstance()));

      assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED);
      assertThat(reason(e)).isEqualTo("INVALID_CREDENTIAL");
      assertThat(e.getMessage()).doesNotContain("wrong-token");
    }

    @Test
    void anInferenceApiKeyIsNotAnAdminCredential() {
      StatusRuntimeException e =
          failure(
              () ->
                  cp.adminWith("Bearer sk-sluice-k1.abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG")
                      .listHistory(ListHistoryRequest.getDefaultInstance()));

      assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED);
      assertThat(e.getStatus().getDescription()).contains("not admin credentials");
    }

    @Test
    void aNonBearerSchemeIsUnauthenticated() {
      StatusRuntimeException e =
          failure(
              () ->
                  cp.adminWith("Basic " + ControlPlaneExtension.ADMIN_TOKEN)
                      .listHistory(ListHistoryRequest.getDefaultInstance()));

      assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED);
    }

    @Test
    void healthNeedsNoCredentialAndReportsServing() {
      HealthCheckResponse health =
          HealthGrpc.newBlockingStub(cp.channel())
              .withDeadlineAfter(10, TimeUnit.SECONDS)
              .check(HealthCheckRequest.newBuilder().setService("sluice.admin.v1.AdminService").build());

      assertThat(health.getStatus()).isEqualTo(HealthCheckResponse.ServingStatus.SERVING);
    }
  }

  @Test
  void getConfigSnapshotReadsEarlierVersionsAndRefusesFutureOnes() {
    applyBaseline();
    apply(upsert(mockBackend("extra")));

    var v1 =
        admin().getConfigSnapshot(GetConfigSnapshotRequest.newBuilder().setConfigVersion(1).build()).getSnapshot();
    var models =
        admin()
            .getConfigSnapshot(
                GetConfigSnapshotRequest.newBuilder().addKinds(ResourceKind.RESOURCE_KIND_MODEL).build())
            .getSnapshot();
    StatusRuntimeException future =
        failure(
            () ->
                admin().getConfigSnapshot(GetConfigSnapshotRequest.newBuilder().setConfigVersion(9).build()));

    assertThat(v1.getVersion()).isEqualTo(1);
    assertThat(v1.getResourcesCount()).isEqualTo(3);
    assertThat(models.getResourcesList()).extracting(Resources::name).containsExactly("chat");
    assertThat(models.getDigest()).isEqualTo(Snapshot.of(stored(), java.time.Instant.EPOCH).digest());
    assertThat(future.getStatus().getCode()).isEqualTo(Status.Code.OUT_OF_RANGE);
  }

  @Test
  void theAdminTokensAreCheckedWhenBuilding() {
    assertThatThrownBy(
            () ->
                dev.sluice.controlplane.ControlPlane.builder()
                    .listenAddress(new java.net.InetSocketAddress("127.0.0.1", 0))
                    .store(cp.store())
                    .adminTokens(java.util.Map.of("ops", "short"))
                    .build())
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("ops")
        .hasMessageNotContaining("short\"");
  }
}
