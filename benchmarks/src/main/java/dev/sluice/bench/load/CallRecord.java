package dev.sluice.bench.load;

import org.jspecify.annotations.Nullable;

/**
 * The record of one call: its scheduled start and the times of its events, folded into the run's
 * {@link Measurement} as they happen. Events of one call come from one thread at a time, so the
 * fields need no synchronization.
 */
final class CallRecord implements LoadTarget.CallSink {
  private final Measurement m;
  private final long scheduled;
  private final boolean measured;
  private final @Nullable Runnable onDone;
  private long sent;
  private long firstToken;
  private long lastToken;
  private long tokens;

  /**
   * @param scheduled when the call was meant to start: the open-loop schedule slot, or the moment a
   *     closed-loop worker started it
   * @param onDone run after the call is recorded, unless the run is already over
   */
  CallRecord(Measurement m, long scheduled, @Nullable Runnable onDone) {
    this.m = m;
    this.scheduled = scheduled;
    this.measured = m.inWindow(scheduled);
    this.onDone = onDone;
    this.sent = scheduled;
    if (measured) {
      m.measured.increment();
    }
  }

  @Override
  public void onSent(long nanoTime) {
    sent = nanoTime;
  }

  @Override
  public void onToken(long nanoTime) {
    if (tokens == 0) {
      firstToken = nanoTime;
    } else if (measured) {
      m.interTokenGap.recordValue(Math.max(0, nanoTime - lastToken));
    }
    lastToken = nanoTime;
    tokens++;
    if (m.inWindow(nanoTime)) {
      m.tokensInWindow.increment();
    }
  }

  @Override
  public void onClose(long nanoTime, String outcome) {
    m.inFlight.decrementAndGet();
    if (m.closed) {
      return; // counted as unfinished when the run closed
    }
    boolean ok = OK.equals(outcome);
    if (ok && m.inWindow(nanoTime)) {
      m.okInWindow.increment();
    }
    if (!measured) {
      if (ok) {
        // Exercise the recording path during the warm-up too: compiled before the window opens,
        // it does not stall this client (and skew every latency) in the window's first moments.
        m.warmupLatency.recordValue(Math.max(0, nanoTime - scheduled));
      }
    } else {
      m.outcome(outcome);
      if (ok) {
        m.latency.recordValue(Math.max(0, nanoTime - scheduled));
        m.timeline(scheduled, nanoTime - scheduled);
        m.serviceTime.recordValue(Math.max(0, nanoTime - sent));
        if (tokens > 0) {
          m.ttft.recordValue(Math.max(0, firstToken - scheduled));
          m.streamDuration.recordValue(Math.max(0, nanoTime - scheduled));
          if (tokens > 1 && lastToken > firstToken) {
            m.streamTokensPerSecond.recordValue(
                Math.round((tokens - 1) * 1e9 / (lastToken - firstToken)));
          }
        }
      }
    }
    if (onDone != null) {
      onDone.run();
    }
  }
}
