package dev.sluice.client;

import dev.sluice.inference.v1.StreamChatResponse;
import io.grpc.Status;
import java.util.NoSuchElementException;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import org.jspecify.annotations.Nullable;

/**
 * The pull-style {@link ChatEventStream}: a {@link StreamChatCall.Sink} that parks events in a
 * queue for the reading thread.
 *
 * <p>The queue cannot grow beyond one event plus the terminal marker, because the call runs
 * without auto-request and the next event is requested only when the reader takes one.
 */
final class BlockingChatEventStream implements ChatEventStream, StreamChatCall.Sink {
  /** Queued after the last event: the outcome, null for success. */
  private record End(@Nullable SluiceException error) {}

  private final BlockingQueue<Object> queue = new LinkedBlockingQueue<>();
  private @Nullable StreamChatCall call;
  // Reader-thread state.
  private @Nullable StreamChatResponse next;
  private @Nullable End end;

  /** Binds the call; must be done before the call starts. */
  void attach(StreamChatCall call) {
    this.call = call;
  }

  @Override
  public boolean hasNext() {
    if (next != null) {
      return true;
    }
    if (end == null) {
      Object item;
      try {
        item = queue.take();
      } catch (InterruptedException e) {
        cancel();
        Thread.currentThread().interrupt();
        end = new End(SluiceException.local(Status.Code.CANCELLED, "Interrupted"));
        throw end.error();
      }
      if (item instanceof StreamChatResponse event) {
        next = event;
        // Let the following event travel while the reader handles this one.
        callOrFail().requestNext();
        return true;
      }
      end = (End) item;
    }
    if (end.error() != null) {
      throw end.error();
    }
    return false;
  }

  @Override
  public StreamChatResponse next() {
    if (!hasNext()) {
      throw new NoSuchElementException("the stream has ended");
    }
    StreamChatResponse event = next;
    next = null;
    return event;
  }

  @Override
  public void cancel() {
    callOrFail().cancel();
  }

  @Override
  public void close() {
    if (!callOrFail().isDone()) {
      cancel();
    }
  }

  @Override
  public void onEvent(StreamChatResponse event) {
    queue.add(event);
  }

  @Override
  public void onCompleted() {
    queue.add(new End(null));
  }

  @Override
  public void onError(SluiceException error) {
    queue.add(new End(error));
  }

  private StreamChatCall callOrFail() {
    if (call == null) {
      throw new IllegalStateException("not attached to a call");
    }
    return call;
  }
}
