package dev.sluice.dataplane.provider.gemini;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import dev.sluice.dataplane.provider.ConversationTurns;
import dev.sluice.dataplane.provider.UpstreamException;
import dev.sluice.dataplane.provider.UpstreamFailure;
import dev.sluice.dataplane.provider.json.ProtoJson;
import dev.sluice.inference.v1.ChatMessage;
import dev.sluice.inference.v1.ChatRequest;
import dev.sluice.inference.v1.ContentPart;
import dev.sluice.inference.v1.EmbedRequest;
import dev.sluice.inference.v1.FilePart;
import dev.sluice.inference.v1.ImagePart;
import dev.sluice.inference.v1.ReasoningConfig;
import dev.sluice.inference.v1.Tool;
import dev.sluice.inference.v1.ToolResultPart;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes Sluice requests as Gemini request bodies (REST JSON, camelCase field names).
 *
 * <p>Mapping (see the reference tables): instructions and {@code ROLE_SYSTEM}/{@code
 * ROLE_DEVELOPER} messages form {@code systemInstruction}; user and tool messages are {@code user}
 * contents and assistant messages {@code model} contents, consecutive ones of a role merged; images
 * and files are {@code inlineData} (bytes) or {@code fileData} (URIs); tool calls are {@code
 * functionCall} parts with their arguments parsed into {@code args}; tool results are {@code
 * functionResponse} parts named after their call (looked up in the conversation when the result
 * names none), whose {@code response} is the result's JSON object when it is one, else {@code
 * {"output": text}} or {@code {"error": text}}; part signatures travel as {@code
 * thoughtSignature}; tools are {@code functionDeclarations} with {@code parametersJsonSchema} (full
 * JSON Schema); sampling goes in {@code generationConfig}; JSON response formats set {@code
 * responseMimeType} (and {@code responseJsonSchema}); reasoning sets {@code thinkingConfig}.
 */
final class GeminiRequestWriter {
  private final JsonGenerator g;
  private final String backend;
  private final Map<String, Value> overrides;

  private GeminiRequestWriter(JsonGenerator g, String backend, Struct options) {
    this.g = g;
    this.backend = backend;
    Value own = options.getFieldsMap().get("gemini");
    this.overrides =
        own != null && own.hasStructValue() ? own.getStructValue().getFieldsMap() : Map.of();
  }

  static void writeGenerate(JsonGenerator g, ChatRequest request, String backend) throws IOException {
    new GeminiRequestWriter(g, backend, request.getProviderOptions()).generate(request);
  }

  static void writeEmbed(JsonGenerator g, EmbedRequest request, String model, String backend)
      throws IOException {
    new GeminiRequestWriter(g, backend, request.getProviderOptions()).embed(request, model);
  }

  private boolean own(String field) {
    return !overrides.containsKey(field);
  }

  private void generate(ChatRequest r) throws IOException {
    g.writeStartObject();
    ConversationTurns conversation = ConversationTurns.of(r, "model", backend);
    List<ContentPart> system = new ArrayList<>(r.getInstructionsList());
    system.addAll(conversation.instructions());
    // Gemini's functionResponse names the function, which our tool results carry only by id.
    Map<String, String> toolNames = new HashMap<>();
    for (ConversationTurns.Turn turn : conversation.turns()) {
      for (ContentPart part : turn.parts()) {
        if (part.hasToolCall()) {
          toolNames.put(part.getToolCall().getId(), part.getToolCall().getName());
        }
      }
    }
    if (own("contents")) {
      g.writeArrayFieldStart("contents");
      for (ConversationTurns.Turn turn : conversation.turns()) {
        g.writeStartObject();
        g.writeStringField("role", turn.role());
        g.writeArrayFieldStart("parts");
        for (int i = 0; i < turn.parts().size(); i++) {
          part(turn.parts().get(i), turn.paths().get(i), toolNames);
        }
        g.writeEndArray();
        g.writeEndObject();
      }
      g.writeEndArray();
    }
    if (!system.isEmpty() && own("systemInstruction")) {
      g.writeObjectFieldStart("systemInstruction");
      g.writeArrayFieldStart("parts");
      for (ContentPart p : system) {
        g.writeStartObject();
        g.writeStringField("text", p.getText());
        g.writeEndObject();
      }
      g.writeEndArray();
      g.writeEndObject();
    }
    if (r.getToolsCount() > 0) {
      if (own("tools")) {
        tools(r.getToolsList());
      }
      if (r.hasToolChoice() && own("toolConfig")) {
        toolConfig(r);
      }
    }
    if (own("generationConfig")) {
      generationConfig(r);
    }
    for (Map.Entry<String, Value> e : overrides.entrySet()) {
      g.writeFieldName(e.getKey());
      ProtoJson.writeValue(g, e.getValue());
    }
    g.writeEndObject();
  }



