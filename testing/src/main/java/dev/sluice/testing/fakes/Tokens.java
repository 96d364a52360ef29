package dev.sluice.testing.fakes;

import java.util.ArrayList;
import java.util.List;

/** Splits text into the pieces fakes stream as tokens. */
final class Tokens {
  private Tokens() {}

  /** Words with their leading whitespace: {@code "Hi there"} becomes {@code "Hi", " there"}. */
  static List<String> words(String text) {
    List<String> tokens = new ArrayList<>();
    int start = 0;
    for (int i = 1; i < text.length(); i++) {
      if (Character.isWhitespace(text.charAt(i)) && !Character.isWhitespace(text.charAt(i - 1))) {
        tokens.add(text.substring(start, i));
        start = i;
      }
    }
    if (start < text.length()) {
      tokens.add(text.substring(start));
    }
    return tokens;
  }

  /** Fixed-size fragments, the way providers stream tool-call arguments. */
  static List<String> fragments(String text, int size) {
    List<String> pieces = new ArrayList<>();
    for (int i = 0; i < text.length(); i += size) {
      pieces.add(text.substring(i, Math.min(text.length(), i + size)));
    }
    return pieces;
  }

  /** Rough token estimate of text (4 characters per token, at least 1 for non-empty text). */
  static int estimate(String text) {
    return text.isEmpty() ? 0 : Math.max(1, (text.length() + 3) / 4);
  }
}
