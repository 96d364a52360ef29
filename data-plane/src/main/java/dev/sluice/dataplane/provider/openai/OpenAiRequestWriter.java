package dev.sluice.dataplane.provider.openai;

import com.fasterxml.jackson.core.JsonGenerator;
import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import dev.sluice.config.v1.BackendKind;
import dev.sluice.dataplane.provider.UpstreamException;
import dev.sluice.dataplane.provider.UpstreamFailure;
import dev.sluice.dataplane.provider.json.ProtoJson;
import dev.sluice.inference.v1.ChatMessage;
import dev.sluice.inference.v1.ChatRequest;
import dev.sluice.inference.v1.ContentPart;
import dev.sluice.inference.v1.EmbedRequest;
import dev.sluice.inference.v1.EmbeddingEncoding;
import dev.sluice.inference.v1.FilePart;
import dev.sluice.inference.v1.ImagePart;
import dev.sluice.inference.v1.ResponseFormat;
import dev.sluice.inference.v1.Tool;
import dev.sluice.inference.v1.ToolCallPart;
import dev.sluice.inference.v1.ToolChoice;
import dev.sluice.inference.v1.ToolResultPart;
import java.io.IOException;
import java.util.Base64;
import java.util.Map;

/**
 * Writes Sluice requests as OpenAI request bodies, streaming JSON straight into the request
 * buffer.
 *
 * <p>Mapping (see the reference mapping tables): instructions become a leading {@code system}
 * message; {@code ROLE_DEVELOPER} is {@code developer} for OpenAI and {@code system} for
 * compatible servers (whose chat templates rarely know {@code developer}); tool results, wherever
 * they appear, become {@code role: tool} messages with {@code tool_call_id}; assistant tool-call
 * parts become {@code tool_calls}; reasoning parts are dropped (Chat Completions takes none back);
 * {@code max_output_tokens} is {@code max_completion_tokens} for OpenAI and {@code max_tokens} for
 * compatible servers, which all understand it; {@code top_k} is rejected for OpenAI and passed on
 * to compatible servers. Fields under {@code provider_options["openai"]} (or {@code
 * ["openai_compatible"]}) override what the gateway would send.
 */
final class OpenAiRequestWriter {
  private final JsonGenerator g;
  private final BackendKind kind;
  private final String backend;
  private final Map<String, Value> overrides;

  private OpenAiRequestWriter(JsonGenerator g, BackendKind kind, String backend, Struct options) {
    this.g = g;
    this.kind = kind;
    this.backend = backend;
    Value own = options.getFieldsMap().get(optionsKey(kind));
    this.overrides =
        own != null && own.hasStructValue() ? own.getStructValue().getFieldsMap() : Map.of();
  }

  static String optionsKey(BackendKind kind) {
    return kind == BackendKind.BACKEND_KIND_OPENAI ? "openai" : "openai_compatible";
  }

  /** Writes a Chat Completions body for {@code request}, sending {@code model}. */
  static void writeChat(
      JsonGenerator g, ChatRequest request, String model, BackendKind kind, String backend,
      boolean stream) throws IOException {
    new OpenAiRequestWriter(g, kind, backend, request.getProviderOptions())
        .chat(request, model, stream);
  }

  /** Writes an Embeddings body. */
  static void writeEmbeddings(
      JsonGenerator g, EmbedRequest request, String model, BackendKind kind, String backend,
      boolean base64) throws IOException {
    new OpenAiRequestWriter(g, kind, backend, request.getProviderOptions())
        .embeddings(request, model, base64);
  }

  private boolean own(String field) {
    return !overrides.containsKey(field);
  }

