package dev.sluice.dataplane.ratelimit;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.ListValue;
import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import dev.sluice.inference.v1.ChatMessage;
import dev.sluice.inference.v1.ChatRequest;
import dev.sluice.inference.v1.ContentPart;
import dev.sluice.inference.v1.ImageDetail;
import dev.sluice.inference.v1.Tool;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import java.util.function.ToIntFunction;

/**
 * The {@link TokenEstimator}: gathers a request's text and counts it, either joined into one text
 * for a byte-pair encoding ({@link #joined}) or piece by piece with a counter that needs no context
 * ({@link #summed}).
 *
 * <p>Framing follows OpenAI's published accounting for chat formats: 3 tokens per message (role
 * and separators), 1 more for a message name, and 3 that prime the reply. A tool definition costs
 * its name, description and schema rendered as compact JSON, plus 8 tokens of framing.
 *
 * <p>Cost is bounded: joined text is gathered into one buffer of at most {@code maxExactChars}
 * characters and counted once; the characters beyond that are only counted, and converted at the
 * tokens per character of the counted part. Summed text is never copied.
 */
final class TextTokenEstimator implements TokenEstimator {
  static final int DEFAULT_MAX_EXACT_CHARS = 64 * 1024;

  static final int TOKENS_PER_MESSAGE = 3;
  static final int TOKENS_PER_NAME = 1;
  static final int REPLY_PRIMING_TOKENS = 3;
  static final int TOKENS_PER_TOOL = 8;

  /** A low-detail image (OpenAI: 85 tokens whatever its size). */
  static final int LOW_DETAIL_IMAGE_TOKENS = 85;

  /** Any other image: OpenAI's cost of a 1024 x 1024 high-detail image (4 tiles of 170 + 85). */
  static final int IMAGE_TOKENS = 765;

  /** A file part (PDF, audio, ...): a flat guess, about one page of dense text. */
  static final int FILE_TOKENS = 1000;

  private final Supplier<Text> texts;

  private TextTokenEstimator(Supplier<Text> texts) {
    this.texts = texts;
  }

  /**
   * Counts a request's text joined into one (pieces separated by a newline so that they do not
   * merge into one token) with {@code tokenizer}, exactly up to {@code maxExactChars} characters.
   */
  static TextTokenEstimator joined(ToIntFunction<String> tokenizer, int maxExactChars) {
    requireNonNull(tokenizer, "tokenizer");
    return new TextTokenEstimator(() -> new JoinedText(tokenizer, maxExactChars));
  }

  /**
   * Counts each piece of a request's text with {@code counter} and adds the counts up, for the
   * first {@code maxCountedChars} characters; the characters beyond are converted at the tokens per
   * character of the counted part.
   */
  static TextTokenEstimator summed(ToIntFunction<String> counter, int maxCountedChars) {
    requireNonNull(counter, "counter");
    return new TextTokenEstimator(() -> new SummedText(counter, maxCountedChars));
  }

  @Override
  public long estimateInputTokens(ChatRequest request) {
    Text text = texts.get();
    long fixed = REPLY_PRIMING_TOKENS;
    if (request.getInstructionsCount() > 0) {
      fixed += TOKENS_PER_MESSAGE;
      fixed += parts(request.getInstructionsList(), text);
    }
    for (ChatMessage message : request.getMessagesList()) {
      fixed += TOKENS_PER_MESSAGE;
      if (!message.getName().isEmpty()) {
        fixed += TOKENS_PER_NAME;
        text.add(message.getName());
      }
      fixed += parts(message.getPartsList(), text);
    }
    for (Tool tool : request.getToolsList()) {
      fixed += TOKENS_PER_TOOL;
      text.add(tool.getName());
      text.add(tool.getDescription());
      if (tool.hasParameters()) {
        text.add(json(tool.getParameters()));
      }
    }
    if (request.hasResponseFormat() && request.getResponseFormat().hasSchema()) {
      text.add(request.getResponseFormat().getName());
      text.add(json(request.getResponseFormat().getSchema()));
    }
    if (request.hasPromptTemplate() && request.getPromptTemplate().hasVariables()) {
      // Not rendered yet (callers should estimate after rendering): count at least the values.
      text.add(json(request.getPromptTemplate().getVariables()));
    }
    return fixed + text.count();
  }

  @Override
  public long estimateTextTokens(List<String> pieces) {
    Text text = texts.get();
    for (String piece : pieces) {
      text.add(piece);
    }
    return text.count();
  }

