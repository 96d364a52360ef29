package dev.sluice.controlplane.admin;

import static java.util.Objects.requireNonNull;

import com.google.common.collect.ImmutableList;
import com.google.common.collect.ImmutableMap;
import com.google.protobuf.util.Durations;
import com.google.protobuf.util.Timestamps;
import com.google.rpc.BadRequest;
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
import dev.sluice.admin.v1.GetConfigSnapshotResponse;
import dev.sluice.admin.v1.GetFleetStatusRequest;
import dev.sluice.admin.v1.GetFleetStatusResponse;
import dev.sluice.admin.v1.GetResourceRequest;
import dev.sluice.admin.v1.GetResourceResponse;
import dev.sluice.admin.v1.ListHistoryRequest;
import dev.sluice.admin.v1.ListHistoryResponse;
import dev.sluice.admin.v1.ListResourcesRequest;
import dev.sluice.admin.v1.ListResourcesResponse;
import dev.sluice.admin.v1.ResourceChange;
import dev.sluice.admin.v1.ResourceDiff;
import dev.sluice.admin.v1.RevokeApiKeyRequest;
import dev.sluice.admin.v1.RevokeApiKeyResponse;
import dev.sluice.admin.v1.RollbackRequest;
import dev.sluice.admin.v1.RollbackResponse;
import dev.sluice.admin.v1.WaitForFleetVersionRequest;
import dev.sluice.admin.v1.WaitForFleetVersionResponse;
import dev.sluice.config.v1.ApiKey;
import dev.sluice.config.v1.ConfigSnapshot;
import dev.sluice.config.v1.Resource;
import dev.sluice.config.v1.ResourceKind;
import dev.sluice.config.v1.ResourceRef;
import dev.sluice.controlplane.apikey.ApiKeySecrets;
import dev.sluice.controlplane.discovery.FleetView;
import dev.sluice.controlplane.snapshot.Snapshot;
import dev.sluice.controlplane.snapshot.SnapshotSource;
import dev.sluice.controlplane.store.Commit;
import dev.sluice.controlplane.store.CommitOutcome;
import dev.sluice.controlplane.store.ConfigStore;
import dev.sluice.controlplane.store.ResourceKey;
import dev.sluice.controlplane.store.Resources;
import dev.sluice.controlplane.store.StoredConfig;
import dev.sluice.controlplane.validation.ConfigValidator;
import dev.sluice.controlplane.validation.Violation;
import dev.sluice.grpc.ApiException;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Executor;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.regex.Pattern;
import org.jspecify.annotations.Nullable;

/** The standard {@link AdminService}: see there for the rules. */
final class ConfigAdminService implements AdminService {
  static final int MAX_CHANGES = 100;
  static final int MAX_REQUEST_BYTES = 1024 * 1024;
  static final int MAX_WRITE_ATTEMPTS = 5;
  static final int DEFAULT_PAGE_SIZE = 100;
  static final int MAX_PAGE_SIZE = 1000;
  private static final int MAX_TEXT_CHARS = 1024;
  private static final Pattern REQUEST_ID = Pattern.compile("[A-Za-z0-9._:-]{0,128}");

  private final ConfigStore store;
  private final ConfigValidator validator;
  private final Executor executor;
  private final Clock clock;
  private final FleetQueries fleetQueries;
  private final Object writeLaneLock = new Object();

  /** Completes when the last queued mutation has finished (either way). */
  private CompletableFuture<@Nullable Void> writeLane = CompletableFuture.completedFuture(null);

  ConfigAdminService(
      ConfigStore store,
      ConfigValidator validator,
      SnapshotSource snapshots,
      FleetView fleet,
      Executor executor,
      ScheduledExecutorService scheduler,
      Clock clock) {
    this.store = requireNonNull(store, "store");
    this.validator = requireNonNull(validator, "validator");
    this.executor = requireNonNull(executor, "executor");
    this.clock = requireNonNull(clock, "clock");
    this.fleetQueries =
        new FleetQueries(
            store,
            requireNonNull(snapshots, "snapshots"),
            requireNonNull(fleet, "fleet"),
            requireNonNull(scheduler, "scheduler"),
            executor);
  }

  // ---------------------------------------------------------------------------------------------
  // The write loop shared by every mutation.

  /** What a mutation does against one config version. */
  private sealed interface Plan<T> permits Done, Write {}

  /** Nothing to commit (dry run, no change): answer {@code result}. */
  private record Done<T>(T result) implements Plan<T> {}

  /** Commit {@code commit}; answer {@code onCommitted(record)}. */
  private record Write<T>(Commit commit, Function<ChangeRecord, T> onCommitted)
      implements Plan<T> {}

  /**
   * Runs a mutation on this replica's write lane: mutations of one replica run one after another,
   * so they never race each other for the head; only changes committed by other replicas (or
   * other processes) make a commit find the head moved.
   */
  private <T> CompletableFuture<T> write(
      String requestId,
      Function<ChangeRecord, CompletableFuture<T>> replay,
      Function<StoredConfig, CompletableFuture<Plan<T>>> planner) {
    synchronized (writeLaneLock) {
      CompletableFuture<T> result =
          writeLane.thenCompose(ignored -> attempt(requestId, replay, planner, 1));
      writeLane = result.handle((r, t) -> null);
      return result;
    }
  }

