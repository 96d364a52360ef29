package dev.sluice.testing.fakes;

import static java.util.Objects.requireNonNull;

import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.function.Function;

/** Scripted replies answered in order, then the fallback's reply for whatever comes after. */
final class ReplyQueue<R> {
  private final ConcurrentLinkedQueue<R> queued = new ConcurrentLinkedQueue<>();
  private final Function<RecordedRequest, R> fallback;

  ReplyQueue(Function<RecordedRequest, R> fallback) {
    this.fallback = requireNonNull(fallback, "fallback");
  }

  void add(R reply) {
    queued.add(requireNonNull(reply, "reply"));
  }

  /** The next queued reply, else the fallback's answer to {@code request}. */
  R next(RecordedRequest request) {
    R reply = queued.poll();
    return reply != null ? reply : fallback.apply(request);
  }
}
