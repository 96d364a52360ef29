package dev.sluice.dataplane.ratelimit;

import static com.google.common.base.Preconditions.checkArgument;

import com.knuddels.jtokkit.Encodings;
import com.knuddels.jtokkit.api.Encoding;
import com.knuddels.jtokkit.api.EncodingType;
import dev.sluice.inference.v1.ChatRequest;
import java.util.List;

/**
 * Counts the input tokens of a chat request before it is sent, so token limits can reserve them.
 *
 * <p>Counts the text a provider turns into prompt tokens: instructions, message parts (text, tool
 * calls and their arguments, tool results, reasoning and refusals sent back), tool definitions
 * (name, description, parameter schema), the response schema, and the per-message framing of chat
 * formats. Images and files count a fixed number of tokens each, since their real cost depends on
 * pixels and pages the gateway does not decode. Estimates are for reservation only: the real
 * usage settles the difference, so an estimate that is off by a few percent costs nothing but a
 * slightly early or late refusal. Thread-safe.
 *
 * <p>Call it on the request as it will be sent (after prompt templates are rendered).
 */
public interface TokenEstimator {
  /** How many characters of a request {@link #approximateCl100k()} reads (1 Mi). */
  int MAX_APPROXIMATED_CHARS = 1 << 20;

  /** Default request output when neither request nor model says (matches the Model proto). */
  int DEFAULT_MAX_OUTPUT_TOKENS = 4096;

  /** The estimated number of input tokens {@code request} will be billed for. */
  long estimateInputTokens(ChatRequest request);

  /**
   * The estimated number of input tokens of {@code texts} sent as they are, without chat framing:
   * the inputs of an embeddings request. Same vocabulary and cost bound as {@link
   * #estimateInputTokens}.
   */
  long estimateTextTokens(List<String> texts);

  /**
   * An approximation of the {@code cl100k_base} count in one pass over the characters, without
   * the vocabulary ({@code Cl100kApproximation}): the data plane's default. It costs about 1 ns per
   * character, against 11 to 20 for the exact count, so a request's policy check stays a few
   * microseconds also for a prompt of thousands of characters; it lands between about 7 % under
   * and 25 % over the exact count, leaning over, and settlement charges the real usage anyway.
   * Text beyond {@value #MAX_APPROXIMATED_CHARS} characters is extrapolated at the ratio of the
   * text counted, which bounds one estimate to about a millisecond.
   */
  static TokenEstimator approximateCl100k() {
    return TextTokenEstimator.summed(Cl100kApproximation::count, MAX_APPROXIMATED_CHARS);
  }

  /**
   * A byte-pair-encoding count with OpenAI's {@code cl100k_base} vocabulary (GPT-4, GPT-3.5), for
   * when the reservation should match the bill closely and prompts are short. jtokkit splits cl100k text with a hand-written parser, about 11
   * ns per character on one core (a 4 KiB prompt in about 45 us); for GPT-4o and later models it
   * usually counts a little more than they bill, which only makes the reservation slightly
   * conservative until settlement corrects it. Text beyond {@value
   * TextTokenEstimator#DEFAULT_MAX_EXACT_CHARS} characters is extrapolated at the ratio measured on
   * the text counted so far, which bounds the cost of one estimate to about a millisecond. Loading
   * the vocabulary takes a few hundred milliseconds: create one estimator at start-up.
   */
  static TokenEstimator cl100k() {
    return bpe(EncodingType.CL100K_BASE, TextTokenEstimator.DEFAULT_MAX_EXACT_CHARS);
  }

  /**
   * As {@link #cl100k()} with the {@code o200k_base} vocabulary (GPT-4o and later), exact for those
   * models but about five times slower in jtokkit (a regular-expression pre-tokenizer: about 60 ns
   * per character).
   */
  static TokenEstimator o200k() {
    return bpe(EncodingType.O200K_BASE, TextTokenEstimator.DEFAULT_MAX_EXACT_CHARS);
  }

  /** A BPE count with {@code encoding}, exact up to {@code maxExactChars} characters. */
  static TokenEstimator bpe(EncodingType encoding, int maxExactChars) {
    checkArgument(maxExactChars > 0, "maxExactChars: %s (expected: > 0)", maxExactChars);
    Encoding bpe = Encodings.newLazyEncodingRegistry().getEncoding(encoding);
    return TextTokenEstimator.joined(bpe::countTokensOrdinary, maxExactChars);
  }

  /**
   * The rule of thumb of four characters per token (rounded up per text), for when no vocabulary
   * fits. Overestimates code and non-English text less than it underestimates them; O(characters).
   */
  static TokenEstimator charsPerToken() {
    return TextTokenEstimator.summed(text -> (text.length() + 3) / 4, Integer.MAX_VALUE);
  }

  /**
   * The most output tokens {@code request} can generate across all its choices: its {@code
   * max_output_tokens}, else the model's maximum, else {@value #DEFAULT_MAX_OUTPUT_TOKENS}, times
   * {@code candidate_count}.
   *
   * @param modelMaxOutputTokens the model's {@code max_output_tokens}; 0 if not declared
   */
  static long maxOutputTokens(ChatRequest request, int modelMaxOutputTokens) {
    long perChoice;
    if (request.hasMaxOutputTokens() && request.getMaxOutputTokens() > 0) {
      perChoice = request.getMaxOutputTokens();
    } else if (modelMaxOutputTokens > 0) {
      perChoice = modelMaxOutputTokens;
    } else {
      perChoice = DEFAULT_MAX_OUTPUT_TOKENS;
    }
    return perChoice * Math.max(1, request.getCandidateCount());
  }
}
