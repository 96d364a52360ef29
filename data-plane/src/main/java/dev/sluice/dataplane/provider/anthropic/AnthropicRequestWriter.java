package dev.sluice.dataplane.provider.anthropic;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import com.google.protobuf.util.Durations;
import dev.sluice.dataplane.provider.ConversationTurns;
import dev.sluice.dataplane.provider.UpstreamException;
import dev.sluice.dataplane.provider.UpstreamFailure;
import dev.sluice.dataplane.provider.json.ProtoJson;
import dev.sluice.inference.v1.CacheControl;
import dev.sluice.inference.v1.ChatMessage;
import dev.sluice.inference.v1.ChatRequest;
import dev.sluice.inference.v1.ContentPart;
import dev.sluice.inference.v1.FilePart;
import dev.sluice.inference.v1.ImagePart;
import dev.sluice.inference.v1.ReasoningConfig;
import dev.sluice.inference.v1.Tool;
import dev.sluice.inference.v1.ToolChoice;
import dev.sluice.inference.v1.ToolResultPart;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;

/**
 * Writes a Sluice chat request as an Anthropic Messages body.
 *
 * <p>Mapping (see the reference tables): instructions and {@code ROLE_SYSTEM}/{@code
 * ROLE_DEVELOPER} messages become the top-level {@code system} blocks (Anthropic has no system
 * role); {@code ROLE_TOOL} messages become user messages of {@code tool_result} blocks; consecutive
 * messages of the same resulting role are merged into one turn, as the API expects; tool-call parts
 * become {@code tool_use} blocks whose {@code input} is the arguments JSON parsed (it must be an
 * object); reasoning parts go back as {@code thinking} (with their signature) or {@code
 * redacted_thinking}, and are dropped when they carry no signature (they came from another
 * provider); {@code max_tokens} is required, so {@value #DEFAULT_MAX_TOKENS} is sent when the
 * request sets none; reasoning effort becomes a {@code thinking} budget by a fixed table.
 *
 * <p>Not supported, rejected with {@code BAD_REQUEST}: several candidates, presence and frequency
 * penalties, and JSON response formats. Best effort, ignored: seed and logprobs.
 */
final class AnthropicRequestWriter {
  /** Sent as {@code max_tokens} when the request sets no limit (Anthropic requires one). */
  static final int DEFAULT_MAX_TOKENS = 4096;

  private final JsonGenerator g;
  private final String backend;
  private final Map<String, Value> overrides;

  private AnthropicRequestWriter(JsonGenerator g, String backend, Struct options) {
    this.g = g;
    this.backend = backend;
    Value own = options.getFieldsMap().get("anthropic");
    this.overrides =
        own != null && own.hasStructValue() ? own.getStructValue().getFieldsMap() : Map.of();
  }

  static void write(JsonGenerator g, ChatRequest request, String model, String backend, boolean stream)
      throws IOException {
    new AnthropicRequestWriter(g, backend, request.getProviderOptions()).request(request, model, stream);
  }

  private boolean own(String field) {
    return !overrides.containsKey(field);
  }

  private void request(ChatRequest r, String model, boolean stream) throws IOException {
    if (r.getCandidateCount() > 1) {
      throw badRequest("candidate_count: Anthropic generates one candidate per request");
    }
    if (r.hasPresencePenalty() || r.hasFrequencyPenalty()) {
      throw badRequest("presence_penalty and frequency_penalty are not supported by Anthropic");
    }
    switch (r.getResponseFormat().getType()) {
      case RESPONSE_FORMAT_TYPE_JSON_OBJECT, RESPONSE_FORMAT_TYPE_JSON_SCHEMA ->
          throw badRequest("response_format: JSON output is not supported for Anthropic backends yet");
      default -> {}
    }
    g.writeStartObject();
    if (own("model")) {
      g.writeStringField("model", model);
    }
    if (own("max_tokens")) {
      g.writeNumberField(
          "max_tokens", r.hasMaxOutputTokens() ? r.getMaxOutputTokens() : DEFAULT_MAX_TOKENS);
    }
    ConversationTurns conversation = ConversationTurns.of(r, "assistant", backend);
    List<ContentPart> system = new ArrayList<>(r.getInstructionsList());
    system.addAll(conversation.instructions());
    if (!system.isEmpty() && own("system")) {
      system(system);
    }
    if (own("messages")) {
      g.writeArrayFieldStart("messages");
      for (ConversationTurns.Turn turn : conversation.turns()) {
        g.writeStartObject();
        g.writeStringField("role", turn.role());
        g.writeArrayFieldStart("content");
        for (int i = 0; i < turn.parts().size(); i++) {
          block(turn.parts().get(i), turn.paths().get(i));
        }
        g.writeEndArray();
        g.writeEndObject();
      }
      g.writeEndArray();
    }
    if (r.getToolsCount() > 0) {
      if (own("tools")) {
        tools(r.getToolsList());
      }
      if ((r.hasToolChoice()) && own("tool_choice")) {
        toolChoice(r.getToolChoice());
      }
    }
    if (r.hasTemperature() && own("temperature")) {
      g.writeFieldName("temperature");
      ProtoJson.writeNumber(g, r.getTemperature());
    }
    if (r.hasTopP() && own("top_p")) {
      g.writeFieldName("top_p");
      ProtoJson.writeNumber(g, r.getTopP());
    }
    if (r.hasTopK() && own("top_k")) {
      g.writeNumberField("top_k", r.getTopK());
    }
    if (r.getStopSequencesCount() > 0 && own("stop_sequences")) {
      g.writeArrayFieldStart("stop_sequences");
      for (String s : r.getStopSequencesList()) {
        g.writeString(s);
      }
      g.writeEndArray();
    }
    if (r.hasReasoning() && own("thinking")) {
      thinking(r.getReasoning());
    }
    if (!r.getEndUser().isEmpty() && own("metadata")) {
      g.writeObjectFieldStart("metadata");
      g.writeStringField("user_id", r.getEndUser());
      g.writeEndObject();
    }
    if (stream && own("stream")) {
      g.writeBooleanField("stream", true);
    }
    for (Map.Entry<String, Value> e : overrides.entrySet()) {
      g.writeFieldName(e.getKey());
      ProtoJson.writeValue(g, e.getValue());
    }
    g.writeEndObject();
  }



