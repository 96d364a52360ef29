package dev.sluice.launcher;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Any;
import com.google.protobuf.util.Timestamps;
import com.google.rpc.BadRequest;
import com.google.rpc.ErrorInfo;
import dev.sluice.admin.v1.AdminServiceGrpc;
import dev.sluice.admin.v1.ApplyChangesRequest;
import dev.sluice.admin.v1.ApplyChangesResponse;
import dev.sluice.admin.v1.ChangeRecord;
import dev.sluice.admin.v1.ChangeType;
import dev.sluice.admin.v1.GetResourceRequest;
import dev.sluice.admin.v1.GetResourceResponse;
import dev.sluice.admin.v1.ListHistoryRequest;
import dev.sluice.admin.v1.ListHistoryResponse;
import dev.sluice.admin.v1.ListResourcesRequest;
import dev.sluice.admin.v1.ListResourcesResponse;
import dev.sluice.admin.v1.ResourceChange;
import dev.sluice.admin.v1.ResourceDiff;
import dev.sluice.config.v1.Backend;
import dev.sluice.config.v1.BackendKind;
import dev.sluice.config.v1.Resource;
import dev.sluice.config.v1.ResourceKind;
import dev.sluice.config.v1.ResourceRef;
import io.grpc.Status;
import io.grpc.protobuf.StatusProto;
import io.grpc.stub.StreamObserver;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** apply, get and history against a scripted admin API on a real loopback server. */
@Timeout(60)
class AdminCommandsTest {
  private static final String TOKEN = "admin-token-for-tests";
  private static final Resource MOCK_BEFORE =
      backend("mock", "old description", 3);
  private static final Resource MOCK_AFTER =
      backend("mock", "new description", 7);

  private final List<ApplyChangesRequest> applied = new CopyOnWriteArrayList<>();
  private final AtomicInteger unavailableBeforeSuccess = new AtomicInteger();
  private volatile boolean rejectAsInvalid;
  private LoopbackServer controlPlane;
  @TempDir Path dir;

  private final class FakeAdmin extends AdminServiceGrpc.AdminServiceImplBase {
    @Override
    public void applyChanges(ApplyChangesRequest request, StreamObserver<ApplyChangesResponse> response) {
      applied.add(request);
      if (unavailableBeforeSuccess.getAndDecrement() > 0) {
        response.onError(Status.UNAVAILABLE.withDescription("etcd unreachable").asException());
        return;
      }
      if (rejectAsInvalid) {
        response.onError(
            StatusProto.toStatusRuntimeException(
                com.google.rpc.Status.newBuilder()
                    .setCode(Status.Code.INVALID_ARGUMENT.value())
                    .setMessage("config is invalid")
                    .addDetails(Any.pack(ErrorInfo.newBuilder().setDomain("sluice.dev").setReason("INVALID_CONFIG").build()))
                    .addDetails(
                        Any.pack(
                            BadRequest.newBuilder()
                                .addFieldViolations(
                                    BadRequest.FieldViolation.newBuilder()
                                        .setField("changes[0].upsert.backend.base_url")
                                        .setDescription("must be http or https"))
                                .build()))
                    .build()));
        return;
      }
      response.onNext(
          ApplyChangesResponse.newBuilder()
              .setConfigVersion(request.getDryRun() ? 6 : 7)
              .addDiffs(
                  ResourceDiff.newBuilder()
                      .setRef(ResourceNames.refOf(MOCK_AFTER))
                      .setChangeType(ChangeType.CHANGE_TYPE_MODIFIED)
                      .setBefore(MOCK_BEFORE)
                      .setAfter(MOCK_AFTER))
              .build());
      response.onCompleted();
    }

    @Override
    public void listResources(ListResourcesRequest request, StreamObserver<ListResourcesResponse> response) {
      response.onNext(ListResourcesResponse.newBuilder().addResources(MOCK_BEFORE).setConfigVersion(6).build());
      response.onCompleted();
    }