  /**
   * One attempt: answers from history if {@code requestId} already committed; otherwise plans
   * against the current config and commits with compare-and-set on its version, planning again
   * after a short jittered pause when only the head moved.
   */
  private <T> CompletableFuture<T> attempt(
      String requestId,
      Function<ChangeRecord, CompletableFuture<T>> replay,
      Function<StoredConfig, CompletableFuture<Plan<T>>> planner,
      int attempt) {
    CompletableFuture<Optional<ChangeRecord>> prior =
        requestId.isEmpty()
            ? CompletableFuture.completedFuture(Optional.empty())
            : store.findByRequestId(requestId);
    return prior.thenComposeAsync(
        found -> {
          if (found.isPresent()) {
            return replay.apply(found.get());
          }
          return store
              .read()
              .thenComposeAsync(planner, executor)
              .thenCompose(
                  plan -> {
                    if (plan instanceof Done<T> done) {
                      return CompletableFuture.completedFuture(done.result());
                    }
                    Write<T> write = (Write<T>) plan;
                    return store
                        .commit(write.commit())
                        .thenComposeAsync(
                            outcome -> {
                              if (outcome instanceof CommitOutcome.Committed committed) {
                                return CompletableFuture.completedFuture(
                                    write.onCommitted().apply(committed.record()));
                              }
                              if (outcome instanceof CommitOutcome.Conflict conflict) {
                                throw AdminErrors.versionConflict(
                                    conflict.currentHeadVersion(), conflict.currentVersions());
                              }
                              if (attempt >= MAX_WRITE_ATTEMPTS) {
                                throw AdminErrors.contention(attempt);
                              }
                              // Another replica won the race; let it finish, then re-plan.
                              long pauseMillis =
                                  ThreadLocalRandom.current().nextLong(5, 20) * attempt;
                              return CompletableFuture.supplyAsync(
                                      () -> null,
                                      CompletableFuture.delayedExecutor(
                                          pauseMillis, TimeUnit.MILLISECONDS, executor))
                                  .thenCompose(
                                      ignored -> attempt(requestId, replay, planner, attempt + 1));
                            },
                            executor);
                  });
        },
        executor);
  }

  // ---------------------------------------------------------------------------------------------
  // ApplyChanges

  @Override
  public CompletableFuture<ApplyChangesResponse> applyChanges(
      ApplyChangesRequest request, String principal) {
    List<BadRequest.FieldViolation> violations = new ArrayList<>();
    checkMutationFields(
        violations, request.getRequestId(), request.getAuthor(), request.getReason());
    List<ResourceKey> keys = checkChanges(request, violations);
    if (!violations.isEmpty()) {
      return CompletableFuture.failedFuture(AdminErrors.invalidConfig(violations));
    }
    return write(
        request.getRequestId(),
        record ->
            reconstructDiffs(keys, record)
                .thenApply(
                    diffs ->
                        ApplyChangesResponse.newBuilder()
                            .setConfigVersion(record.getConfigVersion())
                            .addAllDiffs(diffs)
                            .build()),
        config -> CompletableFuture.completedFuture(planApply(request, keys, principal, config)));
  }

  /** Checks the shape of the change set; returns the resource key of each change. */
  private static List<ResourceKey> checkChanges(
      ApplyChangesRequest request, List<BadRequest.FieldViolation> violations) {
    int count = request.getChangesCount();
    if (count == 0 || count > MAX_CHANGES) {
      violations.add(
          ApiException.fieldViolation(
              "changes", count + " changes (expected: 1 to " + MAX_CHANGES + ")"));
    }
    int size = request.getSerializedSize();
    if (size > MAX_REQUEST_BYTES) {
      violations.add(
          ApiException.fieldViolation(
              "changes", "the request is " + size + " bytes (expected: at most 1 MiB)"));
    }
    if (request.hasExpectedConfigVersion() && request.getExpectedConfigVersion() < 0) {
      violations.add(
          ApiException.fieldViolation(
              "expected_config_version",
              request.getExpectedConfigVersion() + " (expected: >= 0)"));
    }
    List<ResourceKey> keys = new ArrayList<>();
    Map<ResourceKey, Integer> firstIndex = new HashMap<>();
    for (int i = 0; i < count; i++) {
      Change change = request.getChanges(i);
      String field = "changes[" + i + "]";
      ResourceKey key = null;
      switch (change.getOperationCase()) {
        case UPSERT -> {
          Resource resource = change.getUpsert();
          if (resource.getKindCase() == Resource.KindCase.KIND_NOT_SET) {
            violations.add(ApiException.fieldViolation(field + ".upsert", "set one resource kind"));
          } else if (resource.getKindCase() == Resource.KindCase.API_KEY) {
            violations.add(
                ApiException.fieldViolation(
                    field + ".upsert.api_key",
                    "API keys are created with CreateApiKey and revoked with RevokeApiKey"));
          } else {
            key = ResourceKey.of(resource);
            int bytes = resource.getSerializedSize();
            if (bytes > ConfigValidator.MAX_RESOURCE_BYTES) {
              violations.add(
                  ApiException.fieldViolation(
                      field + ".upsert",
                      "the resource is " + bytes + " bytes encoded (expected: at most 256 KiB)"));
            }
          }
        }
        case DELETE -> key = checkRef(change.getDelete(), field + ".delete", violations);
        case OPERATION_NOT_SET ->
            violations.add(ApiException.fieldViolation(field, "set exactly one of upsert and delete"));
      }
      if (change.hasExpectedVersion() && change.getExpectedVersion() < 0) {
        violations.add(
            ApiException.fieldViolation(
                field + ".expected_version", change.getExpectedVersion() + " (expected: >= 0)"));
      }
      if (key != null) {
        Integer earlier = firstIndex.putIfAbsent(key, i);
        if (earlier != null) {
          violations.add(
              ApiException.fieldViolation(
                  field, key + " is already changed by changes[" + earlier + "]"));
        }
      }
      keys.add(key);
    }
    return keys;
  }

