package dev.sluice.dataplane.provider.mock;

import dev.sluice.inference.v1.ChatMessage;
import dev.sluice.inference.v1.ChatRequest;
import dev.sluice.inference.v1.ContentPart;
import dev.sluice.inference.v1.Tool;
import java.util.SplittableRandom;

/**
 * The mock model's text: words drawn from a fixed vocabulary by a generator seeded from the
 * request, so the same request always gets the same answer; and the token arithmetic behind its
 * usage numbers.
 *
 * <p>Each token is one word with its leading space, taken from precomputed strings, so generating
 * a token allocates nothing (the proto event that carries it is the only allocation).
 */
final class MockText {
  private static final String[] WORDS = {
    "the", "river", "flows", "through", "a", "quiet", "valley", "where", "light", "falls",
    "on", "stone", "and", "water", "meets", "sky", "gateway", "tokens", "stream", "gently",
    "past", "old", "mills", "under", "bridges", "of", "iron", "wood", "every", "bend",
    "carries", "news", "from", "far", "hills", "to", "the", "sea", "boats", "drift",
    "slowly", "while", "birds", "circle", "above", "green", "fields", "in", "morning", "mist",
    "evening", "brings", "cool", "air", "stars", "appear", "one", "by", "another", "night",
    "sluice", "gates", "open", "wide"
  };
  private static final String[] SPACED = new String[WORDS.length];
  private static final String[] CAPITALIZED = new String[WORDS.length];

  static {
    for (int i = 0; i < WORDS.length; i++) {
      SPACED[i] = " " + WORDS[i];
      CAPITALIZED[i] = Character.toUpperCase(WORDS[i].charAt(0)) + WORDS[i].substring(1);
    }
  }

  private MockText() {}

  /** A generator of the text of one choice. */
  static final class Generator {
    private final SplittableRandom random;
    private int emitted;

    Generator(long seed, int choice) {
      this.random = new SplittableRandom(seed * 31 + choice);
    }

    /** The next token; the last one (index {@code count - 1}) ends with a period. */
    String next(int count) {
      int word = random.nextInt(WORDS.length);
      String token = emitted == 0 ? CAPITALIZED[word] : SPACED[word];
      emitted++;
      return emitted == count ? token + "." : token;
    }
  }

  /**
   * A stable seed from the request's content: the same conversation gives the same seed on every
   * node and every run (String hashing is specified, not per-process).
   */
  static long seedOf(ChatRequest request) {
    long h = 0xcbf29ce484222325L;
    for (ContentPart p : request.getInstructionsList()) {
      h = mix(h, p.getText());
    }
    for (ChatMessage m : request.getMessagesList()) {
      h = mix(h * 31 + m.getRoleValue(), "");
      for (ContentPart p : m.getPartsList()) {
        h = mix(h, partText(p));
      }
    }
    return h;
  }

  static long seedOf(String text) {
    return mix(0xcbf29ce484222325L, text);
  }

  private static long mix(long h, String s) {
    for (int i = 0; i < s.length(); i++) {
      h ^= s.charAt(i);
      h *= 0x100000001b3L;
    }
    return h;
  }

  /**
   * Input tokens of a request, estimated the way the mock's documentation promises: one token per
   * four characters of all input text (instructions, messages, tool calls and results, tool
   * definitions), rounded up, plus a fixed 85 per image or file (OpenAI's low-detail image cost).
   */
  static int inputTokens(ChatRequest request) {
    long chars = 0;
    int attachments = 0;
    for (ContentPart p : request.getInstructionsList()) {
      chars += p.getText().length();
    }
    for (ChatMessage m : request.getMessagesList()) {
      for (ContentPart p : m.getPartsList()) {
        chars += partText(p).length();
        if (p.hasImage() || p.hasFile()) {
          attachments++;
        }
      }
    }
    for (Tool t : request.getToolsList()) {
      chars += t.getName().length() + t.getDescription().length()
          + t.getParameters().getSerializedSize();
    }
    return (int) Math.min(Integer.MAX_VALUE, (chars + 3) / 4 + 85L * attachments);
  }

  /** Tokens of one text, as {@link #inputTokens}. */
  static int tokensOf(String text) {
    return (text.length() + 3) / 4;
  }

  private static String partText(ContentPart p) {
    return switch (p.getKindCase()) {
      case TEXT -> p.getText();
      case REFUSAL -> p.getRefusal();
      case REASONING -> p.getReasoning().getText();
      case TOOL_CALL -> p.getToolCall().getName() + p.getToolCall().getArguments();
      case TOOL_RESULT -> {
        StringBuilder b = new StringBuilder();
        for (ContentPart c : p.getToolResult().getContentList()) {
          b.append(partText(c));
        }
        yield b.toString();
      }
      default -> "";
    };
  }
}
