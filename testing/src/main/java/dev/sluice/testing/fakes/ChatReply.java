package dev.sluice.testing.fakes;

import static java.util.Objects.requireNonNull;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * What a {@link FakeOpenAiServer} answers to one Chat Completions request, streamed or not.
 *
 * <p>A reply is content (text, refusal, reasoning, tool calls), metadata (id, model, usage,
 * finish reason) and, for streams, {@linkplain StreamQuirks quirks}. The same reply serves a
 * streaming request (as {@code chat.completion.chunk} events) and a unary one (as one {@code
 * chat.completion}); with {@code n > 1} in the request every choice gets the same content. Usage
 * defaults to honest numbers: prompt tokens estimated from the request (4 characters per token),
 * completion tokens counted from what is sent. The usage chunk is sent when the request asks for
 * it ({@code stream_options.include_usage}), as OpenAI does.
 *
 * <pre>{@code
 * fake.enqueue(ChatReply.text("Hello there").tokenInterval(Duration.ofMillis(5)));
 * fake.enqueue(ChatReply.toolCalls(FakeToolCall.of("call_1", "get_weather", "{\"city\":\"Paris\"}")));
 * fake.enqueue(ChatReply.error(429, "rate_limit_exceeded", "Rate limit reached").header("retry-after", "2"));
 * }</pre>
 *
 * <p>Configure a reply fully before enqueueing it; it is read when the request arrives.
 */
public final class ChatReply extends StreamQuirks<ChatReply> {
  List<String> textTokens = List.of();
  List<String> refusalTokens = List.of();
  List<String> reasoningTokens = List.of();
  List<FakeToolCall> toolCalls = List.of();
  @Nullable String finishReason;
  @Nullable String model;
  @Nullable String id;
  String systemFingerprint = "fp_fake0001";
  @Nullable Integer promptTokens;
  @Nullable Integer completionTokens;
  int cachedTokens;
  int reasoningTokenCount;
  boolean usageAlways;
  final List<Map.Entry<String, String>> headers = new ArrayList<>();

  int status = 200;
  @Nullable String errorType;
  @Nullable String errorCode;
  @Nullable String errorMessage;
  int errorEventAfter = -1;
  boolean hang;
  boolean resetBeforeResponse;
  @Nullable String rawBody;

  private ChatReply() {}

  /** A reply with {@code text} as content, streamed word by word. */
  public static ChatReply text(String text) {
    return new ChatReply().content(Tokens.words(text));
  }

  /** A reply streamed as exactly these content tokens. */
  public static ChatReply tokens(List<String> tokens) {
    return new ChatReply().content(tokens);
  }

  /** A reply of {@code count} tokens {@code token} (for long streams). */
  public static ChatReply repeatedTokens(String token, int count) {
    return new ChatReply().content(java.util.Collections.nCopies(count, token));
  }

  /** A reply that calls tools (finish reason {@code tool_calls}). */
  public static ChatReply toolCalls(FakeToolCall... calls) {
    ChatReply r = new ChatReply();
    r.toolCalls = List.of(calls);
    return r;
  }

  /** A refusal ({@code message.refusal}, streamed as {@code delta.refusal}). */
  public static ChatReply refusal(String text) {
    ChatReply r = new ChatReply();
    r.refusalTokens = Tokens.words(text);
    return r;
  }

  /**
   * An HTTP error: {@code status} with OpenAI's error body {@code {"error": {"message", "type",
   * "param", "code"}}}.
   *
   * @param type OpenAI's error type (e.g. {@code invalid_request_error}, {@code server_error}),
   *     also used as code when it is one (e.g. {@code rate_limit_exceeded})
   */
  public static ChatReply error(int status, String type, String message) {
    ChatReply r = new ChatReply();
    r.status = status;
    r.errorType = requireNonNull(type, "type");
    r.errorMessage = requireNonNull(message, "message");
    return r;
  }

  /** A response with this status and body verbatim (content type {@code application/json}). */
  public static ChatReply rawBody(int status, String body) {
    ChatReply r = new ChatReply();
    r.status = status;
    r.rawBody = requireNonNull(body, "body");
    return r;
  }

  /** Never answers (no headers); the connection stays open. */
  public static ChatReply hang() {
    ChatReply r = new ChatReply();
    r.hang = true;
    return r;
  }

  /** Resets the connection as soon as the request arrived, before any response. */
  public static ChatReply resetBeforeResponse() {
    ChatReply r = new ChatReply();
    r.resetBeforeResponse = true;
    return r;
  }

  /** Replaces the content with these tokens. */
  public ChatReply content(List<String> tokens) {
    this.textTokens = List.copyOf(tokens);
    return this;
  }

  /** Adds tool calls after the content. */
  public ChatReply withToolCalls(FakeToolCall... calls) {
    this.toolCalls = List.of(calls);
    return this;
  }

  /**
   * Adds reasoning before the content, as OpenAI-compatible servers (vLLM, DeepSeek) send it:
   * {@code reasoning_content}.
   */
  public ChatReply withReasoning(String text) {
    this.reasoningTokens = Tokens.words(text);
    return this;
  }

  /** The finish reason; default {@code tool_calls} with tool calls, else {@code stop}. */
  public ChatReply finishReason(String reason) {
    this.finishReason = requireNonNull(reason, "reason");
    return this;
  }

  /** The model reported; default the request's {@code model}. */
  public ChatReply model(String model) {
    this.model = requireNonNull(model, "model");
    return this;
  }

  /** The completion id; default {@code chatcmpl-fake<N>}. */
  public ChatReply id(String id) {
    this.id = requireNonNull(id, "id");
    return this;
  }

  /** The {@code system_fingerprint}; default {@code fp_fake0001}. */
  public ChatReply systemFingerprint(String fingerprint) {
    this.systemFingerprint = requireNonNull(fingerprint, "fingerprint");
    return this;
  }

  /** Reported usage instead of the estimate. */
  public ChatReply usage(int promptTokens, int completionTokens) {
    this.promptTokens = promptTokens;
    this.completionTokens = completionTokens;
    return this;
  }

  /** {@code prompt_tokens_details.cached_tokens}. Default 0. */
  public ChatReply cachedTokens(int tokens) {
    this.cachedTokens = tokens;
    return this;
  }

  /** {@code completion_tokens_details.reasoning_tokens}. Default 0. */
  public ChatReply reasoningTokens(int tokens) {
    this.reasoningTokenCount = tokens;
    return this;
  }

  /** Sends the usage chunk even when the request did not ask for it. */
  public ChatReply usageAlways() {
    this.usageAlways = true;
    return this;
  }

  /** Adds a response header (e.g. {@code retry-after}). */
  public ChatReply header(String name, String value) {
    headers.add(Map.entry(name, value));
    return this;
  }

  /**
   * In a stream, sends OpenAI's mid-stream error event {@code data: {"error": {...}}} after
   * {@code events} events, then ends the response (status stays 200, no {@code [DONE]}).
   */
  public ChatReply errorEventAfter(int events, String type, String message) {
    this.errorEventAfter = events;
    this.errorType = requireNonNull(type, "type");
    this.errorMessage = requireNonNull(message, "message");
    return this;
  }

  @Override
  ChatReply self() {
    return this;
  }
}