  private void part(ContentPart part, String path, Map<String, String> toolNames) throws IOException {
    g.writeStartObject();
    switch (part.getKindCase()) {
      case TEXT -> g.writeStringField("text", part.getText());
      case REFUSAL -> g.writeStringField("text", part.getRefusal());
      case REASONING -> {
        g.writeStringField("text", part.getReasoning().getText());
        g.writeBooleanField("thought", true);
      }
      case IMAGE -> media(part.getImage(), path);
      case FILE -> file(part.getFile(), path);
      case TOOL_CALL -> {
        g.writeObjectFieldStart("functionCall");
        g.writeStringField("name", part.getToolCall().getName());
        g.writeFieldName("args");
        jsonObject(part.getToolCall().getArguments(), path + ".tool_call.arguments");
        g.writeEndObject();
      }
      case TOOL_RESULT -> functionResponse(part.getToolResult(), path, toolNames);
      default -> throw badRequest(path + ": no content");
    }
    if (!part.getSignature().isEmpty()) {
      g.writeStringField("thoughtSignature", Base64.getEncoder().encodeToString(part.getSignature().toByteArray()));
    }
    g.writeEndObject();
  }

  private void media(ImagePart image, String path) throws IOException {
    if (image.hasData()) {
      if (image.getMimeType().isEmpty()) {
        throw badRequest(path + ".image.mime_type: required with data");
      }
      g.writeObjectFieldStart("inlineData");
      g.writeStringField("mimeType", image.getMimeType());
      g.writeStringField("data", Base64.getEncoder().encodeToString(image.getData().toByteArray()));
    } else {
      g.writeObjectFieldStart("fileData");
      if (!image.getMimeType().isEmpty()) {
        g.writeStringField("mimeType", image.getMimeType());
      }
      g.writeStringField("fileUri", image.getUri());
    }
    g.writeEndObject();
  }

  private void file(FilePart file, String path) throws IOException {
    switch (file.getSourceCase()) {
      case DATA -> {
        if (file.getMimeType().isEmpty()) {
          throw badRequest(path + ".file.mime_type: required with data");
        }
        g.writeObjectFieldStart("inlineData");
        g.writeStringField("mimeType", file.getMimeType());
        g.writeStringField("data", Base64.getEncoder().encodeToString(file.getData().toByteArray()));
      }
      case URI, PROVIDER_FILE_ID -> {
        g.writeObjectFieldStart("fileData");
        if (!file.getMimeType().isEmpty()) {
          g.writeStringField("mimeType", file.getMimeType());
        }
        g.writeStringField("fileUri", file.hasUri() ? file.getUri() : file.getProviderFileId());
      }
      default -> throw badRequest(path + ".file: no source");
    }
    g.writeEndObject();
  }

