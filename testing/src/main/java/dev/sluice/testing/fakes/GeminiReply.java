package dev.sluice.testing.fakes;

import static java.util.Objects.requireNonNull;

import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * What a {@link FakeGeminiServer} answers to one {@code generateContent} or {@code
 * streamGenerateContent} request.
 *
 * <p>Content is a list of parts in order: thoughts (with {@code thought: true}), text, function
 * calls (whole, as Gemini sends them); a part may carry a {@code thoughtSignature}. Streams send
 * one chunk per word of text (several words per chunk with {@link #wordsPerChunk}) and each
 * function call in its own chunk; the finish reason and {@code usageMetadata} come in the last
 * chunk, and the body then simply ends (Gemini has no end marker). Gemini frames events with CRLF,
 * so that is the default line ending here.
 */
public final class GeminiReply extends StreamQuirks<GeminiReply> {
  /** One part of the reply. */
  sealed interface Part {
    record Text(List<String> tokens, boolean thought, @Nullable String signature) implements Part {}

    record Call(FakeToolCall call, @Nullable String signature) implements Part {}
  }

  final List<Part> parts = new ArrayList<>();
  @Nullable String finishReason;
  boolean omitFinishReason;
  @Nullable String blockReason;
  @Nullable String modelVersion;
  @Nullable String responseId;
  @Nullable Integer promptTokens;
  @Nullable Integer candidatesTokens;
  int cachedTokens;
  int thoughtsTokens;
  int wordsPerChunk = 1;
  boolean callIds;
  final List<Map.Entry<String, String>> headers = new ArrayList<>();

  int status = 200;
  @Nullable String errorStatus;
  @Nullable String errorMessage;
  int errorEventAfter = -1;
  int errorEventCode = 500;
  boolean hang;

  private GeminiReply() {
    lineEnding(SseLineEnding.CRLF);
  }

  /** A text answer. */
  public static GeminiReply text(String text) {
    return new GeminiReply().thenText(text);
  }

  /** An answer that calls functions (finish reason STOP, as Gemini reports it). */
  public static GeminiReply functionCalls(FakeToolCall... calls) {
    GeminiReply r = new GeminiReply();
    for (FakeToolCall c : calls) {
      r.parts.add(new Part.Call(c, null));
    }
    return r;
  }

  /** A prompt blocked before generation: no candidates, {@code promptFeedback.blockReason}. */
  public static GeminiReply blocked(String blockReason) {
    GeminiReply r = new GeminiReply();
    r.blockReason = requireNonNull(blockReason, "blockReason");
    return r;
  }

  /**
   * An error status with Google's body {@code {"error":{"code","message","status"}}}, e.g. {@code
   * error(429, "RESOURCE_EXHAUSTED", "Quota exceeded")}.
   */
  public static GeminiReply error(int status, String googleStatus, String message) {
    GeminiReply r = new GeminiReply();
    r.status = status;
    r.errorStatus = requireNonNull(googleStatus, "googleStatus");
    r.errorMessage = requireNonNull(message, "message");
    return r;
  }

  /** Never answers. */
  public static GeminiReply hang() {
    GeminiReply r = new GeminiReply();
    r.hang = true;
    return r;
  }

  /** Adds text. */
  public GeminiReply thenText(String text) {
    parts.add(new Part.Text(Tokens.words(text), false, null));
    return this;
  }

  /** Adds text whose last chunk carries {@code thoughtSignature} (the signature's bytes). */
  public GeminiReply thenSignedText(String text, byte[] signature) {
    parts.add(new Part.Text(Tokens.words(text), false, Base64.getEncoder().encodeToString(signature)));
    return this;
  }

  /** Adds a thought summary ({@code thought: true}). */
  public GeminiReply thenThought(String text) {
    parts.add(new Part.Text(Tokens.words(text), true, null));
    return this;
  }

  /** Adds function calls, the first one carrying {@code signature} when not null. */
  public GeminiReply thenFunctionCalls(byte @Nullable [] signature, FakeToolCall... calls) {
    for (int i = 0; i < calls.length; i++) {
      String s = i == 0 && signature != null ? Base64.getEncoder().encodeToString(signature) : null;
      parts.add(new Part.Call(calls[i], s));
    }
    return this;
  }

  /** Sends the calls' ids ({@code functionCall.id}); by default Gemini sends none. */
  public GeminiReply withCallIds() {
    this.callIds = true;
    return this;
  }

  /** The finish reason; default {@code STOP}. */
  public GeminiReply finishReason(String reason) {
    this.finishReason = requireNonNull(reason, "reason");
    return this;
  }

  /** Ends the stream without any finish reason (a cut upstream). */
  public GeminiReply omitFinishReason() {
    this.omitFinishReason = true;
    return this;
  }

  /** {@code modelVersion}; default the request's model id. */
  public GeminiReply modelVersion(String version) {
    this.modelVersion = requireNonNull(version, "version");
    return this;
  }

  /** {@code responseId}; default {@code resp-fake<N>}. */
  public GeminiReply responseId(String id) {
    this.responseId = requireNonNull(id, "id");
    return this;
  }

  /** {@code promptTokenCount} and {@code candidatesTokenCount}. */
  public GeminiReply usage(int promptTokens, int candidatesTokens) {
    this.promptTokens = promptTokens;
    this.candidatesTokens = candidatesTokens;
    return this;
  }

  /** {@code cachedContentTokenCount}. */
  public GeminiReply cachedTokens(int tokens) {
    this.cachedTokens = tokens;
    return this;
  }

  /** {@code thoughtsTokenCount}. */
  public GeminiReply thoughtsTokens(int tokens) {
    this.thoughtsTokens = tokens;
    return this;
  }

  /** Words of text per stream chunk. Default 1. */
  public GeminiReply wordsPerChunk(int words) {
    this.wordsPerChunk = Math.max(1, words);
    return this;
  }

  /** Adds a response header. */
  public GeminiReply header(String name, String value) {
    headers.add(Map.entry(name, value));
    return this;
  }

  /** Sends {@code data: {"error": {...}}} after {@code events} chunks, then ends the body. */
  public GeminiReply errorEventAfter(int events, int code, String googleStatus, String message) {
    this.errorEventAfter = events;
    this.errorEventCode = code;
    this.errorStatus = requireNonNull(googleStatus, "googleStatus");
    this.errorMessage = requireNonNull(message, "message");
    return this;
  }

  @Override
  GeminiReply self() {
    return this;
  }
}