  private Plan<ApplyChangesResponse> planApply(
      ApplyChangesRequest request, List<ResourceKey> keys, String principal, StoredConfig config) {
    if (request.hasExpectedConfigVersion()
        && request.getExpectedConfigVersion() != config.version()) {
      throw AdminErrors.versionConflict(config.version(), ImmutableMap.of());
    }
    TreeMap<ResourceKey, Resource> candidate = new TreeMap<>(config.resources());
    Map<ResourceKey, Long> expected = new TreeMap<>();
    Map<ResourceKey, Long> mismatched = new TreeMap<>();
    Map<ResourceKey, Integer> requestIndex = new HashMap<>();
    List<BadRequest.FieldViolation> violations = new ArrayList<>();
    List<Resource> upserts = new ArrayList<>();
    List<ResourceKey> deletes = new ArrayList<>();
    List<ResourceDiff.Builder> diffs = new ArrayList<>();
    for (int i = 0; i < request.getChangesCount(); i++) {
      Change change = request.getChanges(i);
      ResourceKey key = keys.get(i);
      Optional<Resource> before = config.get(key);
      requestIndex.put(key, i);
      if (change.hasExpectedVersion()) {
        long actual = before.map(Resources::version).orElse(0L);
        expected.put(key, change.getExpectedVersion());
        if (actual != change.getExpectedVersion()) {
          mismatched.put(key, actual);
        }
      }
      ResourceDiff.Builder diff = ResourceDiff.newBuilder().setRef(key.toRef());
      if (change.hasUpsert()) {
        Resource after = Resources.withVersion(change.getUpsert(), 0);
        if (before.isPresent() && Resources.withVersion(before.get(), 0).equals(after)) {
          diff.setChangeType(ChangeType.CHANGE_TYPE_UNCHANGED)
              .setBefore(redact(before.get()))
              .setAfter(redact(before.get()));
        } else {
          diff.setChangeType(
                  before.isPresent() ? ChangeType.CHANGE_TYPE_MODIFIED : ChangeType.CHANGE_TYPE_ADDED)
              .setAfter(after);
          before.ifPresent(b -> diff.setBefore(redact(b)));
          candidate.put(key, after);
          upserts.add(after);
        }
      } else if (before.isEmpty()) {
        violations.add(
            ApiException.fieldViolation("changes[" + i + "].delete", key + " does not exist"));
      } else {
        diff.setChangeType(ChangeType.CHANGE_TYPE_DELETED).setBefore(redact(before.get()));
        candidate.remove(key);
        deletes.add(key);
      }
      diffs.add(diff);
    }
    if (!mismatched.isEmpty()) {
      throw AdminErrors.versionConflict(config.version(), mismatched);
    }
    violations.addAll(requestRelative(validator.validate(candidate), requestIndex));
    if (!violations.isEmpty()) {
      throw AdminErrors.invalidConfig(violations);
    }
    if (request.getDryRun() || (upserts.isEmpty() && deletes.isEmpty())) {
      return new Done<>(applyResponse(config.version(), diffs, 0));
    }
    ChangeRecord record =
        record(principal, request.getAuthor(), request.getReason(), request.getRequestId())
            .addAllChanges(resourceChanges(diffs))
            .build();
    Commit commit =
        new Commit(
            config.version(),
            ImmutableList.copyOf(upserts),
            ImmutableList.copyOf(deletes),
            ImmutableMap.copyOf(expected),
            record);
    return new Write<>(
        commit, committed -> applyResponse(committed.getConfigVersion(), diffs, committed.getConfigVersion()));
  }

  private static ApplyChangesResponse applyResponse(
      long configVersion, List<ResourceDiff.Builder> diffs, long newVersion) {
    ApplyChangesResponse.Builder response =
        ApplyChangesResponse.newBuilder().setConfigVersion(configVersion);
    for (ResourceDiff.Builder diff : diffs) {
      ResourceDiff d = diff.build();
      if (newVersion > 0
          && (d.getChangeType() == ChangeType.CHANGE_TYPE_ADDED
              || d.getChangeType() == ChangeType.CHANGE_TYPE_MODIFIED)) {
        d = d.toBuilder().setAfter(Resources.withVersion(d.getAfter(), newVersion)).build();
      }
      response.addDiffs(d);
    }
    return response.build();
  }

  /**
   * Maps validator violations to request paths for resources the request names ({@code
   * changes[i].upsert.<kind>.<field>}), and keeps resource paths for the others.
   */
  private static List<BadRequest.FieldViolation> requestRelative(
      List<Violation> violations, Map<ResourceKey, Integer> requestIndex) {
    List<BadRequest.FieldViolation> out = new ArrayList<>();
    for (Violation v : violations) {
      Integer index = v.resource() == null ? null : requestIndex.get(v.resource());
      if (index == null) {
        out.add(v.toFieldViolation());
      } else {
        String kindField =
            Resource.getDescriptor().findFieldByNumber(v.resource().kind().getNumber()).getName();
        String path =
            "changes[" + index + "].upsert." + kindField + (v.field().isEmpty() ? "" : "." + v.field());
        out.add(v.toFieldViolation(path));
      }
    }
    return out;
  }

  // ---------------------------------------------------------------------------------------------
  // Get, List, Delete

  @Override
  public CompletableFuture<GetResourceResponse> getResource(GetResourceRequest request) {
    List<BadRequest.FieldViolation> violations = new ArrayList<>();
    ResourceKey key = checkRef(request.getRef(), "ref", violations);
    if (!request.hasRef() || key == null) {
      return CompletableFuture.failedFuture(invalidArguments(violations, "ref"));
    }
    return store
        .read()
        .thenApply(
            config ->
                GetResourceResponse.newBuilder()
                    .setResource(redact(config.get(key).orElseThrow(() -> AdminErrors.notFound(key))))
                    .setConfigVersion(config.version())
                    .build());
  }

  @Override
  public CompletableFuture<ListResourcesResponse> listResources(ListResourcesRequest request) {
    return guard(() -> listResourcesNow(request));
  }

