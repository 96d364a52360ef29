package dev.sluice.launcher;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLGenerator;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.MessageOrBuilder;
import com.google.protobuf.util.JsonFormat;
import java.io.IOException;
import java.io.UncheckedIOException;

/**
 * Renders config messages the way operators write them: the proto3 JSON mapping, as JSON or as
 * YAML, with the proto field names ({@code base_url}, not {@code baseUrl}) so that what {@code
 * get} prints can be fed back to {@code apply}.
 */
final class ProtoYaml {
  private static final JsonFormat.Printer PRINTER = JsonFormat.printer().preservingProtoFieldNames();
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final YAMLMapper YAML =
      new YAMLMapper(
          YAMLFactory.builder()
              .disable(YAMLGenerator.Feature.WRITE_DOC_START_MARKER)
              .enable(YAMLGenerator.Feature.MINIMIZE_QUOTES)
              .build());

  private ProtoYaml() {}

  static String json(MessageOrBuilder message) {
    try {
      return PRINTER.print(message);
    } catch (InvalidProtocolBufferException e) {
      throw new IllegalStateException("cannot render " + message.getClass().getSimpleName(), e);
    }
  }

  static String yaml(MessageOrBuilder message) {
    try {
      JsonNode tree = JSON.readTree(json(message));
      return YAML.writeValueAsString(tree);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
