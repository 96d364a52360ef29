package dev.sluice.launcher;

import com.google.protobuf.util.Durations;
import dev.sluice.admin.v1.AdminServiceGrpc.AdminServiceBlockingStub;
import dev.sluice.admin.v1.ApplyChangesRequest;
import dev.sluice.admin.v1.ApplyChangesResponse;
import dev.sluice.admin.v1.Change;
import dev.sluice.admin.v1.ChangeType;
import dev.sluice.admin.v1.ResourceDiff;
import dev.sluice.admin.v1.WaitForFleetVersionRequest;
import dev.sluice.admin.v1.WaitForFleetVersionResponse;
import dev.sluice.client.SluiceException;
import dev.sluice.config.v1.Resource;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.Callable;
import java.util.logging.Level;
import java.util.stream.Collectors;
import org.jspecify.annotations.Nullable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/**
 * {@code sluice apply -f FILE|DIR}: pushes config YAML to the control plane as one atomic change
 * set, and prints the new version and what changed.
 *
 * <p>Every resource in the files is upserted; resources not in the files are left alone (delete
 * with the admin API). The request carries a request id, generated unless given, and a call whose
 * outcome is unknown ({@code UNAVAILABLE}) is retried with the same id, which the control plane
 * deduplicates, so a flaky network never applies a change twice.
 */
@Command(
    name = "apply",
    sortOptions = false,
    description = {
      "Applies config YAML (files or directories) through the admin API, all or nothing.",
      "Example: sluice apply -f config-samples/dev.yaml --reason \"add mock models\""
    })
final class ApplyCommand implements Callable<Integer> {
  private static final int MAX_ATTEMPTS = 3;

  @ParentCommand private SluiceCommand parent;
  @Mixin private HelpOption help = new HelpOption();
  @Spec private CommandSpec spec;

  @Option(
      names = {"-f", "--file"},
      required = true,
      paramLabel = "FILE|DIR",
      description = "YAML file, or directory of *.yaml/*.yml files; repeatable.")
  private List<Path> files;

  @Option(names = "--dry-run", description = "Validate and print the diff; write nothing.")
  private boolean dryRun;

  @Option(
      names = "--author",
      paramLabel = "NAME",
      description = "Who makes the change, recorded in history (default: your user name).")
  private @Nullable String author;

  @Option(names = "--reason", paramLabel = "TEXT", description = "Why, recorded in history.")
  private String reason = "";

  @Option(
      names = "--expected-version",
      paramLabel = "VERSION",
      description = "Apply only if the config is still at this version (optimistic concurrency).")
  private @Nullable Long expectedVersion;

  @Option(
      names = "--request-id",
      paramLabel = "ID",
      description = "Idempotency key (default: a random UUID). Re-running with the same id is safe.")
  private @Nullable String requestId;

  @Option(
      names = "--wait",
      description = "After applying, wait until every connected data plane serves the new version.")
  private boolean waitForFleet;

  @Mixin private AdminConnectionOptions admin = new AdminConnectionOptions();

  @Override
  public Integer call() throws IOException, InterruptedException {
    parent.configureLogging(Level.WARNING);
    List<Resource> resources = ConfigFiles.load(files);
    if (resources.isEmpty()) {
      throw new CommandFailure("no resources found in " + files);
    }
    ApplyChangesRequest.Builder request =
        ApplyChangesRequest.newBuilder()
            .setDryRun(dryRun)
            .setRequestId(requestId != null ? requestId : UUID.randomUUID().toString())
            .setAuthor(author != null ? author : System.getProperty("user.name", ""))
            .setReason(reason);
    if (expectedVersion != null) {
      request.setExpectedConfigVersion(expectedVersion);
    }
    for (Resource resource : resources) {
      request.addChanges(Change.newBuilder().setUpsert(resource));
    }
    PrintWriter out = spec.commandLine().getOut();
    ManagedChannel channel = admin.openChannel(System.getenv());
    try {
      AdminServiceBlockingStub stub = admin.stub(channel);
      ApplyChangesResponse response = applyWithRetries(stub, request.build());
      printResult(out, response);
      if (waitForFleet && !dryRun) {
        return awaitFleet(admin.stub(channel), response.getConfigVersion(), out);
      }
    } finally {
      AdminConnectionOptions.close(channel);
    }
    return ExitCodes.OK;
  }