  private CompletableFuture<ListResourcesResponse> listResourcesNow(ListResourcesRequest request) {
    int pageSize = pageSize(request.getPageSize());
    Set<ResourceKind> kinds = kindFilter(request.getKindsList());
    Map<String, String> labels = new TreeMap<>(request.getLabelsMap());
    String filters = kinds + "|" + labels;
    CompletableFuture<StoredConfig> read;
    ResourceKey after;
    if (request.getPageToken().isEmpty()) {
      read = store.read();
      after = null;
    } else {
      List<String> parts = PageTokens.decode(request.getPageToken(), "r1", filters, 3);
      long version = PageTokens.parseLong(parts.get(0));
      ResourceKind kind = ResourceKind.forNumber((int) PageTokens.parseLong(parts.get(1)));
      if (kind == null) {
        throw ApiException.invalidArgument("page_token", "malformed; use next_page_token as returned");
      }
      after = new ResourceKey(kind, parts.get(2));
      read =
          store
              .readAt(version)
              .handle(
                  (config, t) -> {
                    if (t != null) {
                      throw new CompletionException(AdminErrors.translateReadError(t, version));
                    }
                    return config;
                  });
    }
    return read.thenApply(
        config -> {
          var selected =
              (after == null ? config.resources() : config.resources().tailMap(after, false))
                  .values().stream()
                      .filter(r -> kinds.isEmpty() || kinds.contains(ResourceKey.of(r).kind()))
                      .filter(r -> hasLabels(r, labels))
                      .limit(pageSize + 1L)
                      .toList();
          ListResourcesResponse.Builder response =
              ListResourcesResponse.newBuilder().setConfigVersion(config.version());
          selected.stream().limit(pageSize).map(ConfigAdminService::redact).forEach(response::addResources);
          if (selected.size() > pageSize) {
            ResourceKey last = ResourceKey.of(selected.get(pageSize - 1));
            response.setNextPageToken(
                PageTokens.encode(
                    "r1",
                    filters,
                    Long.toString(config.version()),
                    Integer.toString(last.kind().getNumber()),
                    last.name()));
          }
          return response.build();
        });
  }

  @Override
  public CompletableFuture<DeleteResourceResponse> deleteResource(
      DeleteResourceRequest request, String principal) {
    List<BadRequest.FieldViolation> violations = new ArrayList<>();
    checkMutationFields(
        violations, request.getRequestId(), request.getAuthor(), request.getReason());
    ResourceKey key = checkRef(request.getRef(), "ref", violations);
    if (request.hasExpectedVersion() && request.getExpectedVersion() < 0) {
      violations.add(
          ApiException.fieldViolation(
              "expected_version", request.getExpectedVersion() + " (expected: >= 0)"));
    }
    if (!request.hasRef() || key == null || !violations.isEmpty()) {
      return CompletableFuture.failedFuture(invalidArguments(violations, "ref"));
    }
    return write(
        request.getRequestId(),
        record ->
            readBefore(record)
                .thenApply(
                    before -> {
                      DeleteResourceResponse.Builder response =
                          DeleteResourceResponse.newBuilder()
                              .setConfigVersion(record.getConfigVersion());
                      before.flatMap(c -> c.get(key)).map(ConfigAdminService::redact)
                          .ifPresent(response::setResource);
                      return response.build();
                    }),
        config -> {
          Resource before = config.get(key).orElseThrow(() -> AdminErrors.notFound(key));
          if (request.hasExpectedVersion()
              && Resources.version(before) != request.getExpectedVersion()) {
            throw AdminErrors.versionConflict(
                config.version(), ImmutableMap.of(key, Resources.version(before)));
          }
          TreeMap<ResourceKey, Resource> candidate = new TreeMap<>(config.resources());
          candidate.remove(key);
          List<Violation> broken = validator.validate(candidate);
          if (!broken.isEmpty()) {
            throw AdminErrors.invalidConfig(
                broken.stream().map(Violation::toFieldViolation).toList());
          }
          ChangeRecord record =
              record(principal, request.getAuthor(), request.getReason(), request.getRequestId())
                  .addChanges(change(key, ChangeType.CHANGE_TYPE_DELETED))
                  .build();
          Commit commit =
              new Commit(
                  config.version(),
                  ImmutableList.of(),
                  ImmutableList.of(key),
                  request.hasExpectedVersion()
                      ? ImmutableMap.of(key, request.getExpectedVersion())
                      : ImmutableMap.of(),
                  record);
          return CompletableFuture.completedFuture(
              new Write<>(
                  commit,
                  committed ->
                      DeleteResourceResponse.newBuilder()
                          .setConfigVersion(committed.getConfigVersion())
                          .setResource(redact(before))
                          .build()));
        });
  }

  // ---------------------------------------------------------------------------------------------
  // History and rollback

  @Override
  public CompletableFuture<ListHistoryResponse> listHistory(ListHistoryRequest request) {
    return guard(() -> listHistoryNow(request));
  }

  private CompletableFuture<ListHistoryResponse> listHistoryNow(ListHistoryRequest request) {
    int pageSize = pageSize(request.getPageSize());
    ResourceKey filter = null;
    if (request.hasResource()) {
      List<BadRequest.FieldViolation> violations = new ArrayList<>();
      filter = checkRef(request.getResource(), "resource", violations);
      if (filter == null) {
        throw invalidArguments(violations, "resource");
      }
    }
    String filters = filter == null ? "" : filter.toString();
    long before = 0;
    if (!request.getPageToken().isEmpty()) {
      before =
          PageTokens.parseLong(PageTokens.decode(request.getPageToken(), "h1", filters, 1).get(0));
    }
    ResourceKey resource = filter;
    return collectHistory(resource, before, pageSize, new ArrayList<>())
        .thenApply(
            records -> {
              ListHistoryResponse.Builder response = ListHistoryResponse.newBuilder();
              records.stream().limit(pageSize).forEach(response::addChanges);
              if (records.size() > pageSize) {
                response.setNextPageToken(
                    PageTokens.encode(
                        "h1",
                        filters,
                        Long.toString(records.get(pageSize - 1).getConfigVersion())));
              }
              return response.build();
            });
  }

