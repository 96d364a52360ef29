package dev.sluice.launcher;

import dev.sluice.admin.v1.AdminServiceGrpc.AdminServiceBlockingStub;
import dev.sluice.admin.v1.GetResourceRequest;
import dev.sluice.admin.v1.GetResourceResponse;
import dev.sluice.admin.v1.ListResourcesRequest;
import dev.sluice.admin.v1.ListResourcesResponse;
import dev.sluice.client.SluiceException;
import dev.sluice.config.v1.Resource;
import dev.sluice.config.v1.ResourceKind;
import dev.sluice.config.v1.ResourceRef;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.logging.Level;
import org.jspecify.annotations.Nullable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/**
 * {@code sluice get [KIND [NAME]]}: shows config resources from the control plane, as a table or
 * as YAML/JSON that {@code apply -f} accepts back.
 */
@Command(
    name = "get",
    description = {
      "Shows config resources: all, one kind, or one resource.",
      "Examples: sluice get | sluice get models | sluice get model mock-chat -o yaml"
    })
final class GetCommand implements Callable<Integer> {
  /** Output formats. */
  enum Format {
    table,
    yaml,
    json
  }

  @ParentCommand private SluiceCommand parent;
  @Mixin private HelpOption help = new HelpOption();
  @Spec private CommandSpec spec;

  @Parameters(index = "0", arity = "0..1", paramLabel = "KIND", description = "Resource kind.")
  private @Nullable String kind;

  @Parameters(index = "1", arity = "0..1", paramLabel = "NAME", description = "Resource name.")
  private @Nullable String name;

  @Option(
      names = {"-o", "--output"},
      paramLabel = "FORMAT",
      description = "table, yaml or json (default: table for lists, yaml for one resource).")
  private @Nullable Format format;

  @Mixin private AdminConnectionOptions admin = new AdminConnectionOptions();

  @Override
  public Integer call() throws IOException {
    parent.configureLogging(Level.WARNING);
    ResourceKind parsedKind = kind == null ? null : ResourceNames.parseKind(kind);
    PrintWriter out = spec.commandLine().getOut();
    ManagedChannel channel = admin.openChannel(System.getenv());
    try {
      AdminServiceBlockingStub stub = admin.stub(channel);
      if (name != null) {
        GetResourceResponse response =
            stub.getResource(
                GetResourceRequest.newBuilder()
                    .setRef(ResourceRef.newBuilder().setKind(parsedKind).setName(name))
                    .build());
        print(out, List.of(response.getResource()), format == null ? Format.yaml : format);
      } else {
        print(out, list(stub, parsedKind), format == null ? Format.table : format);
      }
    } catch (StatusRuntimeException e) {
      throw SluiceException.from(e);
    } finally {
      AdminConnectionOptions.close(channel);
    }
    out.flush();
    return ExitCodes.OK;
  }

  private static List<Resource> list(AdminServiceBlockingStub stub, @Nullable ResourceKind kind) {
    List<Resource> resources = new ArrayList<>();
    String pageToken = "";
    do {
      ListResourcesRequest.Builder request =
          ListResourcesRequest.newBuilder().setPageSize(1000).setPageToken(pageToken);
      if (kind != null) {
        request.addKinds(kind);
      }
      ListResourcesResponse page = stub.listResources(request.build());
      resources.addAll(page.getResourcesList());
      pageToken = page.getNextPageToken();
    } while (!pageToken.isEmpty());
    return resources;
  }

  private static void print(PrintWriter out, List<Resource> resources, Format format) {
    switch (format) {
      case yaml -> {
        for (int i = 0; i < resources.size(); i++) {
          if (i > 0) {
            out.println("---");
          }
          out.print(ProtoYaml.yaml(resources.get(i)));
        }
      }
      case json -> resources.forEach(resource -> out.println(ProtoYaml.json(resource)));
      case table -> {
        String row = "%-18s %-32s %8s  %s%n";
        out.printf(row, "KIND", "NAME", "VERSION", "DESCRIPTION");
        for (Resource resource : resources) {
          ResourceRef ref = ResourceNames.refOf(resource);
          out.printf(
              row,
              ResourceNames.kindName(ref.getKind()),
              ref.getName(),
              ResourceNames.versionOf(resource),
              ResourceNames.descriptionOf(resource));
        }
      }
    }
  }
}