  private void chat(ChatRequest r, String model, boolean stream) throws IOException {
    g.writeStartObject();
    if (own("model")) {
      g.writeStringField("model", model);
    }
    if (own("messages")) {
      messages(r);
    }
    if (r.getToolsCount() > 0) {
      if (own("tools")) {
        tools(r);
      }
      if (r.hasToolChoice()) {
        toolChoice(r.getToolChoice());
      }
    }
    if (r.hasResponseFormat() && own("response_format")) {
      responseFormat(r.getResponseFormat());
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
      if (kind == BackendKind.BACKEND_KIND_OPENAI) {
        throw badRequest("top_k is not supported by OpenAI");
      }
      g.writeNumberField("top_k", r.getTopK());
    }
    if (r.hasMaxOutputTokens()) {
      String field =
          kind == BackendKind.BACKEND_KIND_OPENAI ? "max_completion_tokens" : "max_tokens";
      if (own(field)) {
        g.writeNumberField(field, r.getMaxOutputTokens());
      }
    }
    if (r.hasPresencePenalty() && own("presence_penalty")) {
      g.writeFieldName("presence_penalty");
      ProtoJson.writeNumber(g, r.getPresencePenalty());
    }
    if (r.hasFrequencyPenalty() && own("frequency_penalty")) {
      g.writeFieldName("frequency_penalty");
      ProtoJson.writeNumber(g, r.getFrequencyPenalty());
    }
    if (r.hasSeed() && own("seed")) {
      g.writeNumberField("seed", r.getSeed());
    }
    if (r.getCandidateCount() > 1 && own("n")) {
      g.writeNumberField("n", r.getCandidateCount());
    }
    if (r.getStopSequencesCount() > 0 && own("stop")) {
      g.writeArrayFieldStart("stop");
      for (String stop : r.getStopSequencesList()) {
        g.writeString(stop);
      }
      g.writeEndArray();
    }
    if (r.getLogprobs() && own("logprobs")) {
      g.writeBooleanField("logprobs", true);
      if (r.getTopLogprobs() > 0 && own("top_logprobs")) {
        g.writeNumberField("top_logprobs", r.getTopLogprobs());
      }
    }
    if (r.hasReasoning() && own("reasoning_effort")) {
      String effort =
          switch (r.getReasoning().getEffort()) {
            case REASONING_EFFORT_NONE -> "none";
            case REASONING_EFFORT_MINIMAL -> "minimal";
            case REASONING_EFFORT_LOW -> "low";
            case REASONING_EFFORT_MEDIUM -> "medium";
            case REASONING_EFFORT_HIGH -> "high";
            default -> null;
          };
      if (effort != null) {
        g.writeStringField("reasoning_effort", effort);
      }
    }
    if (!r.getEndUser().isEmpty() && own("user")) {
      g.writeStringField("user", r.getEndUser());
    }
    if (stream) {
      if (own("stream")) {
        g.writeBooleanField("stream", true);
      }
      if (own("stream_options")) {
        // Always ask for usage: accounting must never depend on the client's options.
        g.writeObjectFieldStart("stream_options");
        g.writeBooleanField("include_usage", true);
        g.writeEndObject();
      }
    }
    writeOverrides();
    g.writeEndObject();
  }

  private void embeddings(EmbedRequest r, String model, boolean base64) throws IOException {
    g.writeStartObject();
    if (own("model")) {
      g.writeStringField("model", model);
    }
    if (own("input")) {
      g.writeArrayFieldStart("input");
      for (String input : r.getInputsList()) {
        g.writeString(input);
      }
      g.writeEndArray();
    }
    if (r.getDimensions() > 0 && own("dimensions")) {
      g.writeNumberField("dimensions", r.getDimensions());
    }
    if (own("encoding_format")) {
      g.writeStringField("encoding_format", base64 ? "base64" : "float");
    }
    if (!r.getEndUser().isEmpty() && own("user")) {
      g.writeStringField("user", r.getEndUser());
    }
    writeOverrides();
    g.writeEndObject();
  }

  /** Whether a request asks the upstream for base64 vectors. */
  static boolean wantsBase64(EmbedRequest r, BackendKind kind) {
    // OpenAI itself: base64 is a quarter of the bytes of decimal floats and much cheaper to
    // parse (its own SDKs ask for it). Compatible servers do not all support it.
    return kind == BackendKind.BACKEND_KIND_OPENAI
        || r.getEncoding() == EmbeddingEncoding.EMBEDDING_ENCODING_BASE64;
  }

