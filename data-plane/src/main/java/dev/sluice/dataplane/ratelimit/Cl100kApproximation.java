package dev.sluice.dataplane.ratelimit;

/**
 * Approximates the number of {@code cl100k_base} tokens in a text in one pass over its characters,
 * without the vocabulary: about ten times cheaper than the byte-pair encoding itself.
 *
 * <p>cl100k first splits text into pieces (runs of letters with one leading space or symbol, runs
 * of up to three digits, runs of symbols, runs of whitespace) and then encodes each piece. Most
 * common English words are one token; longer and rarer ones split into parts of about four
 * characters. This class walks the same runs and prices each by its kind and length, in quarters
 * of a token:
 *
 * <ul>
 *   <li>ASCII letters: one token, plus one for every four letters beyond six;
 *   <li>other letters: one token per two (Cyrillic, Greek, accented Latin, ...), 1.25 per
 *       character for CJK ideographs, kana and Hangul;
 *   <li>digits: one token per three (cl100k's own rule);
 *   <li>other symbols: one token, plus one per three symbols beyond the first; characters outside
 *       the Basic Multilingual Plane (emoji, ...) 1.5 tokens per UTF-16 unit;
 *   <li>whitespace: one token per run, except a single space, which cl100k joins to the next word.
 * </ul>
 *
 * <p>Measured against jtokkit's exact count on English prose, Markdown, YAML, Java, Python,
 * protobuf, Chinese and Russian (see {@code Cl100kApproximationTest}), it lands between 7 % under
 * and 25 % over: it leans towards counting more, so a reservation errs on the side that
 * settlement gives back rather than the side that becomes debt.
 */
final class Cl100kApproximation {
  private static final byte ASCII_LETTER = 0;
  private static final byte OTHER_LETTER = 1;
  private static final byte CJK = 2;
  private static final byte DIGIT = 3;
  private static final byte SYMBOL = 4;
  private static final byte SPACE = 5;
  private static final byte SURROGATE = 6;

  private static final byte[] ASCII_KIND = new byte[128];

  static {
    for (int c = 0; c < 128; c++) {
      byte kind;
      if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
        kind = ASCII_LETTER;
      } else if (c >= '0' && c <= '9') {
        kind = DIGIT;
      } else if (c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\f' || c == 0x0B) {
        kind = SPACE;
      } else {
        kind = SYMBOL;
      }
      ASCII_KIND[c] = kind;
    }
  }

  private Cl100kApproximation() {}

  /** The approximate number of cl100k tokens in {@code text}; 0 for an empty text. */
  static int count(String text) {
    int length = text.length();
    long quarters = 0;
    int i = 0;
    while (i < length) {
      char first = text.charAt(i);
      // The common cases first, without the table: a word, and the single space before one
      // (which cl100k joins to the word, so it costs nothing). About 15 % faster on prose.
      if (isAsciiLetter(first)) {
        int end = i + 1;
        while (end < length && isAsciiLetter(text.charAt(end))) {
          end++;
        }
        quarters += quarters(ASCII_LETTER, end - i, first);
        i = end;
        continue;
      }
      if (first == ' ' && i + 1 < length && isAsciiLetter(text.charAt(i + 1))) {
        i++;
        continue;
      }
      byte kind = kind(first);
      int end = i + 1;
      while (end < length && kind(text.charAt(end)) == kind) {
        end++;
      }
      quarters += quarters(kind, end - i, first);
      i = end;
    }
    return (int) Math.min(Integer.MAX_VALUE, (quarters + 3) / 4);
  }

  private static boolean isAsciiLetter(char c) {
    return (char) ((c | 0x20) - 'a') < 26;
  }

  private static byte kind(char c) {
    if (c < 128) {
      return ASCII_KIND[c];
    }
    if (Character.isSurrogate(c)) {
      return SURROGATE;
    }
    if (Character.isLetter(c)) {
      return isCjk(c) ? CJK : OTHER_LETTER;
    }
    if (Character.isDigit(c)) {
      return DIGIT;
    }
    return Character.isWhitespace(c) || Character.isSpaceChar(c) ? SPACE : SYMBOL;
  }

  /** CJK ideographs, kana, Hangul and the full-width forms, which cl100k encodes per character. */
  private static boolean isCjk(char c) {
    return (c >= 0x2E80 && c <= 0x9FFF)
        || (c >= 0xAC00 && c <= 0xD7AF)
        || (c >= 0xF900 && c <= 0xFAFF)
        || (c >= 0xFF00 && c <= 0xFFEF);
  }

  /** The price of a run of {@code run} characters of {@code kind}, in quarters of a token. */
  private static long quarters(byte kind, int run, char first) {
    return switch (kind) {
      case ASCII_LETTER -> 4L + Math.max(0, run - 6);
      case OTHER_LETTER -> 2L * run + 2;
      case CJK -> 5L * run;
      case DIGIT -> 4L * ((run + 2) / 3);
      case SYMBOL -> 4L + (4L * (run - 1)) / 3;
      case SURROGATE -> 6L * run;
      default -> run == 1 && first == ' ' ? 0 : 4; // SPACE
    };
  }
}
