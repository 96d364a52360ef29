package dev.sluice.controlplane.config;

import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.google.common.collect.ImmutableList;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.util.JsonFormat;
import dev.sluice.config.v1.Resource;
import dev.sluice.controlplane.store.ResourceKey;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Reads config files: YAML with one or more documents separated by {@code ---}, each document the
 * proto3 JSON mapping of one {@code sluice.config.v1.Resource}.
 *
 * <pre>{@code
 * # A comment.
 * backend:
 *   name: mock
 *   kind: BACKEND_KIND_MOCK
 *   mock: {tokensPerResponse: 32}
 * ---
 * model:
 *   name: mock-chat
 *   versions:
 *     - name: v1
 *       upstreamModel: mock-1
 *       backends: [{backend: mock}]
 * }</pre>
 *
 * <p>Field names are the JSON names ({@code tokensPerResponse}) or the proto names ({@code
 * tokens_per_response}); enums are their names; durations are strings such as {@code 1.5s};
 * {@code int64} values may be numbers. Unknown fields are errors, so a typo never silently drops
 * a setting. Documents that are empty or hold only comments are skipped.
 *
 * <p>Reading checks syntax and types only; the control plane validates the content (references,
 * ranges, ...) when the resources are applied. A resource defined twice across the documents
 * read together is an error, because one change set cannot name a resource twice.
 */
public final class ConfigDocuments {
  /** The largest config file read, 8 MiB (a change set is at most 1 MiB anyway). */
  public static final long MAX_FILE_BYTES = 8L * 1024 * 1024;

  private static final YAMLFactory YAML = YAMLFactory.builder().build();
  private static final ObjectMapper MAPPER =
      new ObjectMapper(YAML).enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION);
  private static final JsonFormat.Parser PROTO_JSON = JsonFormat.parser();

  /**
   * One resource read from a file.
   *
   * @param source the file (as given) or source name
   * @param document the 1-based document number in the file
   * @param line the line the document starts on
   * @param resource the resource
   */
  public record Document(String source, int document, int line, Resource resource) {
    public Document {
      requireNonNull(source, "source");
      requireNonNull(resource, "resource");
    }

    /** Where the document is, e.g. {@code dev.yaml: document 2 (line 14)}. */
    public String location() {
      return source + ": document " + document + " (line " + line + ")";
    }
  }

  private ConfigDocuments() {}

  /**
   * Reads a YAML file, or every {@code *.yaml} and {@code *.yml} file directly in a directory in
   * name order.
   *
   * @throws ConfigDocumentException if a file cannot be read or parsed, or a resource is defined
   *     twice
   */
  public static ImmutableList<Document> read(Path fileOrDirectory) {
    requireNonNull(fileOrDirectory, "fileOrDirectory");
    List<Path> files;
    if (Files.isDirectory(fileOrDirectory)) {
      try (Stream<Path> entries = Files.list(fileOrDirectory)) {
        files =
            entries
                .filter(Files::isRegularFile)
                .filter(p -> p.getFileName().toString().matches(".*\\.ya?ml"))
                .sorted()
                .toList();
      } catch (IOException e) {
        throw new ConfigDocumentException(
            fileOrDirectory.toString(), 0, 0, "cannot list the directory: " + e.getMessage(), e);
      }
    } else {
      files = List.of(fileOrDirectory);
    }
    ImmutableList.Builder<Document> documents = ImmutableList.builder();
    for (Path file : files) {
      documents.addAll(parse(readFile(file), file.toString()));
    }
    return checkUnique(documents.build());
  }

  /** The resources of {@link #read}, in file and document order. */
  public static ImmutableList<Resource> readResources(Path fileOrDirectory) {
    return read(fileOrDirectory).stream()
        .map(Document::resource)
        .collect(ImmutableList.toImmutableList());
  }

  /**
   * Parses YAML text; {@code source} names it in errors.
   *
   * @throws ConfigDocumentException if it cannot be parsed, or a resource is defined twice
   */
  public static ImmutableList<Document> parse(String yaml, String source) {
    requireNonNull(yaml, "yaml");
    requireNonNull(source, "source");
    ImmutableList.Builder<Document> documents = ImmutableList.builder();
    int index = 0;
    int line = 0;
    try (JsonParser parser = MAPPER.createParser(yaml)) {
      while (parser.nextToken() != null) {
        index++;
        line = parser.currentTokenLocation().getLineNr();
        JsonNode node = MAPPER.readTree(parser);
        if (node == null
            || node.isNull()
            || node.isMissingNode()
            || (node.isTextual() && node.textValue().isEmpty())) {
          continue; // An empty document, e.g. only comments.
        }
        if (!node.isObject()) {
          throw new ConfigDocumentException(
              source,
              index,
              line,
              "expected a mapping with one resource kind (backend, model, route, ...), found "
                  + node.getNodeType().name().toLowerCase(java.util.Locale.ROOT),
              null);
        }
        documents.add(new Document(source, index, line, toResource(node, source, index, line)));
      }
    } catch (JsonProcessingException e) {
      int errorLine = e.getLocation() == null ? line : e.getLocation().getLineNr();
      throw new ConfigDocumentException(
          source, Math.max(index, 1), errorLine, "invalid YAML: " + e.getOriginalMessage(), e);
    } catch (IOException e) {
      throw new ConfigDocumentException(source, index, line, "cannot read: " + e.getMessage(), e);
    }
    return checkUnique(documents.build());
  }

  private static Resource toResource(JsonNode node, String source, int index, int line) {
    Resource.Builder resource = Resource.newBuilder();
    try {
      PROTO_JSON.merge(node.toString(), resource);
    } catch (InvalidProtocolBufferException e) {
      throw new ConfigDocumentException(source, index, line, e.getMessage(), e);
    }
    if (resource.getKindCase() == Resource.KindCase.KIND_NOT_SET) {
      throw new ConfigDocumentException(
          source,
          index,
          line,
          "no resource kind: the document must have one top-level key, one of backend, model,"
              + " route, rate_limit_policy, consumer, api_key, prompt_template, jwt_issuer",
          null);
    }
    return resource.build();
  }

  private static ImmutableList<Document> checkUnique(ImmutableList<Document> documents) {
    Map<ResourceKey, Document> seen = new HashMap<>();
    for (Document d : documents) {
      ResourceKey key = ResourceKey.of(d.resource());
      Document earlier = seen.putIfAbsent(key, d);
      if (earlier != null) {
        throw new ConfigDocumentException(
            d.source(),
            d.document(),
            d.line(),
            key + " is already defined in " + earlier.location(),
            null);
      }
    }
    return documents;
  }

  private static String readFile(Path file) {
    try {
      long size = Files.size(file);
      if (size > MAX_FILE_BYTES) {
        throw new ConfigDocumentException(
            file.toString(), 0, 0, "is " + size + " bytes (expected: at most 8 MiB)", null);
      }
      return Files.readString(file, StandardCharsets.UTF_8);
    } catch (IOException | UncheckedIOException e) {
      throw new ConfigDocumentException(file.toString(), 0, 0, "cannot read: " + e.getMessage(), e);
    }
  }
}