  /** Collects up to {@code pageSize + 1} records touching {@code resource} (null: any). */
  private CompletableFuture<List<ChangeRecord>> collectHistory(
      @Nullable ResourceKey resource, long before, int pageSize, List<ChangeRecord> collected) {
    int batch = resource == null ? pageSize + 1 : 500;
    return store
        .history(before, batch)
        .thenCompose(
            records -> {
              for (ChangeRecord record : records) {
                if (resource == null
                    || record.getChangesList().stream()
                        .anyMatch(c -> ResourceKey.of(c.getRef()).equals(resource))) {
                  collected.add(record);
                  if (collected.size() > pageSize) {
                    return CompletableFuture.completedFuture(collected);
                  }
                }
              }
              if (records.size() < batch || records.isEmpty()) {
                return CompletableFuture.completedFuture(collected);
              }
              long next = records.get(records.size() - 1).getConfigVersion();
              return collectHistory(resource, next, pageSize, collected);
            });
  }

  @Override
  public CompletableFuture<RollbackResponse> rollback(RollbackRequest request, String principal) {
    List<BadRequest.FieldViolation> violations = new ArrayList<>();
    checkMutationFields(
        violations, request.getRequestId(), request.getAuthor(), request.getReason());
    if (request.getToVersion() <= 0) {
      violations.add(
          ApiException.fieldViolation(
              "to_version", "required: a config version below the current one"));
    }
    if (!violations.isEmpty()) {
      return CompletableFuture.failedFuture(invalidArguments(violations, "to_version"));
    }
    long to = request.getToVersion();
    return write(
        request.getRequestId(),
        record -> {
          List<ResourceKey> keys =
              record.getChangesList().stream().map(c -> ResourceKey.of(c.getRef())).toList();
          return reconstructDiffs(keys, record)
              .thenApply(
                  diffs ->
                      RollbackResponse.newBuilder()
                          .setConfigVersion(record.getConfigVersion())
                          .addAllDiffs(diffs)
                          .build());
        },
        config -> {
          if (request.hasExpectedConfigVersion()
              && request.getExpectedConfigVersion() != config.version()) {
            throw AdminErrors.versionConflict(config.version(), ImmutableMap.of());
          }
          if (to >= config.version()) {
            throw AdminErrors.outOfRange(
                "to_version "
                    + to
                    + " is not below the current config version "
                    + config.version());
          }
          return store
              .readAt(to)
              .handle(
                  (old, t) -> {
                    if (t != null) {
                      throw new CompletionException(AdminErrors.translateReadError(t, to));
                    }
                    return planRollback(request, principal, config, old);
                  });
        });
  }

  private Plan<RollbackResponse> planRollback(
      RollbackRequest request, String principal, StoredConfig current, StoredConfig old) {
    // API keys stay as they are: a rollback never restores, un-revokes or removes a key.
    TreeMap<ResourceKey, Resource> target = new TreeMap<>();
    old.resources().forEach(
        (key, resource) -> {
          if (key.kind() != ResourceKind.RESOURCE_KIND_API_KEY) {
            target.put(key, Resources.withVersion(resource, 0));
          }
        });
    current.resources().forEach(
        (key, resource) -> {
          if (key.kind() == ResourceKind.RESOURCE_KIND_API_KEY) {
            target.put(key, resource);
          }
        });
    TreeSet<ResourceKey> keys = new TreeSet<>(target.keySet());
    keys.addAll(current.resources().keySet());
    List<ResourceDiff.Builder> diffs = new ArrayList<>();
    List<Resource> upserts = new ArrayList<>();
    List<ResourceKey> deletes = new ArrayList<>();
    for (ResourceKey key : keys) {
      Resource now = current.resources().get(key);
      Resource then = target.get(key);
      ResourceDiff.Builder diff = ResourceDiff.newBuilder().setRef(key.toRef());
      if (then == null) {
        diffs.add(diff.setChangeType(ChangeType.CHANGE_TYPE_DELETED).setBefore(redact(now)));
        deletes.add(key);
      } else if (now == null) {
        diffs.add(diff.setChangeType(ChangeType.CHANGE_TYPE_ADDED).setAfter(redact(then)));
        upserts.add(then);
      } else if (!Resources.withVersion(now, 0).equals(Resources.withVersion(then, 0))) {
        diffs.add(
            diff.setChangeType(ChangeType.CHANGE_TYPE_MODIFIED)
                .setBefore(redact(now))
                .setAfter(redact(then)));
        upserts.add(then);
      }
    }
    List<Violation> broken = validator.validate(target);
    if (!broken.isEmpty()) {
      throw AdminErrors.invalidConfig(broken.stream().map(Violation::toFieldViolation).toList());
    }
    if (request.getDryRun() || diffs.isEmpty()) {
      return new Done<>(rollbackResponse(current.version(), diffs, 0));
    }
    ChangeRecord record =
        record(principal, request.getAuthor(), request.getReason(), request.getRequestId())
            .setRollbackToVersion(request.getToVersion())
            .addAllChanges(resourceChanges(diffs))
            .build();
    Commit commit =
        new Commit(
            current.version(),
            ImmutableList.copyOf(upserts),
            ImmutableList.copyOf(deletes),
            ImmutableMap.of(),
            record);
    return new Write<>(
        commit,
        committed ->
            rollbackResponse(committed.getConfigVersion(), diffs, committed.getConfigVersion()));
  }

  private static RollbackResponse rollbackResponse(
      long configVersion, List<ResourceDiff.Builder> diffs, long newVersion) {
    ApplyChangesResponse asApply = applyResponse(configVersion, diffs, newVersion);
    return RollbackResponse.newBuilder()
        .setConfigVersion(asApply.getConfigVersion())
        .addAllDiffs(asApply.getDiffsList())
        .build();
  }

