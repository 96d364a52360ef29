package dev.sluice.launcher;

import com.google.protobuf.util.Timestamps;
import dev.sluice.admin.v1.ChangeRecord;
import dev.sluice.admin.v1.ListHistoryRequest;
import dev.sluice.admin.v1.ListHistoryResponse;
import dev.sluice.client.SluiceException;
import dev.sluice.config.v1.ResourceRef;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.io.PrintWriter;
import java.util.concurrent.Callable;
import java.util.logging.Level;
import java.util.stream.Collectors;
import org.jspecify.annotations.Nullable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/** {@code sluice history}: who changed the config, when, why, and what each change touched. */
@Command(
    name = "history",
    description = {
      "Lists committed config changes, newest first.",
      "Examples: sluice history | sluice history model mock-chat --limit 5"
    })
final class HistoryCommand implements Callable<Integer> {
  @ParentCommand private SluiceCommand parent;
  @Mixin private HelpOption help = new HelpOption();
  @Spec private CommandSpec spec;

  @Parameters(index = "0", arity = "0..1", paramLabel = "KIND", description = "Only this kind...")
  private @Nullable String kind;

  @Parameters(index = "1", arity = "0..1", paramLabel = "NAME", description = "...and name.")
  private @Nullable String name;

  @Option(names = "--limit", paramLabel = "N", defaultValue = "20", description = "Most changes shown (default ${DEFAULT-VALUE}).")
  private int limit = 20;

  @Mixin private AdminConnectionOptions admin = new AdminConnectionOptions();

  @Override
  public Integer call() throws IOException {
    parent.configureLogging(Level.WARNING);
    if ((kind == null) != (name == null)) {
      throw new CommandFailure("give both KIND and NAME, or neither");
    }
    if (limit < 1 || limit > 1000) {
      throw new CommandFailure("--limit: " + limit + " (expected: 1 to 1000)");
    }
    ListHistoryRequest.Builder request = ListHistoryRequest.newBuilder().setPageSize(limit);
    if (kind != null) {
      request.setResource(
          ResourceRef.newBuilder().setKind(ResourceNames.parseKind(kind)).setName(name));
    }
    PrintWriter out = spec.commandLine().getOut();
    ManagedChannel channel = admin.openChannel(System.getenv());
    try {
      ListHistoryResponse response = admin.stub(channel).listHistory(request.build());
      String row = "%-8s %-24s %-24s %s%n";
      out.printf(row, "VERSION", "TIME", "AUTHOR (PRINCIPAL)", "CHANGES / REASON");
      for (ChangeRecord change : response.getChangesList()) {
        out.printf(
            row,
            change.getConfigVersion(),
            Timestamps.toString(change.getCommitTime()),
            author(change),
            changes(change));
        if (!change.getReason().isEmpty()) {
          out.printf(row, "", "", "", "reason: " + change.getReason());
        }
      }
    } catch (StatusRuntimeException e) {
      throw SluiceException.from(e);
    } finally {
      AdminConnectionOptions.close(channel);
    }
    out.flush();
    return ExitCodes.OK;
  }

  private static String author(ChangeRecord change) {
    String author = change.getAuthor().isEmpty() ? "-" : change.getAuthor();
    return change.getPrincipal().isEmpty() ? author : author + " (" + change.getPrincipal() + ")";
  }

  private static String changes(ChangeRecord change) {
    String touched =
        change.getChangesList().stream()
            .map(c -> DiffSymbols.symbol(c.getChangeType()) + ResourceNames.display(c.getRef()))
            .collect(Collectors.joining(" "));
    return change.getRollbackToVersion() > 0
        ? "rollback to " + change.getRollbackToVersion() + ": " + touched
        : touched;
  }
}
