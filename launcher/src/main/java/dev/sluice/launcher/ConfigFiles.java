package dev.sluice.launcher;

import dev.sluice.config.v1.Resource;
import dev.sluice.config.v1.ResourceRef;
import dev.sluice.controlplane.config.ConfigDocumentException;
import dev.sluice.controlplane.config.ConfigDocuments;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads config resources from the YAML files and directories given on the command line.
 *
 * <p>The format and the parser are the control plane's ({@link ConfigDocuments}, the one the
 * config-samples test runs): each YAML document is one {@code sluice.config.v1.Resource} in the
 * proto3 JSON mapping, unknown fields are errors, and a directory contributes its {@code *.yaml}
 * and {@code *.yml} files in name order. This class adds what the command line needs: a clear
 * error for a path that does not exist or a directory without resources, and one change set
 * never naming a resource twice across several {@code -f} paths.
 */
final class ConfigFiles {
  private ConfigFiles() {}

  /** The resources of every path, in order. */
  static List<Resource> load(List<Path> paths) throws NoSuchFileException {
    List<ConfigDocuments.Document> documents = new ArrayList<>();
    for (Path path : paths) {
      if (!Files.exists(path)) {
        throw new NoSuchFileException(path.toString(), null, "no such file or directory");
      }
      List<ConfigDocuments.Document> read;
      try {
        read = ConfigDocuments.read(path);
      } catch (ConfigDocumentException e) {
        throw new CommandFailure(e.getMessage(), e);
      }
      if (read.isEmpty() && Files.isDirectory(path)) {
        throw new CommandFailure(path + ": no resources in the *.yaml or *.yml files of this directory");
      }
      documents.addAll(read);
    }
    Map<ResourceRef, ConfigDocuments.Document> seen = new HashMap<>();
    List<Resource> resources = new ArrayList<>();
    for (ConfigDocuments.Document document : documents) {
      ResourceRef ref = ResourceNames.refOf(document.resource());
      ConfigDocuments.Document earlier = seen.putIfAbsent(ref, document);
      if (earlier != null) {
        throw new CommandFailure(
            document.location() + ": " + ResourceNames.display(ref) + " is already defined in "
                + earlier.location());
      }
      resources.add(document.resource());
    }
    return resources;
  }
}