  // ---------------------------------------------------------------------------------------------
  // Snapshots and fleet

  @Override
  public CompletableFuture<GetConfigSnapshotResponse> getConfigSnapshot(
      GetConfigSnapshotRequest request) {
    return guard(() -> getConfigSnapshotNow(request));
  }

  private CompletableFuture<GetConfigSnapshotResponse> getConfigSnapshotNow(GetConfigSnapshotRequest request) {
    Set<ResourceKind> kinds = kindFilter(request.getKindsList());
    CompletableFuture<StoredConfig> read;
    if (!request.hasConfigVersion()) {
      read = store.read();
    } else {
      long version = request.getConfigVersion();
      if (version < 0) {
        throw ApiException.invalidArgument("config_version", version + " (expected: >= 0)");
      }
      read =
          store
              .readAt(version)
              .handle(
                  (config, t) -> {
                    if (t != null) {
                      throw new CompletionException(AdminErrors.translateReadError(t, version));
                    }
                    return config;
                  });
    }
    return read.thenApplyAsync(
        config -> {
          Snapshot full = Snapshot.of(config, clock.instant());
          ConfigSnapshot.Builder snapshot =
              ConfigSnapshot.newBuilder().setVersion(full.version()).setDigest(full.digest());
          for (Resource resource : config.resources().values()) {
            if (kinds.isEmpty() || kinds.contains(ResourceKey.of(resource).kind())) {
              snapshot.addResources(redact(resource));
            }
          }
          return GetConfigSnapshotResponse.newBuilder().setSnapshot(snapshot).build();
        },
        executor);
  }

  @Override
  public CompletableFuture<GetFleetStatusResponse> getFleetStatus(GetFleetStatusRequest request) {
    return guard(() -> getFleetStatusNow(request));
  }

  private CompletableFuture<GetFleetStatusResponse> getFleetStatusNow(GetFleetStatusRequest request) {
    return fleetQueries.status(request, pageSize(request.getPageSize()));
  }

  @Override
  public CompletableFuture<WaitForFleetVersionResponse> waitForFleetVersion(
      WaitForFleetVersionRequest request, @Nullable Duration callTimeLeft) {
    return guard(() -> waitForFleetVersionNow(request, callTimeLeft));
  }

  private CompletableFuture<WaitForFleetVersionResponse> waitForFleetVersionNow(WaitForFleetVersionRequest request, @Nullable Duration callTimeLeft) {
    if (request.getConfigVersion() <= 0) {
      throw ApiException.invalidArgument("config_version", "required: a positive config version");
    }
    if (request.getMinNodeCount() < 0) {
      throw ApiException.invalidArgument(
          "min_node_count", request.getMinNodeCount() + " (expected: 0 or more)");
    }
    Duration timeout = FleetQueries.DEFAULT_WAIT;
    if (request.hasTimeout()) {
      if (!Durations.isValid(request.getTimeout()) || Durations.isNegative(request.getTimeout())) {
        throw ApiException.invalidArgument("timeout", "must be a valid, non-negative duration");
      }
      timeout = Duration.ofNanos(Durations.toNanos(request.getTimeout()));
      if (timeout.compareTo(FleetQueries.MAX_WAIT) > 0) {
        throw ApiException.invalidArgument(
            "timeout", Durations.toString(request.getTimeout()) + " (expected: at most 600s)");
      }
    }
    return fleetQueries.await(request, timeout, callTimeLeft);
  }

  // ---------------------------------------------------------------------------------------------
  // API keys

  @Override
  public CompletableFuture<CreateApiKeyResponse> createApiKey(
      CreateApiKeyRequest request, String principal) {
    List<BadRequest.FieldViolation> violations = new ArrayList<>();
    checkMutationFields(
        violations, request.getRequestId(), request.getAuthor(), request.getReason());
    if (request.getConsumer().isEmpty()) {
      violations.add(ApiException.fieldViolation("consumer", "required"));
    }
    String name = request.getName().isEmpty() ? ApiKeySecrets.generateName() : request.getName();
    if (!ConfigValidator.isValidName(name)) {
      violations.add(
          ApiException.fieldViolation(
              "name", "not a valid name (expected: the resource name pattern)"));
    }
    if (request.hasExpireTime()
        && Timestamps.isValid(request.getExpireTime())
        && Timestamps.toMillis(request.getExpireTime()) <= clock.millis()) {
      violations.add(ApiException.fieldViolation("expire_time", "is in the past"));
    }
    if (!violations.isEmpty()) {
      return CompletableFuture.failedFuture(AdminErrors.invalidConfig(violations));
    }
    ApiKeySecrets.GeneratedKey generated = ApiKeySecrets.generate(name);
    ResourceKey key = new ResourceKey(ResourceKind.RESOURCE_KIND_API_KEY, name);
    return write(
        request.getRequestId(),
        record -> {
          String created =
              record.getChangesList().stream()
                  .filter(c -> c.getRef().getKind() == ResourceKind.RESOURCE_KIND_API_KEY)
                  .map(c -> c.getRef().getName())
                  .findFirst()
                  .orElse(name);
          throw ApiException.builder(io.grpc.Status.Code.ALREADY_EXISTS, "API_KEY_SECRET_UNAVAILABLE")
              .message(
                  "API key "
                      + created
                      + " was already created by this request_id; its secret cannot be shown"
                      + " again: revoke it and create another")
              .metadata("name", created)
              .build();
        },
        config -> {
          if (config.get(key).isPresent()) {
            throw ApiException.builder(io.grpc.Status.Code.ALREADY_EXISTS, "RESOURCE_ALREADY_EXISTS")
                .message(key + " already exists")
                .metadata("name", name)
                .build();
          }
          ApiKey.Builder apiKey =
              ApiKey.newBuilder()
                  .setName(name)
                  .setDescription(request.getDescription())
                  .putAllLabels(request.getLabelsMap())
                  .setConsumer(request.getConsumer())
                  .setHash(generated.hash())
                  .setCreateTime(Timestamps.fromMillis(clock.millis()));
          if (request.hasExpireTime()) {
            apiKey.setExpireTime(request.getExpireTime());
          }
          Resource resource = Resource.newBuilder().setApiKey(apiKey).build();
          TreeMap<ResourceKey, Resource> candidate = new TreeMap<>(config.resources());
          candidate.put(key, resource);
          List<BadRequest.FieldViolation> broken = new ArrayList<>();
          for (Violation v : validator.validate(candidate)) {
            broken.add(key.equals(v.resource()) ? v.toFieldViolation(v.field()) : v.toFieldViolation());
          }
          if (!broken.isEmpty()) {
            throw AdminErrors.invalidConfig(broken);
          }
          ChangeRecord record =
              record(principal, request.getAuthor(), request.getReason(), request.getRequestId())
                  .addChanges(change(key, ChangeType.CHANGE_TYPE_ADDED))
                  .build();
          Commit commit =
              new Commit(
                  config.version(),
                  ImmutableList.of(resource),
                  ImmutableList.of(),
                  ImmutableMap.of(key, 0L),
                  record);
          return CompletableFuture.completedFuture(
              new Write<>(
                  commit,
                  committed ->
                      CreateApiKeyResponse.newBuilder()
                          .setApiKey(
                              apiKey.clearHash().setVersion(committed.getConfigVersion()).build())
                          .setKey(generated.plainKey())
                          .setConfigVersion(committed.getConfigVersion())
                          .build()));
        });
  }