  private void writeOverrides() throws IOException {
    for (Map.Entry<String, Value> e : overrides.entrySet()) {
      g.writeFieldName(e.getKey());
      ProtoJson.writeValue(g, e.getValue());
    }
  }

  // ---- messages ----

  private void messages(ChatRequest r) throws IOException {
    g.writeArrayFieldStart("messages");
    if (r.getInstructionsCount() > 0) {
      g.writeStartObject();
      g.writeStringField("role", "system");
      g.writeFieldName("content");
      textContent(r.getInstructionsList(), "instructions");
      g.writeEndObject();
    }
    for (int i = 0; i < r.getMessagesCount(); i++) {
      message(r.getMessages(i), "messages[" + i + "]");
    }
    g.writeEndArray();
  }

  private void message(ChatMessage m, String path) throws IOException {
    switch (m.getRole()) {
      case ROLE_SYSTEM -> simple(
          "system", m, path);
      case ROLE_DEVELOPER -> simple(
          kind == BackendKind.BACKEND_KIND_OPENAI ? "developer" : "system", m, path);
      case ROLE_USER -> user(m, path);
      case ROLE_ASSISTANT -> assistant(m, path);
      case ROLE_TOOL -> {
        for (int i = 0; i < m.getPartsCount(); i++) {
          ContentPart part = m.getParts(i);
          if (!part.hasToolResult()) {
            throw badRequest(path + ".parts[" + i + "]: ROLE_TOOL messages carry only tool results");
          }
          toolResult(part.getToolResult(), path + ".parts[" + i + "]");
        }
      }
      default -> throw badRequest(path + ".role: unspecified");
    }
  }

  private void simple(String role, ChatMessage m, String path) throws IOException {
    g.writeStartObject();
    g.writeStringField("role", role);
    g.writeFieldName("content");
    textContent(m.getPartsList(), path + ".parts");
    if (!m.getName().isEmpty()) {
      g.writeStringField("name", m.getName());
    }
    g.writeEndObject();
  }

  /** Text-only content: a plain string for one part, an array of text parts otherwise. */
  private void textContent(java.util.List<ContentPart> parts, String path) throws IOException {
    for (int i = 0; i < parts.size(); i++) {
      if (!parts.get(i).hasText()) {
        throw badRequest(path + "[" + i + "]: only text is allowed here");
      }
    }
    if (parts.size() == 1) {
      g.writeString(parts.get(0).getText());
      return;
    }
    g.writeStartArray();
    for (ContentPart p : parts) {
      g.writeStartObject();
      g.writeStringField("type", "text");
      g.writeStringField("text", p.getText());
      g.writeEndObject();
    }
    g.writeEndArray();
  }

  private void user(ChatMessage m, String path) throws IOException {
    // Tool results in a user message (Anthropic style) become the tool messages OpenAI expects,
    // placed first: they answer the assistant turn before this one.
    int other = 0;
    ContentPart onlyOther = null;
    for (int i = 0; i < m.getPartsCount(); i++) {
      ContentPart part = m.getParts(i);
      if (part.hasToolResult()) {
        toolResult(part.getToolResult(), path + ".parts[" + i + "]");
      } else {
        other++;
        onlyOther = part;
      }
    }
    if (other == 0) {
      return;
    }
    g.writeStartObject();
    g.writeStringField("role", "user");
    g.writeFieldName("content");
    if (other == 1 && onlyOther.hasText()) {
      g.writeString(onlyOther.getText());
    } else {
      g.writeStartArray();
      for (int i = 0; i < m.getPartsCount(); i++) {
        ContentPart part = m.getParts(i);
        if (!part.hasToolResult()) {
          userPart(part, path + ".parts[" + i + "]");
        }
      }
      g.writeEndArray();
    }
    if (!m.getName().isEmpty()) {
      g.writeStringField("name", m.getName());
    }
    g.writeEndObject();
  }

  private void userPart(ContentPart part, String path) throws IOException {
    switch (part.getKindCase()) {
      case TEXT -> {
        g.writeStartObject();
        g.writeStringField("type", "text");
        g.writeStringField("text", part.getText());
        g.writeEndObject();
      }
      case IMAGE -> image(part.getImage(), path);
      case FILE -> file(part.getFile(), path);
      default -> throw badRequest(path + ": " + part.getKindCase() + " is not allowed in a user message");
    }
  }