    @Override
    public void getResource(GetResourceRequest request, StreamObserver<GetResourceResponse> response) {
      response.onNext(GetResourceResponse.newBuilder().setResource(MOCK_BEFORE).setConfigVersion(6).build());
      response.onCompleted();
    }

    @Override
    public void listHistory(ListHistoryRequest request, StreamObserver<ListHistoryResponse> response) {
      response.onNext(
          ListHistoryResponse.newBuilder()
              .addChanges(
                  ChangeRecord.newBuilder()
                      .setConfigVersion(6)
                      .setCommitTime(Timestamps.fromSeconds(1_700_000_000))
                      .setAuthor("alice")
                      .setPrincipal("ops")
                      .setReason("add the mock")
                      .addChanges(
                          ResourceChange.newBuilder()
                              .setRef(ResourceRef.newBuilder().setKind(ResourceKind.RESOURCE_KIND_BACKEND).setName("mock"))
                              .setChangeType(ChangeType.CHANGE_TYPE_ADDED)))
              .build());
      response.onCompleted();
    }
  }

  @BeforeEach
  void start() throws Exception {
    controlPlane = LoopbackServer.serving(new FakeAdmin());
  }

  @AfterEach
  void stop() throws Exception {
    controlPlane.close();
  }

  @Test
  void applySendsEveryResourceAsOneChangeSetAndPrintsTheNewVersion() throws Exception {
    Path file = yaml();

    CommandRun run = admin("apply", "-f", file.toString(), "--reason", "tune", "--author", "alice");

    assertThat(run.exitCode()).as(run.err()).isZero();
    assertThat(run.out())
        .contains("Applied: config version 7.")
        .contains("  ~ backend/mock")
        .contains("1 resources: 1 modified");
    ApplyChangesRequest request = applied.get(0);
    assertThat(request.getChangesList()).hasSize(2);
    assertThat(request.getChanges(0).getUpsert().getBackend().getName()).isEqualTo("mock");
    assertThat(request.getReason()).isEqualTo("tune");
    assertThat(request.getAuthor()).isEqualTo("alice");
    assertThat(request.getRequestId()).isNotEmpty();
    assertThat(request.getDryRun()).isFalse();
    assertThat(controlPlane.lastAuthorization()).isEqualTo("Bearer " + TOKEN);
  }

  @Test
  void dryRunPrintsTheLineDiffOfEachModifiedResource() throws Exception {
    CommandRun run = admin("apply", "-f", yaml().toString(), "--dry-run");

    assertThat(run.exitCode()).as(run.err()).isZero();
    assertThat(applied.get(0).getDryRun()).isTrue();
    assertThat(run.out())
        .contains("Dry run against config version 6: nothing written.")
        .contains("-   description: old description")
        .contains("+   description: new description")
        .doesNotContain("version: ");
  }

  @Test
  void anApplyWithAnUnknownOutcomeIsRetriedWithTheSameRequestId() throws Exception {
    unavailableBeforeSuccess.set(1);

    CommandRun run = admin("apply", "-f", yaml().toString());

    assertThat(run.exitCode()).as(run.err()).isZero();
    assertThat(applied).hasSize(2);
    assertThat(applied.get(1).getRequestId()).isEqualTo(applied.get(0).getRequestId());
    assertThat(run.err()).contains("control plane unavailable (etcd unreachable); retrying");
  }

  @Test
  void anInvalidConfigPrintsEveryRejectedFieldAndExitsWithOne() throws Exception {
    rejectAsInvalid = true;

    CommandRun run = admin("apply", "-f", yaml().toString());

    assertThat(run.exitCode()).isEqualTo(1);
    assertThat(run.err())
        .contains("error: INVALID_ARGUMENT: config is invalid [INVALID_CONFIG]")
        .contains("changes[0].upsert.backend.base_url: must be http or https");
  }