  @Override
  public CompletableFuture<RevokeApiKeyResponse> revokeApiKey(
      RevokeApiKeyRequest request, String principal) {
    List<BadRequest.FieldViolation> violations = new ArrayList<>();
    checkMutationFields(
        violations, request.getRequestId(), request.getAuthor(), request.getReason());
    if (request.getName().isEmpty()) {
      violations.add(ApiException.fieldViolation("name", "required"));
    }
    if (!violations.isEmpty()) {
      return CompletableFuture.failedFuture(invalidArguments(violations, "name"));
    }
    ResourceKey key = new ResourceKey(ResourceKind.RESOURCE_KIND_API_KEY, request.getName());
    return write(
        request.getRequestId(),
        record ->
            readOptional(record.getConfigVersion())
                .thenApply(
                    after -> {
                      RevokeApiKeyResponse.Builder response =
                          RevokeApiKeyResponse.newBuilder()
                              .setConfigVersion(record.getConfigVersion());
                      after.flatMap(c -> c.get(key))
                          .ifPresent(r -> response.setApiKey(redact(r).getApiKey()));
                      return response.build();
                    }),
        config -> {
          Resource current = config.get(key).orElseThrow(() -> AdminErrors.notFound(key));
          if (current.getApiKey().getRevoked()) {
            return CompletableFuture.completedFuture(
                new Done<>(
                    RevokeApiKeyResponse.newBuilder()
                        .setApiKey(redact(current).getApiKey())
                        .setConfigVersion(Resources.version(current))
                        .build()));
          }
          Resource revoked =
              Resources.withVersion(
                  current.toBuilder()
                      .setApiKey(current.getApiKey().toBuilder().setRevoked(true))
                      .build(),
                  0);
          ChangeRecord record =
              record(principal, request.getAuthor(), request.getReason(), request.getRequestId())
                  .addChanges(change(key, ChangeType.CHANGE_TYPE_MODIFIED))
                  .build();
          Commit commit =
              new Commit(
                  config.version(),
                  ImmutableList.of(revoked),
                  ImmutableList.of(),
                  ImmutableMap.of(key, Resources.version(current)),
                  record);
          return CompletableFuture.completedFuture(
              new Write<>(
                  commit,
                  committed ->
                      RevokeApiKeyResponse.newBuilder()
                          .setApiKey(
                              redact(Resources.withVersion(revoked, committed.getConfigVersion()))
                                  .getApiKey())
                          .setConfigVersion(committed.getConfigVersion())
                          .build()));
        });
  }

  // ---------------------------------------------------------------------------------------------
  // Helpers

  /** Turns a synchronous throw into a failed future, so callers see one failure path. */
  private static <T> CompletableFuture<T> guard(
      java.util.function.Supplier<CompletableFuture<T>> body) {
    try {
      return body.get();
    } catch (RuntimeException e) {
      return CompletableFuture.failedFuture(e);
    }
  }

  /** A copy without secret material: API key hashes are never returned by the admin API. */
  static Resource redact(Resource resource) {
    if (resource.getKindCase() == Resource.KindCase.API_KEY && resource.getApiKey().hasHash()) {
      return resource.toBuilder().setApiKey(resource.getApiKey().toBuilder().clearHash()).build();
    }
    return resource;
  }

  private ChangeRecord.Builder record(
      String principal, String author, String reason, String requestId) {
    return ChangeRecord.newBuilder()
        .setPrincipal(principal)
        .setAuthor(author)
        .setReason(reason)
        .setRequestId(requestId);
  }

  private static ResourceChange change(ResourceKey key, ChangeType type) {
    return ResourceChange.newBuilder().setRef(key.toRef()).setChangeType(type).build();
  }

  /** The history entries of {@code diffs}: changed resources only, in kind and name order. */
  private static List<ResourceChange> resourceChanges(List<ResourceDiff.Builder> diffs) {
    TreeMap<ResourceKey, ChangeType> changes = new TreeMap<>();
    for (ResourceDiff.Builder diff : diffs) {
      if (diff.getChangeType() != ChangeType.CHANGE_TYPE_UNCHANGED) {
        changes.put(ResourceKey.of(diff.getRef()), diff.getChangeType());
      }
    }
    List<ResourceChange> out = new ArrayList<>();
    changes.forEach((key, type) -> out.add(change(key, type)));
    return out;
  }