  /** Adds the text of {@code parts} and returns the fixed tokens of its images and files. */
  private static long parts(List<ContentPart> parts, Text text) {
    long fixed = 0;
    for (ContentPart part : parts) {
      switch (part.getKindCase()) {
        case TEXT -> text.add(part.getText());
        case REFUSAL -> text.add(part.getRefusal());
        case REASONING -> text.add(part.getReasoning().getText());
        case TOOL_CALL -> {
          text.add(part.getToolCall().getName());
          text.add(part.getToolCall().getArguments());
        }
        case TOOL_RESULT -> fixed += parts(part.getToolResult().getContentList(), text);
        case IMAGE ->
            fixed +=
                part.getImage().getDetail() == ImageDetail.IMAGE_DETAIL_LOW
                    ? LOW_DETAIL_IMAGE_TOKENS
                    : IMAGE_TOKENS;
        case FILE -> fixed += FILE_TOKENS;
        default -> {}
      }
    }
    return fixed;
  }

  /** {@code struct} as compact JSON (strings unescaped: close enough for counting). */
  private static String json(Struct struct) {
    StringBuilder out = new StringBuilder(128);
    json(struct, out);
    return out.toString();
  }

  private static void json(Struct struct, StringBuilder out) {
    out.append('{');
    boolean first = true;
    for (Map.Entry<String, Value> field : struct.getFieldsMap().entrySet()) {
      if (!first) {
        out.append(',');
      }
      first = false;
      out.append('"').append(field.getKey()).append("\":");
      json(field.getValue(), out);
    }
    out.append('}');
  }

  private static void json(Value value, StringBuilder out) {
    switch (value.getKindCase()) {
      case STRUCT_VALUE -> json(value.getStructValue(), out);
      case LIST_VALUE -> {
        ListValue list = value.getListValue();
        out.append('[');
        for (int i = 0; i < list.getValuesCount(); i++) {
          if (i > 0) {
            out.append(',');
          }
          json(list.getValues(i), out);
        }
        out.append(']');
      }
      case STRING_VALUE -> out.append('"').append(value.getStringValue()).append('"');
      case NUMBER_VALUE -> {
        double number = value.getNumberValue();
        if (number == Math.rint(number) && Math.abs(number) < 1e15) {
          out.append((long) number);
        } else {
          out.append(number);
        }
      }
      case BOOL_VALUE -> out.append(value.getBoolValue());
      default -> out.append("null");
    }
  }

  /**
   * {@code tokens} counted in {@code countedChars} characters, plus {@code overflowChars} more
   * characters that were not read, converted at the same tokens per character.
   */
  private static long withOverflow(long tokens, long countedChars, long overflowChars) {
    if (overflowChars == 0 || countedChars == 0) {
      return tokens;
    }
    return tokens + (long) Math.ceil(overflowChars * ((double) tokens / countedChars));
  }

  /** The text gathered from one request, and its count. */
  private interface Text {
    void add(String piece);

    long count();
  }

  /**
   * The request's text: the first {@code limit} characters verbatim, pieces separated by a newline
   * so that they do not merge into one token, and the length of the rest.
   */
  private static final class JoinedText implements Text {
    private final ToIntFunction<String> tokenizer;
    private final int limit;
    private final StringBuilder exact = new StringBuilder(256);
    private long overflowChars;

    JoinedText(ToIntFunction<String> tokenizer, int limit) {
      this.tokenizer = tokenizer;
      this.limit = limit;
    }

    @Override
    public void add(String piece) {
      if (piece.isEmpty()) {
        return;
      }
      if (exact.length() > 0 && exact.length() < limit) {
        exact.append('\n');
      }
      int room = limit - exact.length();
      int taken = Math.max(0, Math.min(room, piece.length()));
      exact.append(piece, 0, taken);
      overflowChars += piece.length() - taken;
    }

    @Override
    public long count() {
      if (exact.length() == 0) {
        return 0;
      }
      return withOverflow(tokenizer.applyAsInt(exact.toString()), exact.length(), overflowChars);
    }
  }

  /** The sum of each piece's count, up to a number of characters, and the length of the rest. */
  private static final class SummedText implements Text {
    private final ToIntFunction<String> counter;
    private final int limit;
    private long tokens;
    private long countedChars;
    private long overflowChars;

    SummedText(ToIntFunction<String> counter, int limit) {
      this.counter = counter;
      this.limit = limit;
    }

    @Override
    public void add(String piece) {
      if (piece.isEmpty()) {
        return;
      }
      long room = limit - countedChars; // never negative: countedChars stops at the limit
      if (piece.length() <= room) {
        tokens += counter.applyAsInt(piece);
        countedChars += piece.length();
      } else {
        if (room > 0) {
          tokens += counter.applyAsInt(piece.substring(0, (int) room));
          countedChars += room;
        }
        overflowChars += piece.length() - room;
      }
    }

    @Override
    public long count() {
      return withOverflow(tokens, countedChars, overflowChars);
    }
  }
}
