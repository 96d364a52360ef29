package dev.sluice.bench.load;

/** What one call of a run does. */
enum CallKind {
  /** Unary chat: InferenceService.Chat, or a non-streaming POST /v1/chat/completions. */
  CHAT,
  /** Streaming chat: InferenceService.StreamChat, or POST /v1/chat/completions with SSE. */
  STREAM,
  /** Embeddings: InferenceService.Embed, or POST /v1/embeddings. */
  EMBED;

  boolean streaming() {
    return this == STREAM;
  }
}