  private ApplyChangesResponse applyWithRetries(
      AdminServiceBlockingStub stub, ApplyChangesRequest request) throws InterruptedException {
    for (int attempt = 1; ; attempt++) {
      try {
        return stub.applyChanges(request);
      } catch (StatusRuntimeException e) {
        SluiceException error = SluiceException.from(e);
        if (error.code() != Status.Code.UNAVAILABLE || attempt == MAX_ATTEMPTS) {
          throw error;
        }
        // The outcome is unknown; the same request id makes the retry safe.
        Duration delay = error.retryDelay().orElse(Duration.ofMillis(500L * attempt));
        spec.commandLine()
            .getErr()
            .printf("control plane unavailable (%s); retrying in %d ms%n", error.description(),
                delay.toMillis());
        Thread.sleep(delay.toMillis());
      }
    }
  }

  private void printResult(PrintWriter out, ApplyChangesResponse response) {
    Map<ChangeType, Integer> counts = new EnumMap<>(ChangeType.class);
    for (ResourceDiff diff : response.getDiffsList()) {
      counts.merge(diff.getChangeType(), 1, Integer::sum);
    }
    boolean changed =
        response.getDiffsList().stream()
            .anyMatch(d -> d.getChangeType() != ChangeType.CHANGE_TYPE_UNCHANGED);
    if (dryRun) {
      out.println(
          "Dry run against config version " + response.getConfigVersion() + ": nothing written.");
    } else if (changed) {
      out.println("Applied: config version " + response.getConfigVersion() + ".");
    } else {
      out.println("No changes: config version stays " + response.getConfigVersion() + ".");
    }
    for (ResourceDiff diff : response.getDiffsList()) {
      String line =
          "  " + DiffSymbols.symbol(diff.getChangeType()) + " " + ResourceNames.display(diff.getRef());
      out.println(diff.getChangeType() == ChangeType.CHANGE_TYPE_UNCHANGED ? line + " (unchanged)" : line);
      if (dryRun && diff.getChangeType() == ChangeType.CHANGE_TYPE_MODIFIED) {
        for (String diffLine : LineDiff.diff(render(diff.getBefore()), render(diff.getAfter()))) {
          out.println("      " + diffLine);
        }
      }
    }
    out.println(
        response.getDiffsCount()
            + " resources: "
            + counts.entrySet().stream()
                .map(e -> e.getValue() + " " + e.getKey().name().replace("CHANGE_TYPE_", "").toLowerCase(Locale.ROOT))
                .collect(Collectors.joining(", ")));
    out.flush();
  }

  /** YAML of a resource without its output-only version, which always differs. */
  private static String render(Resource resource) {
    return ProtoYaml.yaml(resource).lines()
        .filter(line -> !line.matches("\\s+version: .*"))
        .collect(Collectors.joining("\n"));
  }

  private int awaitFleet(AdminServiceBlockingStub stub, long version, PrintWriter out) {
    WaitForFleetVersionResponse fleet;
    try {
      fleet =
          stub.waitForFleetVersion(
              WaitForFleetVersionRequest.newBuilder()
                  .setConfigVersion(version)
                  .setTimeout(Durations.fromMillis(Math.max(1, admin.timeout.toMillis() - 1000)))
                  .build());
    } catch (StatusRuntimeException e) {
      throw SluiceException.from(e);
    }
    out.println(
        fleet.getConvergedNodeCount()
            + " of "
            + fleet.getSelectedNodeCount()
            + " connected data planes serve version "
            + version
            + " or newer.");
    fleet
        .getLaggingNodesList()
        .forEach(node -> out.println("  lagging: " + ProtoYaml.json(node).replaceAll("\\s+", " ")));
    out.flush();
    return fleet.getConverged() ? ExitCodes.OK : ExitCodes.FAILED;
  }
}