  private void image(ImagePart image, String path) throws IOException {
    g.writeStartObject();
    g.writeStringField("type", "image_url");
    g.writeObjectFieldStart("image_url");
    if (image.hasData()) {
      if (image.getMimeType().isEmpty()) {
        throw badRequest(path + ".image.mime_type: required with data");
      }
      g.writeStringField("url", dataUrl(image.getMimeType(), image.getData().toByteArray()));
    } else {
      g.writeStringField("url", image.getUri());
    }
    switch (image.getDetail()) {
      case IMAGE_DETAIL_LOW -> g.writeStringField("detail", "low");
      case IMAGE_DETAIL_HIGH -> g.writeStringField("detail", "high");
      default -> {}
    }
    g.writeEndObject();
    g.writeEndObject();
  }

  private void file(FilePart file, String path) throws IOException {
    String mime = file.getMimeType();
    if (file.hasData() && (mime.equals("audio/wav") || mime.equals("audio/x-wav")
        || mime.equals("audio/mpeg") || mime.equals("audio/mp3"))) {
      g.writeStartObject();
      g.writeStringField("type", "input_audio");
      g.writeObjectFieldStart("input_audio");
      g.writeStringField("data", Base64.getEncoder().encodeToString(file.getData().toByteArray()));
      g.writeStringField("format", mime.endsWith("wav") ? "wav" : "mp3");
      g.writeEndObject();
      g.writeEndObject();
      return;
    }
    g.writeStartObject();
    g.writeStringField("type", "file");
    g.writeObjectFieldStart("file");
    switch (file.getSourceCase()) {
      case DATA -> {
        if (mime.isEmpty()) {
          throw badRequest(path + ".file.mime_type: required with data");
        }
        g.writeStringField("file_data", dataUrl(mime, file.getData().toByteArray()));
      }
      case PROVIDER_FILE_ID -> g.writeStringField("file_id", file.getProviderFileId());
      case URI -> throw badRequest(path + ".file.uri: OpenAI Chat Completions takes files as data "
          + "or file ids, not URLs");
      default -> throw badRequest(path + ".file: no source");
    }
    if (!file.getFilename().isEmpty()) {
      g.writeStringField("filename", file.getFilename());
    }
    g.writeEndObject();
    g.writeEndObject();
  }

  private static String dataUrl(String mime, byte[] data) {
    return "data:" + mime + ";base64," + Base64.getEncoder().encodeToString(data);
  }

  private void assistant(ChatMessage m, String path) throws IOException {
    g.writeStartObject();
    g.writeStringField("role", "assistant");
    StringBuilder text = null;
    StringBuilder refusal = null;
    int toolCalls = 0;
    for (int i = 0; i < m.getPartsCount(); i++) {
      ContentPart part = m.getParts(i);
      switch (part.getKindCase()) {
        case TEXT -> text = (text == null ? new StringBuilder() : text).append(part.getText());
        case REFUSAL ->
            refusal = (refusal == null ? new StringBuilder() : refusal).append(part.getRefusal());
        case TOOL_CALL -> toolCalls++;
        case REASONING -> {} // Chat Completions takes no reasoning back
        default -> throw badRequest(
            path + ".parts[" + i + "]: " + part.getKindCase() + " is not allowed in an assistant message");
      }
    }
    if (text != null) {
      g.writeStringField("content", text.toString());
    } else {
      g.writeNullField("content");
    }
    if (refusal != null) {
      g.writeStringField("refusal", refusal.toString());
    }
    if (toolCalls > 0) {
      g.writeArrayFieldStart("tool_calls");
      for (ContentPart part : m.getPartsList()) {
        if (part.hasToolCall()) {
          ToolCallPart call = part.getToolCall();
          g.writeStartObject();
          g.writeStringField("id", call.getId());
          g.writeStringField("type", "function");
          g.writeObjectFieldStart("function");
          g.writeStringField("name", call.getName());
          g.writeStringField("arguments", call.getArguments().isEmpty() ? "{}" : call.getArguments());
          g.writeEndObject();
          g.writeEndObject();
        }
      }
      g.writeEndArray();
    }
    if (!m.getName().isEmpty()) {
      g.writeStringField("name", m.getName());
    }
    g.writeEndObject();
  }

