package dev.sluice.client;

import dev.sluice.inference.v1.ChatStarted;
import dev.sluice.inference.v1.ChoiceFinished;
import dev.sluice.inference.v1.ContentDelta;
import dev.sluice.inference.v1.StreamChatResponse;
import dev.sluice.inference.v1.ToolCallDelta;
import dev.sluice.inference.v1.Usage;

/**
 * Receives the events of one streamed chat, in order: {@code started}, then content and tool-call
 * deltas, then one {@code choiceFinished} per choice, then {@code usage}, then exactly one of
 * {@link #onCompleted()} or {@link #onError(SluiceException)}.
 *
 * <p>Callbacks of one stream never run concurrently, and the client asks the gateway for the
 * next event only after the current callback returns: a slow listener slows the stream down
 * (gRPC flow control) instead of buffering without bound. Do not block in a callback for long,
 * and never wait in one for the stream itself. An exception thrown by a callback cancels the
 * stream; {@link #onError(SluiceException)} then reports {@code CANCELLED} with it as the cause.
 *
 * <p>Override {@link #onEvent(StreamChatResponse)} to see raw events, or the typed methods, which
 * the default {@code onEvent} dispatches to.
 */
public interface ChatStreamListener {
  /** Called for each event; by default dispatches to the typed method for the event's kind. */
  default void onEvent(StreamChatResponse event) {
    switch (event.getEventCase()) {
      case STARTED -> onStarted(event.getStarted());
      case CONTENT_DELTA -> onContentDelta(event.getContentDelta());
      case TOOL_CALL_DELTA -> onToolCallDelta(event.getToolCallDelta());
      case CHOICE_FINISHED -> onChoiceFinished(event.getChoiceFinished());
      case USAGE -> onUsage(event.getUsage());
      case EVENT_NOT_SET -> {
        // An event kind newer than this client: ignore it, as proto3 clients should.
      }
    }
  }

  /** The response has started; the serving backend is fixed from here on. */
  default void onStarted(ChatStarted started) {}

  /** A piece of text, refusal or reasoning content. */
  default void onContentDelta(ContentDelta delta) {}

  /** A piece of a tool call. */
  default void onToolCallDelta(ToolCallDelta delta) {}

  /** A choice is complete. */
  default void onChoiceFinished(ChoiceFinished finished) {}

  /** Token usage of the whole call; also sent before an error when tokens were consumed. */
  default void onUsage(Usage usage) {}

  /** The stream ended successfully. Called at most once, and never after {@code onError}. */
  void onCompleted();

  /**
   * The stream failed, was cancelled or timed out. Called at most once, and never after {@code
   * onCompleted}. Events received before the failure remain valid output.
   */
  void onError(SluiceException error);
}
