package dev.sluice.dataplane.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import com.google.protobuf.Struct;
import com.google.rpc.BadRequest;
import dev.sluice.grpc.ApiException;
import dev.sluice.inference.v1.ChatMessage;
import dev.sluice.inference.v1.ChatRequest;
import dev.sluice.inference.v1.ContentPart;
import dev.sluice.inference.v1.EmbedRequest;
import dev.sluice.inference.v1.FilePart;
import dev.sluice.inference.v1.ImagePart;
import dev.sluice.inference.v1.ResponseFormat;
import dev.sluice.inference.v1.ResponseFormatType;
import dev.sluice.inference.v1.Role;
import dev.sluice.inference.v1.Tool;
import dev.sluice.inference.v1.ToolCallPart;
import dev.sluice.inference.v1.ToolChoice;
import dev.sluice.inference.v1.ToolChoiceMode;
import dev.sluice.inference.v1.ToolResultPart;
import io.grpc.Status;
import java.util.List;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class RequestValidatorTest {
  private static final ChatRequest VALID =
      ChatRequest.newBuilder()
          .setModel("m1")
          .addMessages(
              ChatMessage.newBuilder()
                  .setRole(Role.ROLE_USER)
                  .addParts(ContentPart.newBuilder().setText("hi")))
          .build();

  private static ContentPart text(String t) {
    return ContentPart.newBuilder().setText(t).build();
  }

  private static ChatMessage message(Role role, ContentPart... parts) {
    return ChatMessage.newBuilder().setRole(role).addAllParts(List.of(parts)).build();
  }

  private static List<String> fieldsOf(ChatRequest request, String prefix) {
    ApiException e =
        catchThrowableOfType(ApiException.class, () -> RequestValidator.checkChat(request, prefix));
    assertThat(e).as("expected a validation error").isNotNull();
    assertThat(e.code()).isEqualTo(Status.Code.INVALID_ARGUMENT);
    assertThat(e.reason()).isEqualTo("INVALID_REQUEST");
    BadRequest bad = (BadRequest) e.details().get(0);
    return bad.getFieldViolationsList().stream().map(BadRequest.FieldViolation::getField).toList();
  }

  static Stream<Arguments> invalidRequests() {
    return Stream.of(
        Arguments.of("model", (UnaryOperator<ChatRequest.Builder>) b -> b.clearModel()),
        Arguments.of("messages", (UnaryOperator<ChatRequest.Builder>) b -> b.clearMessages()),
        Arguments.of(
            "messages[1].role",
            (UnaryOperator<ChatRequest.Builder>)
                b -> b.addMessages(message(Role.ROLE_UNSPECIFIED, text("x")))),
        Arguments.of(
            "messages[1].parts[0]",
            (UnaryOperator<ChatRequest.Builder>)
                b -> b.addMessages(message(Role.ROLE_USER, ContentPart.getDefaultInstance()))),
        Arguments.of(
            "messages[1].parts[0]",
            (UnaryOperator<ChatRequest.Builder>)
                b ->
                    b.addMessages(
                        message(
                            Role.ROLE_USER,
                            ContentPart.newBuilder()
                                .setToolCall(ToolCallPart.newBuilder().setId("c").setName("f"))
                                .build()))),
        Arguments.of(
            "messages[1].parts[0]",
            (UnaryOperator<ChatRequest.Builder>)
                b -> b.addMessages(message(Role.ROLE_TOOL, text("x")))),
        Arguments.of(
            "messages[1].parts[0].tool_result.tool_call_id",
            (UnaryOperator<ChatRequest.Builder>)
                b ->
                    b.addMessages(
                        message(
                            Role.ROLE_TOOL,
                            ContentPart.newBuilder()
                                .setToolResult(ToolResultPart.newBuilder())
                                .build()))),
        Arguments.of(
            "messages[1].parts[0].image.uri",
            (UnaryOperator<ChatRequest.Builder>)
                b ->
                    b.addMessages(
                        message(
                            Role.ROLE_USER,
                            ContentPart.newBuilder()
                                .setImage(ImagePart.newBuilder().setUri("data:image/png;base64,AA"))
                                .build()))),
        Arguments.of(
            "messages[1].parts[0].file",
            (UnaryOperator<ChatRequest.Builder>)
                b ->
                    b.addMessages(
                        message(
                            Role.ROLE_USER,
                            ContentPart.newBuilder().setFile(FilePart.newBuilder()).build()))),
        Arguments.of(
            "instructions[0]",
            (UnaryOperator<ChatRequest.Builder>)
                b -> b.addInstructions(ContentPart.newBuilder().setRefusal("no"))),
        Arguments.of(
            "tools[1].name",
            (UnaryOperator<ChatRequest.Builder>)
                b ->
                    b.addTools(Tool.newBuilder().setName("f"))
                        .addTools(Tool.newBuilder().setName("f"))),
        Arguments.of(
            "tools[0].name",
            (UnaryOperator<ChatRequest.Builder>)
                b -> b.addTools(Tool.newBuilder().setName("has space"))),
        Arguments.of(
            "tool_choice.function_name",
            (UnaryOperator<ChatRequest.Builder>)
                b ->
                    b.setToolChoice(
                        ToolChoice.newBuilder()
                            .setMode(ToolChoiceMode.TOOL_CHOICE_MODE_FUNCTION)
                            .setFunctionName("undeclared"))),
        Arguments.of(
            "response_format.schema",
            (UnaryOperator<ChatRequest.Builder>)
                b ->
                    b.setResponseFormat(
                        ResponseFormat.newBuilder()
                            .setType(ResponseFormatType.RESPONSE_FORMAT_TYPE_JSON_SCHEMA)
                            .setName("s"))),
        Arguments.of(
            "response_format.schema",
            (UnaryOperator<ChatRequest.Builder>)
                b ->
                    b.setResponseFormat(
                        ResponseFormat.newBuilder().setSchema(Struct.getDefaultInstance()))),
        Arguments.of(
            "temperature", (UnaryOperator<ChatRequest.Builder>) b -> b.setTemperature(2.5)),
        Arguments.of(
            "temperature", (UnaryOperator<ChatRequest.Builder>) b -> b.setTemperature(Double.NaN)),
        Arguments.of("top_p", (UnaryOperator<ChatRequest.Builder>) b -> b.setTopP(-0.1)),
        Arguments.of("top_k", (UnaryOperator<ChatRequest.Builder>) b -> b.setTopK(0)),
        Arguments.of(
            "max_output_tokens", (UnaryOperator<ChatRequest.Builder>) b -> b.setMaxOutputTokens(0)),
        Arguments.of(
            "presence_penalty",
            (UnaryOperator<ChatRequest.Builder>) b -> b.setPresencePenalty(2.1)),
        Arguments.of(
            "stop_sequences[0]", (UnaryOperator<ChatRequest.Builder>) b -> b.addStopSequences("")),
        Arguments.of("top_logprobs", (UnaryOperator<ChatRequest.Builder>) b -> b.setTopLogprobs(3)),
        Arguments.of(
            "end_user", (UnaryOperator<ChatRequest.Builder>) b -> b.setEndUser("u".repeat(257))),
        Arguments.of(
            "request_id", (UnaryOperator<ChatRequest.Builder>) b -> b.setRequestId("has space")));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("invalidRequests")
  void namesTheOffendingField(String field, UnaryOperator<ChatRequest.Builder> breakIt) {
    assertThat(fieldsOf(breakIt.apply(VALID.toBuilder()).build(), "")).containsExactly(field);
  }

  @Test
  void prefixesPathsForRequestsNestedInAnother() {
    assertThat(fieldsOf(VALID.toBuilder().setTemperature(9).build(), "chat."))
        .containsExactly("chat.temperature");
  }

  @Test
  void reportsEveryViolationAtOnce() {
    ApiException e =
        catchThrowableOfType(
            ApiException.class,
            () ->
                RequestValidator.checkChat(VALID.toBuilder().clearModel().setTopP(7).build(), ""));

    assertThat(e.getMessage()).isEqualTo("model: required (and 1 more)");
    assertThat(((BadRequest) e.details().get(0)).getFieldViolationsCount()).isEqualTo(2);
  }

  @Test
  void acceptsAValidConversationWithToolsAndMedia() {
    ChatRequest request =
        VALID.toBuilder()
            .addTools(Tool.newBuilder().setName("lookup"))
            .setToolChoice(
                ToolChoice.newBuilder()
                    .setMode(ToolChoiceMode.TOOL_CHOICE_MODE_FUNCTION)
                    .setFunctionName("lookup"))
            .addMessages(
                message(
                    Role.ROLE_ASSISTANT,
                    ContentPart.newBuilder()
                        .setToolCall(
                            ToolCallPart.newBuilder()
                                .setId("c1")
                                .setName("lookup")
                                .setArguments("{}"))
                        .build()))
            .addMessages(
                message(
                    Role.ROLE_TOOL,
                    ContentPart.newBuilder()
                        .setToolResult(
                            ToolResultPart.newBuilder().setToolCallId("c1").addContent(text("42")))
                        .build()))
            .addMessages(
                message(
                    Role.ROLE_USER,
                    ContentPart.newBuilder()
                        .setImage(ImagePart.newBuilder().setUri("https://example.com/cat.png"))
                        .build()))
            .setTemperature(0)
            .setTopP(1)
            .setLogprobs(true)
            .setTopLogprobs(5)
            .build();

    assertThatCode(() -> RequestValidator.checkChat(request, "")).doesNotThrowAnyException();
  }

  @Test
  void validatesEmbedRequests() {
    ApiException e =
        catchThrowableOfType(
            ApiException.class,
            () -> RequestValidator.checkEmbed(EmbedRequest.newBuilder().setModel("e").build()));

    assertThat(((BadRequest) e.details().get(0)).getFieldViolations(0).getField())
        .isEqualTo("inputs");
  }
}