  @Test
  void theTokenComesFromTheTokenFile() throws Exception {
    Path tokenFile = Files.writeString(dir.resolve("token"), "from-a-file-token\n", UTF_8);

    CommandRun.of("get", "--server", controlPlane.target(), "--token-file", tokenFile.toString());

    assertThat(controlPlane.lastAuthorization()).isEqualTo("Bearer from-a-file-token");
  }

  @Test
  void theControlPlanesOwnTokenFileWorksForItsClients() throws Exception {
    Path tokenFile =
        Files.writeString(dir.resolve("admin-tokens"), "# ops team\nops:named-token-0123456789\n", UTF_8);

    CommandRun run =
        CommandRun.of("get", "--server", controlPlane.target(), "--token-file", tokenFile.toString());

    assertThat(run.exitCode()).as(run.err()).isZero();
    assertThat(controlPlane.lastAuthorization()).isEqualTo("Bearer named-token-0123456789");
  }

  @Test
  void aTokenFileWithSeveralPrincipalsIsRefusedWithoutCalling() throws Exception {
    Path tokenFile =
        Files.writeString(
            dir.resolve("admin-tokens"), "a:aaaaaaaaaaaaaaaaaaaa\nb:bbbbbbbbbbbbbbbbbbbb\n", UTF_8);

    CommandRun run =
        CommandRun.of("get", "--server", controlPlane.target(), "--token-file", tokenFile.toString());

    assertThat(run.exitCode()).isEqualTo(1);
    assertThat(run.err()).contains("holds the tokens of [a, b]; give a file with one");
    assertThat(controlPlane.headers).isEmpty();
  }

  @Test
  void getListsResourcesAsATable() {
    CommandRun run = admin("get", "backends");

    assertThat(run.exitCode()).as(run.err()).isZero();
    assertThat(run.out()).containsPattern("KIND\\s+NAME\\s+VERSION\\s+DESCRIPTION");
    assertThat(run.out()).containsPattern("backend\\s+mock\\s+3\\s+old description");
  }

  @Test
  void getOfOneResourcePrintsYamlThatApplyAccepts() throws Exception {
    CommandRun run = admin("get", "backend", "mock");

    assertThat(run.exitCode()).as(run.err()).isZero();
    Path roundTrip = Files.writeString(dir.resolve("round-trip.yaml"), run.out(), UTF_8);
    assertThat(ConfigFiles.load(List.of(roundTrip))).containsExactly(MOCK_BEFORE);
  }

  @Test
  void historyShowsWhoChangedWhatAndWhy() {
    CommandRun run = admin("history");

    assertThat(run.exitCode()).as(run.err()).isZero();
    assertThat(run.out())
        .contains("2023-11-14T22:13:20Z")
        .contains("alice (ops)")
        .contains("+backend/mock")
        .contains("reason: add the mock");
  }

  private CommandRun admin(String... args) {
    String[] all = new String[args.length + 4];
    System.arraycopy(args, 0, all, 0, args.length);
    all[args.length] = "--server";
    all[args.length + 1] = controlPlane.target();
    all[args.length + 2] = "--token";
    all[args.length + 3] = TOKEN;
    return CommandRun.of(all);
  }

  private Path yaml() throws Exception {
    return Files.writeString(
        dir.resolve("config.yaml"),
        """
        backend:
          name: mock
          kind: BACKEND_KIND_MOCK
          description: new description
        ---
        model:
          name: mock-chat
          versions: [{name: v1, backends: [{backend: mock}]}]
        """,
        UTF_8);
  }

  private static Resource backend(String name, String description, long version) {
    return Resource.newBuilder()
        .setBackend(
            Backend.newBuilder()
                .setName(name)
                .setVersion(version)
                .setDescription(description)
                .setKind(BackendKind.BACKEND_KIND_MOCK))
        .build();
  }
}