  private void functionResponse(ToolResultPart result, String path, Map<String, String> toolNames)
      throws IOException {
    String name = result.getName().isEmpty() ? toolNames.get(result.getToolCallId()) : result.getName();
    if (name == null) {
      throw badRequest(path + ".tool_result.name: required when the conversation has no matching tool call");
    }
    g.writeObjectFieldStart("functionResponse");
    g.writeStringField("name", name);
    g.writeFieldName("response");
    StringBuilder text = new StringBuilder();
    for (int i = 0; i < result.getContentCount(); i++) {
      ContentPart c = result.getContent(i);
      if (!c.hasText()) {
        throw badRequest(path + ".tool_result.content[" + i + "]: Gemini tool results take text only");
      }
      text.append(c.getText());
    }
    if (!result.getIsError() && result.getContentCount() == 1 && isJsonObject(text.toString())) {
      jsonObject(text.toString(), path);
    } else {
      g.writeStartObject();
      g.writeStringField(result.getIsError() ? "error" : "output", text.toString());
      g.writeEndObject();
    }
    g.writeEndObject();
  }

  private void tools(List<Tool> tools) throws IOException {
    g.writeArrayFieldStart("tools");
    g.writeStartObject();
    g.writeArrayFieldStart("functionDeclarations");
    for (Tool tool : tools) {
      g.writeStartObject();
      g.writeStringField("name", tool.getName());
      if (!tool.getDescription().isEmpty()) {
        g.writeStringField("description", tool.getDescription());
      }
      if (tool.hasParameters()) {
        g.writeFieldName("parametersJsonSchema");
        ProtoJson.writeStruct(g, tool.getParameters());
      }
      g.writeEndObject();
    }
    g.writeEndArray();
    g.writeEndObject();
    g.writeEndArray();
  }

  private void toolConfig(ChatRequest r) throws IOException {
    String mode =
        switch (r.getToolChoice().getMode()) {
          case TOOL_CHOICE_MODE_AUTO -> "AUTO";
          case TOOL_CHOICE_MODE_NONE -> "NONE";
          case TOOL_CHOICE_MODE_REQUIRED, TOOL_CHOICE_MODE_FUNCTION -> "ANY";
          default -> null;
        };
    if (mode == null) {
      return;
    }
    g.writeObjectFieldStart("toolConfig");
    g.writeObjectFieldStart("functionCallingConfig");
    g.writeStringField("mode", mode);
    if (!r.getToolChoice().getFunctionName().isEmpty()) {
      g.writeArrayFieldStart("allowedFunctionNames");
      g.writeString(r.getToolChoice().getFunctionName());
      g.writeEndArray();
    }
    g.writeEndObject();
    g.writeEndObject();
  }

  private void generationConfig(ChatRequest r) throws IOException {
    boolean json =
        switch (r.getResponseFormat().getType()) {
          case RESPONSE_FORMAT_TYPE_JSON_OBJECT, RESPONSE_FORMAT_TYPE_JSON_SCHEMA -> true;
          default -> false;
        };
    boolean any =
        r.hasTemperature() || r.hasTopP() || r.hasTopK() || r.hasMaxOutputTokens()
            || r.getCandidateCount() > 1 || r.getStopSequencesCount() > 0 || r.hasSeed()
            || r.hasPresencePenalty() || r.hasFrequencyPenalty() || r.getLogprobs() || json
            || r.hasReasoning();
    if (!any) {
      return;
    }
    g.writeObjectFieldStart("generationConfig");
    if (r.hasTemperature()) {
      g.writeFieldName("temperature");
      ProtoJson.writeNumber(g, r.getTemperature());
    }
    if (r.hasTopP()) {
      g.writeFieldName("topP");
      ProtoJson.writeNumber(g, r.getTopP());
    }
    if (r.hasTopK()) {
      g.writeNumberField("topK", r.getTopK());
    }
    if (r.hasMaxOutputTokens()) {
      g.writeNumberField("maxOutputTokens", r.getMaxOutputTokens());
    }
    if (r.getCandidateCount() > 1) {
      g.writeNumberField("candidateCount", r.getCandidateCount());
    }
    if (r.getStopSequencesCount() > 0) {
      g.writeArrayFieldStart("stopSequences");
      for (String s : r.getStopSequencesList()) {
        g.writeString(s);
      }
      g.writeEndArray();
    }
    if (r.hasSeed()) {
      g.writeNumberField("seed", r.getSeed());
    }
    if (r.hasPresencePenalty()) {
      g.writeFieldName("presencePenalty");
      ProtoJson.writeNumber(g, r.getPresencePenalty());
    }
    if (r.hasFrequencyPenalty()) {
      g.writeFieldName("frequencyPenalty");
      ProtoJson.writeNumber(g, r.getFrequencyPenalty());
    }
    if (r.getLogprobs()) {
      g.writeBooleanField("responseLogprobs", true);
      if (r.getTopLogprobs() > 0) {
        g.writeNumberField("logprobs", r.getTopLogprobs());
      }
    }
    if (json) {
      g.writeStringField("responseMimeType", "application/json");
      if (r.getResponseFormat().hasSchema()) {
        g.writeFieldName("responseJsonSchema");
        ProtoJson.writeStruct(g, r.getResponseFormat().getSchema());
      }
    }
    if (r.hasReasoning()) {
      thinkingConfig(r.getReasoning());
    }
    g.writeEndObject();
  }

