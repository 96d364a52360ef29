package dev.sluice.dataplane.server;

import com.google.rpc.BadRequest.FieldViolation;
import dev.sluice.grpc.ApiException;
import dev.sluice.inference.v1.ChatMessage;
import dev.sluice.inference.v1.ChatRequest;
import dev.sluice.inference.v1.ContentPart;
import dev.sluice.inference.v1.EmbedRequest;
import dev.sluice.inference.v1.EmbeddingEncoding;
import dev.sluice.inference.v1.FilePart;
import dev.sluice.inference.v1.ImagePart;
import dev.sluice.inference.v1.ResponseFormat;
import dev.sluice.inference.v1.ResponseFormatType;
import dev.sluice.inference.v1.Role;
import dev.sluice.inference.v1.Tool;
import dev.sluice.inference.v1.ToolChoice;
import dev.sluice.inference.v1.ToolChoiceMode;
import dev.sluice.inference.v1.ToolResultPart;
import io.grpc.Status;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Checks requests against the rules the API documents, before any routing, and reports every
 * violation at once as INVALID_ARGUMENT with a {@code BadRequest} naming each field by its path
 * (for example {@code chat.messages[1].parts[0].image.mime_type}). Rules that depend on the
 * provider (ranges narrower than the API's, unsupported features) are the adapters' business.
 */
final class RequestValidator {
  /** The {@code ErrorInfo.reason} of a request that fails validation. */
  static final String INVALID_REQUEST = "INVALID_REQUEST";

  static final int MAX_MODEL_NAME = 256;
  private static final Pattern TOOL_NAME = Pattern.compile("[A-Za-z0-9_-]{1,64}");
  private static final Pattern PARTICIPANT_NAME = Pattern.compile("[A-Za-z0-9_-]{1,64}");
  private static final Pattern REQUEST_ID = Pattern.compile("[A-Za-z0-9._:-]{1,128}");

  private final String prefix;
  private final List<FieldViolation> violations = new ArrayList<>();

  private RequestValidator(String prefix) {
    this.prefix = prefix;
  }

  /** Validates a chat request whose fields sit under {@code prefix} (e.g. {@code "chat."}). */
  static void checkChat(ChatRequest request, String prefix) {
    RequestValidator v = new RequestValidator(prefix);
    v.chat(request);
    v.throwIfInvalid();
  }

  static void checkEmbed(EmbedRequest request) {
    RequestValidator v = new RequestValidator("");
    v.embed(request);
    v.throwIfInvalid();
  }

  private void chat(ChatRequest r) {
    modelName(r.getModel());
    for (int i = 0; i < r.getInstructionsCount(); i++) {
      ContentPart part = r.getInstructions(i);
      if (part.getKindCase() != ContentPart.KindCase.TEXT) {
        violation("instructions[" + i + "]", "must be a text part");
      }
    }
    if (r.getMessagesCount() == 0) {
      violation("messages", "at least one message is required");
    }
    for (int i = 0; i < r.getMessagesCount(); i++) {
      message(r.getMessages(i), "messages[" + i + "]");
    }
    tools(r);
    if (r.hasResponseFormat()) {
      responseFormat(r.getResponseFormat());
    }
    if (r.hasTemperature()) {
      range("temperature", r.getTemperature(), 0, 2);
    }
    if (r.hasTopP()) {
      range("top_p", r.getTopP(), 0, 1);
    }
    if (r.hasTopK() && r.getTopK() < 1) {
      violation("top_k", r.getTopK() + " (expected: >= 1)");
    }
    if (r.hasMaxOutputTokens() && r.getMaxOutputTokens() < 1) {
      violation("max_output_tokens", r.getMaxOutputTokens() + " (expected: >= 1)");
    }
    if (r.hasPresencePenalty()) {
      range("presence_penalty", r.getPresencePenalty(), -2, 2);
    }
    if (r.hasFrequencyPenalty()) {
      range("frequency_penalty", r.getFrequencyPenalty(), -2, 2);
    }
    if (r.getCandidateCount() < 0) {
      violation("candidate_count", r.getCandidateCount() + " (expected: >= 0)");
    }
    if (r.getStopSequencesCount() > 16) {
      violation("stop_sequences", r.getStopSequencesCount() + " entries (expected: at most 16)");
    }
    for (int i = 0; i < r.getStopSequencesCount(); i++) {
      String stop = r.getStopSequences(i);
      if (stop.isEmpty() || stop.getBytes(StandardCharsets.UTF_8).length > 256) {
        violation("stop_sequences[" + i + "]", "must be 1 to 256 bytes");
      }
    }
    if (r.getTopLogprobs() < 0 || r.getTopLogprobs() > 20) {
      violation("top_logprobs", r.getTopLogprobs() + " (expected: 0 to 20)");
    } else if (r.getTopLogprobs() > 0 && !r.getLogprobs()) {
      violation("top_logprobs", "requires logprobs");
    }
    if (r.getReasoning().hasBudgetTokens() && r.getReasoning().getBudgetTokens() < 0) {
      violation(
          "reasoning.budget_tokens", r.getReasoning().getBudgetTokens() + " (expected: >= 0)");
    }
    if (r.hasPromptTemplate() && r.getPromptTemplate().getName().isEmpty()) {
      violation("prompt_template.name", "required");
    }
    common(r.getEndUser(), r.getMetadataMap(), r.getRequestId());
  }

  private void message(ChatMessage m, String path) {
    if (m.getRole() == Role.ROLE_UNSPECIFIED || m.getRole() == Role.UNRECOGNIZED) {
      violation(path + ".role", "required");
    }
    if (!m.getName().isEmpty() && !PARTICIPANT_NAME.matcher(m.getName()).matches()) {
      violation(path + ".name", "must be 1 to 64 characters from [A-Za-z0-9_-]");
    }
    if (m.getPartsCount() == 0) {
      violation(path + ".parts", "at least one part is required");
    }
    for (int j = 0; j < m.getPartsCount(); j++) {
      part(m.getRole(), m.getParts(j), path + ".parts[" + j + "]");
    }
  }

  private void part(Role role, ContentPart p, String path) {
    switch (p.getKindCase()) {
      case KIND_NOT_SET:
        violation(
            path,
            "one of text, image, file, tool_call, tool_result, reasoning or refusal is required");
        return;
      case IMAGE:
        image(p.getImage(), path + ".image");
        break;
      case FILE:
        file(p.getFile(), path + ".file");
        break;
      case TOOL_CALL:
        if (p.getToolCall().getName().isEmpty()) {
          violation(path + ".tool_call.name", "required");
        }
        if (p.getToolCall().getId().isEmpty()) {
          violation(path + ".tool_call.id", "required");
        }
        break;
      case TOOL_RESULT:
        toolResult(p.getToolResult(), path + ".tool_result");
        break;
      default:
        break;
    }
    ContentPart.KindCase kind = p.getKindCase();
    boolean assistantOnly =
        kind == ContentPart.KindCase.TOOL_CALL
            || kind == ContentPart.KindCase.REASONING
            || kind == ContentPart.KindCase.REFUSAL;
    if (assistantOnly && role != Role.ROLE_ASSISTANT && role != Role.ROLE_UNSPECIFIED) {
      violation(path, kindName(kind) + " parts are only allowed in ROLE_ASSISTANT messages");
    }
    if (kind == ContentPart.KindCase.TOOL_RESULT
        && role != Role.ROLE_TOOL
        && role != Role.ROLE_USER
        && role != Role.ROLE_UNSPECIFIED) {
      violation(path, "tool_result parts are only allowed in ROLE_TOOL or ROLE_USER messages");
    }
    if (role == Role.ROLE_TOOL && kind != ContentPart.KindCase.TOOL_RESULT) {
      violation(path, "ROLE_TOOL messages carry only tool_result parts");
    }
  }

  private void toolResult(ToolResultPart result, String path) {
    if (result.getToolCallId().isEmpty()) {
      violation(path + ".tool_call_id", "required");
    }
    for (int k = 0; k < result.getContentCount(); k++) {
      ContentPart inner = result.getContent(k);
      String innerPath = path + ".content[" + k + "]";
      switch (inner.getKindCase()) {
        case TEXT:
          break;
        case IMAGE:
          image(inner.getImage(), innerPath + ".image");
          break;
        case FILE:
          file(inner.getFile(), innerPath + ".file");
          break;
        default:
          violation(innerPath, "tool results may contain only text, image and file parts");
      }
    }
  }

  private void image(ImagePart image, String path) {
    switch (image.getSourceCase()) {
      case SOURCE_NOT_SET:
        violation(path, "one of uri or data is required");
        break;
      case URI:
        if (image.getUri().regionMatches(true, 0, "data:", 0, 5)) {
          violation(path + ".uri", "data: URLs are not accepted; put the bytes in data");
        }
        break;
      case DATA:
        if (image.getMimeType().isEmpty()) {
          violation(path + ".mime_type", "required with data");
        }
        break;
    }
  }

  private void file(FilePart file, String path) {
    if (file.getSourceCase() == FilePart.SourceCase.SOURCE_NOT_SET) {
      violation(path, "one of uri, data or provider_file_id is required");
    } else if (file.getSourceCase() == FilePart.SourceCase.DATA && file.getMimeType().isEmpty()) {
      violation(path + ".mime_type", "required with data");
    }
  }

  private void tools(ChatRequest r) {
    if (r.getToolsCount() > 128) {
      violation("tools", r.getToolsCount() + " tools (expected: at most 128)");
    }
    Set<String> names = new HashSet<>();
    for (int i = 0; i < r.getToolsCount(); i++) {
      Tool tool = r.getTools(i);
      if (!TOOL_NAME.matcher(tool.getName()).matches()) {
        violation("tools[" + i + "].name", "must be 1 to 64 characters from [A-Za-z0-9_-]");
      } else if (!names.add(tool.getName())) {
        violation("tools[" + i + "].name", tool.getName() + " is declared twice");
      }
    }
    if (!r.hasToolChoice()) {
      return;
    }
    ToolChoice choice = r.getToolChoice();
    if (choice.getMode() == ToolChoiceMode.TOOL_CHOICE_MODE_FUNCTION) {
      if (choice.getFunctionName().isEmpty()) {
        violation("tool_choice.function_name", "required with TOOL_CHOICE_MODE_FUNCTION");
      } else if (!names.contains(choice.getFunctionName())) {
        violation(
            "tool_choice.function_name", choice.getFunctionName() + " is not a declared tool");
      }
    } else if (!choice.getFunctionName().isEmpty()) {
      violation("tool_choice.function_name", "only allowed with TOOL_CHOICE_MODE_FUNCTION");
    }
  }

  private void responseFormat(ResponseFormat format) {
    if (format.getType() == ResponseFormatType.RESPONSE_FORMAT_TYPE_JSON_SCHEMA) {
      if (!TOOL_NAME.matcher(format.getName()).matches()) {
        violation(
            "response_format.name",
            "required with RESPONSE_FORMAT_TYPE_JSON_SCHEMA: 1 to 64 characters from"
                + " [A-Za-z0-9_-]");
      }
      if (!format.hasSchema()) {
        violation("response_format.schema", "required with RESPONSE_FORMAT_TYPE_JSON_SCHEMA");
      }
    } else {
      if (!format.getName().isEmpty()) {
        violation("response_format.name", "only allowed with RESPONSE_FORMAT_TYPE_JSON_SCHEMA");
      }
      if (format.hasSchema()) {
        violation("response_format.schema", "only allowed with RESPONSE_FORMAT_TYPE_JSON_SCHEMA");
      }
    }
  }

  private void embed(EmbedRequest r) {
    modelName(r.getModel());
    if (r.getInputsCount() == 0 || r.getInputsCount() > 2048) {
      violation("inputs", r.getInputsCount() + " inputs (expected: 1 to 2048)");
    }
    if (r.getDimensions() < 0) {
      violation("dimensions", r.getDimensions() + " (expected: >= 0)");
    }
    if (r.getEncoding() == EmbeddingEncoding.UNRECOGNIZED) {
      violation("encoding", "unknown value");
    }
    common(r.getEndUser(), r.getMetadataMap(), r.getRequestId());
  }

  private void modelName(String model) {
    if (model.isEmpty()) {
      violation("model", "required");
    } else if (model.length() > MAX_MODEL_NAME) {
      violation("model", "longer than " + MAX_MODEL_NAME + " characters");
    }
  }

  private void common(String endUser, Map<String, String> metadata, String requestId) {
    if (endUser.length() > 256) {
      violation("end_user", "longer than 256 characters");
    }
    if (metadata.size() > 16) {
      violation("metadata", metadata.size() + " entries (expected: at most 16)");
    }
    for (Map.Entry<String, String> e : metadata.entrySet()) {
      if (e.getKey().isEmpty() || e.getKey().length() > 64) {
        violation("metadata", "keys must be 1 to 64 characters");
      }
      if (e.getValue().length() > 512) {
        violation("metadata[" + e.getKey() + "]", "longer than 512 characters");
      }
    }
    if (!requestId.isEmpty() && !REQUEST_ID.matcher(requestId).matches()) {
      violation("request_id", "must be 1 to 128 characters from [A-Za-z0-9._:-]");
    }
  }

  private void range(String field, double value, double min, double max) {
    if (!(value >= min && value <= max)) {
      violation(field, value + " (expected: " + fmt(min) + " to " + fmt(max) + ")");
    }
  }

  private static String fmt(double d) {
    return d == Math.rint(d) ? Long.toString((long) d) : Double.toString(d);
  }

  private static String kindName(ContentPart.KindCase kind) {
    return kind.name().toLowerCase(Locale.ROOT);
  }

  /** INVALID_ARGUMENT for one bad field, in the form validation failures take. */
  static ApiException invalidRequest(String field, String description) {
    return ApiException.builder(Status.Code.INVALID_ARGUMENT, INVALID_REQUEST)
        .message(field + ": " + description)
        .badRequest(List.of(ApiException.fieldViolation(field, description)))
        .build();
  }

  private void violation(String field, String description) {
    violations.add(ApiException.fieldViolation(prefix + field, description));
  }

  private void throwIfInvalid() {
    if (violations.isEmpty()) {
      return;
    }
    FieldViolation first = violations.get(0);
    String message =
        first.getField()
            + ": "
            + first.getDescription()
            + (violations.size() > 1 ? " (and " + (violations.size() - 1) + " more)" : "");
    // Reason INVALID_REQUEST, as inference_service.proto documents it for clients.
    throw ApiException.builder(Status.Code.INVALID_ARGUMENT, INVALID_REQUEST)
        .message(message)
        .badRequest(violations)
        .build();
  }
}
