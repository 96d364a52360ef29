package dev.sluice.dataplane.ratelimit;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import dev.sluice.inference.v1.ChatMessage;
import dev.sluice.inference.v1.ChatRequest;
import dev.sluice.inference.v1.ContentPart;
import dev.sluice.inference.v1.FilePart;
import dev.sluice.inference.v1.ImageDetail;
import dev.sluice.inference.v1.ImagePart;
import dev.sluice.inference.v1.Role;
import dev.sluice.inference.v1.Tool;
import dev.sluice.inference.v1.ToolCallPart;
import dev.sluice.inference.v1.ToolResultPart;
import java.util.List;
import org.junit.jupiter.api.Test;

class TokenEstimatorTest {
  /** Loaded once: parsing the vocabulary takes a moment. */
  private static final TokenEstimator O200K = TokenEstimator.o200k();

  private static ContentPart text(String text) {
    return ContentPart.newBuilder().setText(text).build();
  }

  private static ChatMessage user(String text) {
    return ChatMessage.newBuilder().setRole(Role.ROLE_USER).addParts(text(text)).build();
  }

  @Test
  void countsAMessageLikeOpenAiDoes() {
    // OpenAI's cookbook: "Hello world" is 2 tokens in o200k; a message adds 3 and the reply 3.
    ChatRequest request = ChatRequest.newBuilder().setModel("gpt-4o").addMessages(user("Hello world")).build();

    assertThat(O200K.estimateInputTokens(request)).isEqualTo(2 + 3 + 3);
  }

  @Test
  void countsInstructionsMessagesToolCallsAndToolResults() {
    ChatRequest request =
        ChatRequest.newBuilder()
            .addInstructions(text("You are terse."))
            .addMessages(user("What is the weather in Paris?"))
            .addMessages(
                ChatMessage.newBuilder()
                    .setRole(Role.ROLE_ASSISTANT)
                    .addParts(
                        ContentPart.newBuilder()
                            .setToolCall(
                                ToolCallPart.newBuilder()
                                    .setId("c1")
                                    .setName("weather")
                                    .setArguments("{\"city\":\"Paris\"}"))))
            .addMessages(
                ChatMessage.newBuilder()
                    .setRole(Role.ROLE_TOOL)
                    .addParts(
                        ContentPart.newBuilder()
                            .setToolResult(
                                ToolResultPart.newBuilder()
                                    .setToolCallId("c1")
                                    .addContent(text("18 degrees and sunny")))))
            .build();

    long estimate = O200K.estimateInputTokens(request);

    long textOnly =
        O200K.estimateInputTokens(
            ChatRequest.newBuilder().addMessages(user("You are terse.")).build());
    assertThat(estimate).isGreaterThan(textOnly + 3 * 3 + 15).isLessThan(60);
  }

  @Test
  void toolDefinitionsCountTheirSchema() {
    Struct schema =
        Struct.newBuilder()
            .putFields("type", Value.newBuilder().setStringValue("object").build())
            .putFields(
                "properties",
                Value.newBuilder()
                    .setStructValue(
                        Struct.newBuilder()
                            .putFields(
                                "city",
                                Value.newBuilder()
                                    .setStructValue(
                                        Struct.newBuilder()
                                            .putFields(
                                                "type",
                                                Value.newBuilder().setStringValue("string").build()))
                                    .build()))
                    .build())
            .build();
    ChatRequest bare = ChatRequest.newBuilder().addMessages(user("hi")).build();
    ChatRequest withTool =
        bare.toBuilder()
            .addTools(
                Tool.newBuilder()
                    .setName("weather")
                    .setDescription("Current weather of a city")
                    .setParameters(schema))
            .build();

    assertThat(O200K.estimateInputTokens(withTool) - O200K.estimateInputTokens(bare))
        .isBetween(20L, 40L);
  }

  @Test
  void imagesAndFilesCountAFixedAmount() {
    ChatRequest request =
        ChatRequest.newBuilder()
            .addMessages(
                ChatMessage.newBuilder()
                    .setRole(Role.ROLE_USER)
                    .addParts(
                        ContentPart.newBuilder()
                            .setImage(ImagePart.newBuilder().setUri("https://x/y.png")))
                    .addParts(
                        ContentPart.newBuilder()
                            .setImage(
                                ImagePart.newBuilder()
                                    .setUri("https://x/z.png")
                                    .setDetail(ImageDetail.IMAGE_DETAIL_LOW)))
                    .addParts(
                        ContentPart.newBuilder().setFile(FilePart.newBuilder().setProviderFileId("f"))))
            .build();

    assertThat(O200K.estimateInputTokens(request)).isEqualTo(3 + 3 + 765 + 85 + 1000);
  }

  @Test
  void textBeyondTheExactBudgetIsExtrapolated() {
    String sentence = "The quick brown fox jumps over the lazy dog. ";
    ChatRequest request = ChatRequest.newBuilder().addMessages(user(sentence.repeat(2_000))).build();
    TokenEstimator exact = TokenEstimator.bpe(com.knuddels.jtokkit.api.EncodingType.O200K_BASE, 1_000_000);
    TokenEstimator bounded = TokenEstimator.bpe(com.knuddels.jtokkit.api.EncodingType.O200K_BASE, 4_096);

    long full = exact.estimateInputTokens(request);
    long estimated = bounded.estimateInputTokens(request);

    assertThat((double) estimated).isCloseTo(full, org.assertj.core.api.Assertions.withinPercentage(3));
  }

  @Test
  void specialTokenTextIsCountedAsOrdinaryText() {
    ChatRequest request = ChatRequest.newBuilder().addMessages(user("<|endoftext|>")).build();

    assertThat(O200K.estimateInputTokens(request)).isGreaterThan(6);
  }

  @Test
  void countsPlainTextsWithoutChatFraming() {
    // "Hello world" is 2 tokens in o200k; embedding inputs carry no message or reply framing.
    assertThat(O200K.estimateTextTokens(List.of("Hello world"))).isEqualTo(2);
    // Each text is counted on its own and rounded up: 8 characters are 2 tokens, 1 is 1.
    assertThat(TokenEstimator.charsPerToken().estimateTextTokens(List.of("x".repeat(8), "y")))
        .isEqualTo(3);
    assertThat(O200K.estimateTextTokens(List.of())).isZero();
  }

  @Test
  void theCharacterRuleCountsFourCharactersPerToken() {
    ChatRequest request = ChatRequest.newBuilder().addMessages(user("x".repeat(399))).build();

    // 399 characters: 100 tokens, plus message and reply framing.
    assertThat(TokenEstimator.charsPerToken().estimateInputTokens(request)).isEqualTo(100 + 6);
  }

  @Test
  void maxOutputTokensComesFromTheRequestThenTheModelThenTheDefaultTimesTheChoices() {
    ChatRequest request = ChatRequest.newBuilder().setMaxOutputTokens(300).setCandidateCount(2).build();
    ChatRequest unset = ChatRequest.getDefaultInstance();

    assertThat(TokenEstimator.maxOutputTokens(request, 8_192)).isEqualTo(600);
    assertThat(TokenEstimator.maxOutputTokens(unset, 8_192)).isEqualTo(8_192);
    assertThat(TokenEstimator.maxOutputTokens(unset, 0)).isEqualTo(4_096);
  }
}