  private void thinkingConfig(ReasoningConfig reasoning) throws IOException {
    Integer budget = null;
    if (reasoning.hasBudgetTokens()) {
      budget = reasoning.getBudgetTokens();
    } else {
      budget =
          switch (reasoning.getEffort()) {
            case REASONING_EFFORT_NONE -> 0;
            case REASONING_EFFORT_MINIMAL -> 512;
            case REASONING_EFFORT_LOW -> 1024;
            case REASONING_EFFORT_MEDIUM -> 8192;
            case REASONING_EFFORT_HIGH -> 24576;
            default -> null;
          };
    }
    if (budget == null && !reasoning.hasIncludeReasoning()) {
      return;
    }
    g.writeObjectFieldStart("thinkingConfig");
    if (budget != null) {
      g.writeNumberField("thinkingBudget", budget);
    }
    if (reasoning.hasIncludeReasoning()) {
      g.writeBooleanField("includeThoughts", reasoning.getIncludeReasoning());
    }
    g.writeEndObject();
  }

  private void embed(EmbedRequest r, String model) throws IOException {
    g.writeStartObject();
    g.writeArrayFieldStart("requests");
    for (String input : r.getInputsList()) {
      g.writeStartObject();
      g.writeStringField("model", model);
      g.writeObjectFieldStart("content");
      g.writeArrayFieldStart("parts");
      g.writeStartObject();
      g.writeStringField("text", input);
      g.writeEndObject();
      g.writeEndArray();
      g.writeEndObject();
      if (r.getDimensions() > 0) {
        g.writeNumberField("outputDimensionality", r.getDimensions());
      }
      // Per-request options (e.g. taskType) go into each embed request.
      for (Map.Entry<String, Value> e : overrides.entrySet()) {
        g.writeFieldName(e.getKey());
        ProtoJson.writeValue(g, e.getValue());
      }
      g.writeEndObject();
    }
    g.writeEndArray();
    g.writeEndObject();
  }

  private static boolean isJsonObject(String text) {
    try (JsonParser p = ProtoJson.FACTORY.createParser(text)) {
      if (p.nextToken() != JsonToken.START_OBJECT) {
        return false;
      }
      p.skipChildren();
      return p.nextToken() == null;
    } catch (IOException e) {
      return false;
    }
  }

  private void jsonObject(String json, String path) throws IOException {
    if (json.isBlank()) {
      g.writeStartObject();
      g.writeEndObject();
      return;
    }
    try (JsonParser p = ProtoJson.FACTORY.createParser(json)) {
      if (p.nextToken() != JsonToken.START_OBJECT) {
        throw badRequest(path + ": must be a JSON object");
      }
      g.copyCurrentStructure(p);
      if (p.nextToken() != null) {
        throw badRequest(path + ": trailing content after the JSON object");
      }
    } catch (JsonProcessingException e) {
      throw badRequest(path + ": not valid JSON");
    }
  }

  private UpstreamException badRequest(String message) {
    return new UpstreamException(UpstreamFailure.BAD_REQUEST, backend, 0, null, message, null);
  }
}