  private void toolResult(ToolResultPart result, String path) throws IOException {
    g.writeStartObject();
    g.writeStringField("role", "tool");
    g.writeStringField("tool_call_id", result.getToolCallId());
    StringBuilder content = new StringBuilder();
    if (result.getIsError()) {
      // OpenAI has no error flag on tool results: say it in the content.
      content.append("Error: ");
    }
    for (int i = 0; i < result.getContentCount(); i++) {
      ContentPart part = result.getContent(i);
      if (!part.hasText()) {
        throw badRequest(path + ".tool_result.content[" + i + "]: OpenAI tool results take text only");
      }
      content.append(part.getText());
    }
    g.writeStringField("content", content.toString());
    g.writeEndObject();
  }

  // ---- tools and formats ----

  private void tools(ChatRequest r) throws IOException {
    g.writeArrayFieldStart("tools");
    for (Tool tool : r.getToolsList()) {
      g.writeStartObject();
      g.writeStringField("type", "function");
      g.writeObjectFieldStart("function");
      g.writeStringField("name", tool.getName());
      if (!tool.getDescription().isEmpty()) {
        g.writeStringField("description", tool.getDescription());
      }
      if (tool.hasParameters()) {
        g.writeFieldName("parameters");
        ProtoJson.writeStruct(g, tool.getParameters());
      }
      if (tool.getStrict()) {
        g.writeBooleanField("strict", true);
      }
      g.writeEndObject();
      g.writeEndObject();
    }
    g.writeEndArray();
  }

  private void toolChoice(ToolChoice choice) throws IOException {
    if (own("tool_choice")) {
      switch (choice.getMode()) {
        case TOOL_CHOICE_MODE_AUTO -> g.writeStringField("tool_choice", "auto");
        case TOOL_CHOICE_MODE_NONE -> g.writeStringField("tool_choice", "none");
        case TOOL_CHOICE_MODE_REQUIRED -> g.writeStringField("tool_choice", "required");
        case TOOL_CHOICE_MODE_FUNCTION -> {
          g.writeObjectFieldStart("tool_choice");
          g.writeStringField("type", "function");
          g.writeObjectFieldStart("function");
          g.writeStringField("name", choice.getFunctionName());
          g.writeEndObject();
          g.writeEndObject();
        }
        default -> {}
      }
    }
    if (choice.hasParallelToolCalls() && own("parallel_tool_calls")) {
      g.writeBooleanField("parallel_tool_calls", choice.getParallelToolCalls());
    }
  }

  private void responseFormat(ResponseFormat format) throws IOException {
    switch (format.getType()) {
      case RESPONSE_FORMAT_TYPE_TEXT -> {
        g.writeObjectFieldStart("response_format");
        g.writeStringField("type", "text");
        g.writeEndObject();
      }
      case RESPONSE_FORMAT_TYPE_JSON_OBJECT -> {
        g.writeObjectFieldStart("response_format");
        g.writeStringField("type", "json_object");
        g.writeEndObject();
      }
      case RESPONSE_FORMAT_TYPE_JSON_SCHEMA -> {
        g.writeObjectFieldStart("response_format");
        g.writeStringField("type", "json_schema");
        g.writeObjectFieldStart("json_schema");
        g.writeStringField("name", format.getName());
        if (!format.getDescription().isEmpty()) {
          g.writeStringField("description", format.getDescription());
        }
        g.writeFieldName("schema");
        ProtoJson.writeStruct(g, format.getSchema());
        if (format.getStrict()) {
          g.writeBooleanField("strict", true);
        }
        g.writeEndObject();
        g.writeEndObject();
      }
      default -> {}
    }
  }

  private UpstreamException badRequest(String message) {
    return new UpstreamException(UpstreamFailure.BAD_REQUEST, backend, 0, null, message, null);
  }
}
