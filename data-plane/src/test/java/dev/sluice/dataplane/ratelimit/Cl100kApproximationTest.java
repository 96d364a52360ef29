package dev.sluice.dataplane.ratelimit;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import com.knuddels.jtokkit.Encodings;
import com.knuddels.jtokkit.api.Encoding;
import com.knuddels.jtokkit.api.EncodingType;
import dev.sluice.inference.v1.ChatMessage;
import dev.sluice.inference.v1.ChatRequest;
import dev.sluice.inference.v1.ContentPart;
import dev.sluice.inference.v1.Role;
import java.io.IOException;
import java.io.InputStream;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class Cl100kApproximationTest {
  private static final Encoding CL100K =
      Encodings.newLazyEncodingRegistry().getEncoding(EncodingType.CL100K_BASE);

  private static String sample(String name) throws IOException {
    try (InputStream in =
        Cl100kApproximationTest.class.getResourceAsStream("/token-samples/" + name)) {
      assertThat(in).as("test resource token-samples/%s", name).isNotNull();
      return new String(in.readAllBytes(), UTF_8);
    }
  }

  @ParameterizedTest(name = "{0}")
  @ValueSource(
      strings = {
        "prose.txt",
        "markdown.txt",
        "yaml.txt",
        "java.txt",
        "python.txt",
        "protobuf.txt",
        "chinese.txt",
        "russian.txt"
      })
  void landsBetweenTenPercentUnderAndThirtyPercentOverTheExactCount(String name)
      throws IOException {
    String text = sample(name);
    int exact = CL100K.countTokensOrdinary(text);

    int approximate = Cl100kApproximation.count(text);

    assertThat((double) approximate / exact)
        .as("%s: approximately %d tokens, exactly %d", name, approximate, exact)
        .isBetween(0.90, 1.30);
  }

  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"prose.txt", "java.txt", "chinese.txt"})
  void countsEveryPrefixOfATextAtMostTheWholeText(String name) throws IOException {
    // Monotone in the text: a caller cannot lower its reservation by sending more.
    String text = sample(name);
    int previous = 0;
    for (int end = 0; end <= text.length(); end += 37) {
      int count = Cl100kApproximation.count(text.substring(0, end));
      assertThat(count).as("prefix of %d characters", end).isGreaterThanOrEqualTo(previous);
      previous = count;
    }
    assertThat(Cl100kApproximation.count(text)).isGreaterThanOrEqualTo(previous);
  }

  @Test
  void anEmptyTextIsNoToken() {
    assertThat(Cl100kApproximation.count("")).isZero();
  }

  @Test
  void commonWordsAreOneTokenEachWithTheSpaceBeforeThemIncluded() {
    // cl100k: "Hello", " world" — two tokens.
    assertThat(Cl100kApproximation.count("Hello world")).isEqualTo(2);
    assertThat(Cl100kApproximation.count("the cat sat on the mat")).isEqualTo(6);
  }

  @Test
  void numbersCountOneTokenPerThreeDigitsAsCl100kSplitsThem() {
    assertThat(Cl100kApproximation.count("1234567"))
        .isEqualTo(3)
        .isEqualTo(CL100K.countTokensOrdinary("1234567"));
  }

  @Test
  void aLongWordCostsMoreThanOneToken() {
    assertThat(Cl100kApproximation.count("internationalization")).isGreaterThan(1);
  }

  @Test
  void eachIdeographCostsAboutAToken() {
    String text = "大型语言模型".repeat(20);

    assertThat(Cl100kApproximation.count(text))
        .isGreaterThanOrEqualTo(text.length())
        .isGreaterThanOrEqualTo(CL100K.countTokensOrdinary(text) * 9 / 10);
  }

  @Test
  void emojiCostSeveralTokensEach() {
    String emoji = "\uD83D\uDE80\uD83C\uDF89\uD83D\uDC4D"; // three emoji, six UTF-16 units

    assertThat(Cl100kApproximation.count(emoji))
        .isGreaterThanOrEqualTo(CL100K.countTokensOrdinary(emoji) * 9 / 10);
  }

  @Test
  void beyondItsCharacterBudgetTheEstimatorExtrapolatesInsteadOfReading() {
    AtomicLong charsRead = new AtomicLong();
    TokenEstimator estimator =
        TextTokenEstimator.summed(
            text -> {
              charsRead.addAndGet(text.length());
              return text.length() / 5; // "word " is one token
            },
            100);

    long tokens =
        estimator.estimateTextTokens(List.of("word ".repeat(10), "word ".repeat(200)));

    assertThat(charsRead).hasValue(100);
    // 100 characters read, 20 tokens; the other 950 at the same ratio: 190 more.
    assertThat(tokens).isEqualTo(210);
  }

  @Test
  void aHugePromptIsEstimatedFromItsFirstMebiCharacters() throws IOException {
    String prose = sample("prose.txt");
    String huge = prose.repeat(3 * TokenEstimator.MAX_APPROXIMATED_CHARS / prose.length());

    long estimate = TokenEstimator.approximateCl100k().estimateTextTokens(List.of(huge));

    assertThat((double) estimate / Cl100kApproximation.count(huge)).isCloseTo(1.0, within(0.01));
  }

  @Test
  void theEstimatorCountsEachPieceOfARequestWithoutJoiningThem() throws IOException {
    String prose = sample("prose.txt");
    ChatRequest request =
        ChatRequest.newBuilder()
            .addInstructions(ContentPart.newBuilder().setText("Answer briefly."))
            .addMessages(
                ChatMessage.newBuilder()
                    .setRole(Role.ROLE_USER)
                    .addParts(ContentPart.newBuilder().setText(prose)))
            .build();

    long estimate = TokenEstimator.approximateCl100k().estimateInputTokens(request);

    // Framing: 3 per message (instructions and one message) and 3 to prime the reply.
    assertThat(estimate)
        .isEqualTo(
            3 + 3 + 3
                + Cl100kApproximation.count("Answer briefly.")
                + Cl100kApproximation.count(prose));
  }
}