  private void system(List<ContentPart> system) throws IOException {
    g.writeFieldName("system");
    if (system.size() == 1 && !system.get(0).hasCacheControl()) {
      g.writeString(system.get(0).getText());
      return;
    }
    g.writeStartArray();
    for (ContentPart p : system) {
      g.writeStartObject();
      g.writeStringField("type", "text");
      g.writeStringField("text", p.getText());
      cacheControl(p);
      g.writeEndObject();
    }
    g.writeEndArray();
  }

  private void block(ContentPart part, String path) throws IOException {
    g.writeStartObject();
    switch (part.getKindCase()) {
      case TEXT -> {
        g.writeStringField("type", "text");
        g.writeStringField("text", part.getText());
      }
      case REFUSAL -> {
        g.writeStringField("type", "text");
        g.writeStringField("text", part.getRefusal());
      }
      case IMAGE -> image(part.getImage(), path);
      case FILE -> document(part.getFile(), path);
      case TOOL_CALL -> {
        g.writeStringField("type", "tool_use");
        g.writeStringField("id", part.getToolCall().getId());
        g.writeStringField("name", part.getToolCall().getName());
        g.writeFieldName("input");
        jsonObject(part.getToolCall().getArguments(), path + ".tool_call.arguments");
      }
      case TOOL_RESULT -> toolResult(part.getToolResult(), path);
      case REASONING -> {
        String signature = part.getSignature().toStringUtf8();
        if (part.getReasoning().getRedacted()) {
          g.writeStringField("type", "redacted_thinking");
          g.writeStringField("data", signature);
        } else {
          g.writeStringField("type", "thinking");
          g.writeStringField("thinking", part.getReasoning().getText());
          g.writeStringField("signature", signature);
        }
      }
      default -> throw badRequest(path + ": no content");
    }
    cacheControl(part);
    g.writeEndObject();
  }

  private void image(ImagePart image, String path) throws IOException {
    g.writeStringField("type", "image");
    g.writeObjectFieldStart("source");
    if (image.hasData()) {
      if (image.getMimeType().isEmpty()) {
        throw badRequest(path + ".image.mime_type: required with data");
      }
      g.writeStringField("type", "base64");
      g.writeStringField("media_type", image.getMimeType());
      g.writeStringField("data", Base64.getEncoder().encodeToString(image.getData().toByteArray()));
    } else {
      g.writeStringField("type", "url");
      g.writeStringField("url", image.getUri());
    }
    g.writeEndObject();
  }

  private void document(FilePart file, String path) throws IOException {
    g.writeStringField("type", "document");
    g.writeObjectFieldStart("source");
    switch (file.getSourceCase()) {
      case DATA -> {
        if (file.getMimeType().startsWith("text/")) {
          g.writeStringField("type", "text");
          g.writeStringField("media_type", "text/plain");
          g.writeStringField("data", file.getData().toString(StandardCharsets.UTF_8));
        } else {
          if (file.getMimeType().isEmpty()) {
            throw badRequest(path + ".file.mime_type: required with data");
          }
          g.writeStringField("type", "base64");
          g.writeStringField("media_type", file.getMimeType());
          g.writeStringField("data", Base64.getEncoder().encodeToString(file.getData().toByteArray()));
        }
      }
      case URI -> {
        g.writeStringField("type", "url");
        g.writeStringField("url", file.getUri());
      }
      case PROVIDER_FILE_ID -> {
        g.writeStringField("type", "file");
        g.writeStringField("file_id", file.getProviderFileId());
      }
      default -> throw badRequest(path + ".file: no source");
    }
    g.writeEndObject();
    if (!file.getFilename().isEmpty()) {
      g.writeStringField("title", file.getFilename());
    }
  }

