package dev.sluice.dataplane.server;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Value;
import com.google.protobuf.util.JsonFormat;
import dev.sluice.config.v1.PromptTemplate;
import dev.sluice.dataplane.config.RuntimeConfig;
import dev.sluice.inference.v1.ChatRequest;
import dev.sluice.inference.v1.ContentPart;
import dev.sluice.inference.v1.PromptTemplateInput;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * Renders {@code ChatRequest.prompt_template}: looks up the operator's template, substitutes the
 * request's variables ({@code {{name}}}, optional spaces inside the braces, {@code \{{} for a
 * literal {@code {{}) and puts the text before the request's instructions as one text part.
 * Strings are inserted as-is, other JSON values as compact JSON. Variables are checked for
 * presence; checking them against the template's JSON schema is not done yet.
 */
final class PromptRenderer {
  private static final Pattern VARIABLE = Pattern.compile("[A-Za-z_][A-Za-z0-9_]*");
  private static final JsonFormat.Printer JSON =
      JsonFormat.printer().omittingInsignificantWhitespace();

  private PromptRenderer() {}

  /** {@code request} with its template rendered into the instructions, or as is without one. */
  static ChatRequest render(RuntimeConfig config, ChatRequest request, String prefix) {
    if (!request.hasPromptTemplate()) {
      return request;
    }
    PromptTemplateInput input = request.getPromptTemplate();
    PromptTemplate template = config.promptTemplate(input.getName());
    if (template == null) {
      throw RequestValidator.invalidRequest(
          prefix + "prompt_template.name", input.getName() + " is not a prompt template");
    }
    String text = substitute(template.getText(), input.getVariables().getFieldsMap(), prefix);
    return request.toBuilder()
        .clearPromptTemplate()
        .clearInstructions()
        .addInstructions(ContentPart.newBuilder().setText(text))
        .addAllInstructions(request.getInstructionsList())
        .build();
  }

  private static String substitute(String text, Map<String, Value> variables, String prefix) {
    StringBuilder out = new StringBuilder(text.length() + 64);
    int i = 0;
    while (i < text.length()) {
      if (text.startsWith("\\{{", i)) {
        out.append("{{");
        i += 3;
      } else if (text.startsWith("{{", i)) {
        int end = text.indexOf("}}", i + 2);
        String name = end < 0 ? "" : text.substring(i + 2, end).trim();
        if (end < 0 || !VARIABLE.matcher(name).matches()) {
          // Not a variable reference: keep the braces as text.
          out.append("{{");
          i += 2;
          continue;
        }
        Value value = variables.get(name);
        if (value == null) {
          throw RequestValidator.invalidRequest(
              prefix + "prompt_template.variables." + name, "required by the template");
        }
        out.append(render(value));
        i = end + 2;
      } else {
        out.append(text.charAt(i++));
      }
    }
    return out.toString();
  }

  private static String render(Value value) {
    if (value.getKindCase() == Value.KindCase.STRING_VALUE) {
      return value.getStringValue();
    }
    try {
      return JSON.print(value);
    } catch (InvalidProtocolBufferException e) {
      throw new IllegalStateException("a Struct value always prints as JSON", e);
    }
  }
}
