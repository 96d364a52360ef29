package dev.sluice.testing.fakes;

import static java.util.Objects.requireNonNull;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * What a {@link FakeAnthropicServer} answers to one Messages request, streamed or not.
 *
 * <p>Content is a list of blocks in order: thinking (with a signature), redacted thinking, text,
 * tool use. Usage is reported as Anthropic does: {@code input_tokens} without cache, with {@code
 * cache_read_input_tokens} and {@code cache_creation_input_tokens} apart; the stream reports it in
 * {@code message_start} (output 1) and cumulatively in {@code message_delta}. {@link #pings()}
 * adds {@code ping} events; the usual {@linkplain StreamQuirks quirks} apply, the end marker being
 * {@code message_stop}.
 *
 * <pre>{@code
 * fake.enqueue(AnthropicReply.text("Hello!").usage(12, 3).cacheRead(100));
 * fake.enqueue(AnthropicReply.toolUse(FakeToolCall.of("toolu_1", "get_weather", "{\"city\":\"Paris\"}")));
 * fake.enqueue(AnthropicReply.error(529, "overloaded_error", "Overloaded"));
 * }</pre>
 */
public final class AnthropicReply extends StreamQuirks<AnthropicReply> {
  /** One content block of the reply. */
  sealed interface Block {
    record Text(List<String> tokens) implements Block {}

    record Thinking(List<String> tokens, String signature) implements Block {}

    record RedactedThinking(String data) implements Block {}

    record ToolUse(FakeToolCall call) implements Block {}
  }

  final List<Block> blocks = new ArrayList<>();
  @Nullable String stopReason;
  @Nullable String stopSequence;
  @Nullable String model;
  @Nullable String id;
  @Nullable Integer inputTokens;
  @Nullable Integer outputTokens;
  int cacheRead;
  int cacheCreation;
  boolean pings;
  boolean omitStopReason;
  final List<Map.Entry<String, String>> headers = new ArrayList<>();

  int status = 200;
  @Nullable String errorType;
  @Nullable String errorMessage;
  int errorEventAfter = -1;
  boolean hang;

  private AnthropicReply() {}

  /** A text answer, streamed word by word. */
  public static AnthropicReply text(String text) {
    return new AnthropicReply().thenText(text);
  }

  /** An answer that uses tools (stop reason {@code tool_use}). */
  public static AnthropicReply toolUse(FakeToolCall... calls) {
    AnthropicReply r = new AnthropicReply();
    for (FakeToolCall c : calls) {
      r.blocks.add(new Block.ToolUse(c));
    }
    return r;
  }

  /** An error status with Anthropic's body {@code {"type":"error","error":{"type","message"}}}. */
  public static AnthropicReply error(int status, String type, String message) {
    AnthropicReply r = new AnthropicReply();
    r.status = status;
    r.errorType = requireNonNull(type, "type");
    r.errorMessage = requireNonNull(message, "message");
    return r;
  }

  /** Never answers. */
  public static AnthropicReply hang() {
    AnthropicReply r = new AnthropicReply();
    r.hang = true;
    return r;
  }

  /** Adds a text block. */
  public AnthropicReply thenText(String text) {
    blocks.add(new Block.Text(Tokens.words(text)));
    return this;
  }

  /** Adds a thinking block with its signature. */
  public AnthropicReply thenThinking(String text, String signature) {
    blocks.add(new Block.Thinking(Tokens.words(text), signature));
    return this;
  }

  /** Adds a redacted thinking block. */
  public AnthropicReply thenRedactedThinking(String data) {
    blocks.add(new Block.RedactedThinking(data));
    return this;
  }

  /** Adds tool-use blocks. */
  public AnthropicReply thenToolUse(FakeToolCall... calls) {
    for (FakeToolCall c : calls) {
      blocks.add(new Block.ToolUse(c));
    }
    return this;
  }

  /** The stop reason; default {@code tool_use} when there are tool blocks, else {@code end_turn}. */
  public AnthropicReply stopReason(String reason) {
    this.stopReason = requireNonNull(reason, "reason");
    return this;
  }

  /** Stops with {@code stop_sequence} and reports the sequence. */
  public AnthropicReply stopSequence(String sequence) {
    this.stopReason = "stop_sequence";
    this.stopSequence = requireNonNull(sequence, "sequence");
    return this;
  }

  /** Sends {@code message_delta} without a stop reason (a broken upstream). */
  public AnthropicReply omitStopReason() {
    this.omitStopReason = true;
    return this;
  }

  /** Reported {@code input_tokens} (without cache) and {@code output_tokens}. */
  public AnthropicReply usage(int inputTokens, int outputTokens) {
    this.inputTokens = inputTokens;
    this.outputTokens = outputTokens;
    return this;
  }

  /** {@code cache_read_input_tokens}. */
  public AnthropicReply cacheRead(int tokens) {
    this.cacheRead = tokens;
    return this;
  }

  /** {@code cache_creation_input_tokens}. */
  public AnthropicReply cacheCreation(int tokens) {
    this.cacheCreation = tokens;
    return this;
  }

  /** The model reported; default the request's. */
  public AnthropicReply model(String model) {
    this.model = requireNonNull(model, "model");
    return this;
  }

  /** The message id; default {@code msg_fake<N>}. */
  public AnthropicReply id(String id) {
    this.id = requireNonNull(id, "id");
    return this;
  }

  /** Sends {@code ping} events after {@code message_start} and between blocks. */
  public AnthropicReply pings() {
    this.pings = true;
    return this;
  }

  /** Adds a response header. */
  public AnthropicReply header(String name, String value) {
    headers.add(Map.entry(name, value));
    return this;
  }

  /**
   * Sends Anthropic's mid-stream {@code event: error} after {@code events} events, then ends the
   * response (status 200, no {@code message_stop}).
   */
  public AnthropicReply errorEventAfter(int events, String type, String message) {
    this.errorEventAfter = events;
    this.errorType = requireNonNull(type, "type");
    this.errorMessage = requireNonNull(message, "message");
    return this;
  }

  @Override
  AnthropicReply self() {
    return this;
  }
}