  private void toolResult(ToolResultPart result, String path) throws IOException {
    g.writeStringField("type", "tool_result");
    g.writeStringField("tool_use_id", result.getToolCallId());
    g.writeArrayFieldStart("content");
    for (int i = 0; i < result.getContentCount(); i++) {
      ContentPart c = result.getContent(i);
      if (!c.hasText() && !c.hasImage() && !c.hasFile()) {
        throw badRequest(path + ".tool_result.content[" + i + "]: text, image or file only");
      }
      block(c, path + ".tool_result.content[" + i + "]");
    }
    g.writeEndArray();
    if (result.getIsError()) {
      g.writeBooleanField("is_error", true);
    }
  }

  private void tools(List<Tool> tools) throws IOException {
    g.writeArrayFieldStart("tools");
    for (Tool tool : tools) {
      g.writeStartObject();
      g.writeStringField("name", tool.getName());
      if (!tool.getDescription().isEmpty()) {
        g.writeStringField("description", tool.getDescription());
      }
      g.writeFieldName("input_schema");
      if (tool.hasParameters()) {
        ProtoJson.writeStruct(g, tool.getParameters());
      } else {
        g.writeStartObject();
        g.writeStringField("type", "object");
        g.writeEndObject();
      }
      if (tool.getStrict()) {
        g.writeBooleanField("strict", true);
      }
      if (tool.hasCacheControl()) {
        cacheControl(tool.getCacheControl());
      }
      g.writeEndObject();
    }
    g.writeEndArray();
  }

  private void toolChoice(ToolChoice choice) throws IOException {
    String type =
        switch (choice.getMode()) {
          case TOOL_CHOICE_MODE_NONE -> "none";
          case TOOL_CHOICE_MODE_REQUIRED -> "any";
          case TOOL_CHOICE_MODE_FUNCTION -> "tool";
          default -> "auto";
        };
    boolean disableParallel = choice.hasParallelToolCalls() && !choice.getParallelToolCalls();
    if (type.equals("auto") && !disableParallel
        && choice.getMode() == dev.sluice.inference.v1.ToolChoiceMode.TOOL_CHOICE_MODE_UNSPECIFIED) {
      return; // the default
    }
    g.writeObjectFieldStart("tool_choice");
    g.writeStringField("type", type);
    if (type.equals("tool")) {
      g.writeStringField("name", choice.getFunctionName());
    }
    if (disableParallel && !type.equals("none")) {
      g.writeBooleanField("disable_parallel_tool_use", true);
    }
    g.writeEndObject();
  }

  private void thinking(ReasoningConfig reasoning) throws IOException {
    int budget;
    if (reasoning.hasBudgetTokens()) {
      budget = reasoning.getBudgetTokens();
    } else {
      budget =
          switch (reasoning.getEffort()) {
            case REASONING_EFFORT_MINIMAL -> 1024;
            case REASONING_EFFORT_LOW -> 2048;
            case REASONING_EFFORT_MEDIUM -> 8192;
            case REASONING_EFFORT_HIGH -> 24576;
            default -> 0; // NONE or unspecified: no extended thinking
          };
    }
    if (budget <= 0) {
      return;
    }
    g.writeObjectFieldStart("thinking");
    g.writeStringField("type", "enabled");
    g.writeNumberField("budget_tokens", budget);
    g.writeEndObject();
  }

  private void cacheControl(ContentPart part) throws IOException {
    if (part.hasCacheControl()) {
      cacheControl(part.getCacheControl());
    }
  }

  private void cacheControl(CacheControl cache) throws IOException {
    g.writeObjectFieldStart("cache_control");
    g.writeStringField("type", "ephemeral");
    if (cache.hasTtl()) {
      g.writeStringField("ttl", Durations.toSeconds(cache.getTtl()) >= 3600 ? "1h" : "5m");
    }
    g.writeEndObject();
  }

  /** Copies {@code json}, which must be a JSON object (empty means {@code {}}), into the body. */
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
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      throw badRequest(path + ": not valid JSON");
    }
  }

  private UpstreamException badRequest(String message) {
    return new UpstreamException(UpstreamFailure.BAD_REQUEST, backend, 0, null, message, null);
  }
}