  /**
   * The diffs a committed change made to {@code keys}, rebuilt from history for a retried
   * request. When history no longer has the contents, the diffs carry only refs and types.
   */
  private CompletableFuture<List<ResourceDiff>> reconstructDiffs(
      List<ResourceKey> keys, ChangeRecord record) {
    long version = record.getConfigVersion();
    Map<ResourceKey, ChangeType> types = new HashMap<>();
    record.getChangesList().forEach(c -> types.put(ResourceKey.of(c.getRef()), c.getChangeType()));
    return readBefore(record)
        .thenCombine(
            readOptional(version),
            (before, after) -> {
              List<ResourceDiff> diffs = new ArrayList<>();
              for (ResourceKey key : keys) {
                ChangeType type = types.getOrDefault(key, ChangeType.CHANGE_TYPE_UNCHANGED);
                ResourceDiff.Builder diff =
                    ResourceDiff.newBuilder().setRef(key.toRef()).setChangeType(type);
                if (type != ChangeType.CHANGE_TYPE_ADDED) {
                  before.flatMap(c -> c.get(key)).map(ConfigAdminService::redact).ifPresent(diff::setBefore);
                }
                if (type != ChangeType.CHANGE_TYPE_DELETED) {
                  after.flatMap(c -> c.get(key)).map(ConfigAdminService::redact).ifPresent(diff::setAfter);
                }
                diffs.add(diff.build());
              }
              return diffs;
            });
  }

  /**
   * The config just before {@code record}'s change, or empty if the store no longer has it.
   * Versions need not be consecutive (etcd revisions are not), so the previous version comes
   * from history.
   */
  private CompletableFuture<Optional<StoredConfig>> readBefore(ChangeRecord record) {
    long version = record.getConfigVersion();
    return store
        .history(version, 1)
        .handle(
            (records, t) ->
                t != null || records.isEmpty() ? version - 1 : records.get(0).getConfigVersion())
        .thenCompose(this::readOptional);
  }

  /** The config at {@code version}, or empty if the store no longer has it. */
  private CompletableFuture<Optional<StoredConfig>> readOptional(long version) {
    return store.readAt(version).handle((config, t) -> Optional.ofNullable(t == null ? config : null));
  }

  private static void checkMutationFields(
      List<BadRequest.FieldViolation> violations, String requestId, String author, String reason) {
    if (!REQUEST_ID.matcher(requestId).matches()) {
      violations.add(
          ApiException.fieldViolation(
              "request_id", "at most 128 characters from [A-Za-z0-9._:-] (a UUID is recommended)"));
    }
    if (author.codePointCount(0, author.length()) > MAX_TEXT_CHARS) {
      violations.add(ApiException.fieldViolation("author", "longer than 1024 characters"));
    }
    if (reason.codePointCount(0, reason.length()) > MAX_TEXT_CHARS) {
      violations.add(ApiException.fieldViolation("reason", "longer than 1024 characters"));
    }
  }

  /** The key of a reference, or null after adding violations for a malformed one. */
  private static @Nullable ResourceKey checkRef(
      ResourceRef ref, String field, List<BadRequest.FieldViolation> violations) {
    boolean ok = true;
    if (ref.getKind() == ResourceKind.RESOURCE_KIND_UNSPECIFIED
        || ref.getKind() == ResourceKind.UNRECOGNIZED) {
      violations.add(ApiException.fieldViolation(field + ".kind", "required: a resource kind"));
      ok = false;
    }
    if (ref.getName().isEmpty()) {
      violations.add(ApiException.fieldViolation(field + ".name", "required"));
      ok = false;
    } else if (!ConfigValidator.isValidName(ref.getName())) {
      violations.add(ApiException.fieldViolation(field + ".name", "not a valid resource name"));
      ok = false;
    }
    return ok ? ResourceKey.of(ref) : null;
  }

  private static ApiException invalidArguments(
      List<BadRequest.FieldViolation> violations, String defaultField) {
    if (violations.isEmpty()) {
      return ApiException.invalidArgument(defaultField, "required");
    }
    return ApiException.invalidArguments(
        violations.get(0).getField() + ": " + violations.get(0).getDescription(), violations);
  }

  static int pageSize(int requested) {
    if (requested == 0) {
      return DEFAULT_PAGE_SIZE;
    }
    if (requested < 0 || requested > MAX_PAGE_SIZE) {
      throw ApiException.invalidArgument(
          "page_size", requested + " (expected: 1 to " + MAX_PAGE_SIZE + ", or 0 for 100)");
    }
    return requested;
  }

  private static Set<ResourceKind> kindFilter(List<ResourceKind> kinds) {
    Set<ResourceKind> set = new TreeSet<>(kinds);
    if (set.contains(ResourceKind.RESOURCE_KIND_UNSPECIFIED)) {
      return Set.of(); // "any kind"
    }
    set.remove(ResourceKind.UNRECOGNIZED);
    return set;
  }

  @SuppressWarnings("unchecked")
  private static boolean hasLabels(Resource resource, Map<String, String> labels) {
    if (labels.isEmpty()) {
      return true;
    }
    var message = Resources.message(resource);
    var field = message.getDescriptorForType().findFieldByName("labels");
    Map<String, String> actual = new HashMap<>();
    for (Object entry : (List<Object>) message.getField(field)) {
      var e = (com.google.protobuf.MapEntry<String, String>) entry;
      actual.put(e.getKey(), e.getValue());
    }
    return labels.entrySet().stream()
        .allMatch(e -> e.getValue().equals(actual.get(e.getKey())));
  }
}
