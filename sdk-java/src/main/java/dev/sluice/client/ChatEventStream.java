package dev.sluice.client;

import dev.sluice.inference.v1.StreamChatResponse;
import java.util.Iterator;

/**
 * A streamed chat read by pulling events, started by {@link SluiceClient#streamChat(
 * dev.sluice.inference.v1.ChatRequest)}.
 *
 * <pre>{@code
 * try (ChatEventStream events = client.streamChat(request)) {
 *   while (events.hasNext()) {
 *     StreamChatResponse event = events.next();
 *     ...
 *   }
 * }
 * }</pre>
 *
 * <p>{@link #hasNext()} blocks until the next event arrives, and throws {@link SluiceException}
 * when the stream fails; the gateway is asked for each event only when the previous one was
 * taken, so an idle reader holds at most one event. Interrupting the reading thread cancels the
 * stream. {@link #close()} before the end cancels it too, so leaving the try block early is safe.
 * One thread reads; {@link #cancel()} may be called from any thread.
 */
public interface ChatEventStream extends Iterator<StreamChatResponse>, AutoCloseable {
  /** Cancels the stream; the reader then gets a {@code CANCELLED} {@link SluiceException}. */
  void cancel();

  /** Cancels the stream if it has not ended; does nothing otherwise. */
  @Override
  void close();
}
