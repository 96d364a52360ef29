package dev.sluice.dataplane.ratelimit;

import static java.util.Objects.requireNonNull;

import dev.sluice.inference.v1.ContentDelta;
import dev.sluice.inference.v1.StreamChatResponse;
import dev.sluice.inference.v1.Usage;
import java.util.concurrent.atomic.AtomicLong;
import org.jspecify.annotations.Nullable;

/**
 * Ends one call's {@link Reservation} correctly however the call ends: completed, broken by the
 * upstream, or cancelled by the client. It watches the stream's events for the provider's usage and
 * meanwhile measures the output itself, so that a call whose usage never arrives (a client that
 * hangs up, a connection that breaks before the final chunk) is still charged for what it
 * consumed instead of nothing.
 *
 * <p>The rule, applied by whichever of {@link #completed}, {@link #failed} or {@link #cancelled}
 * comes first (the reservation makes later ones no-ops):
 *
 * <ol>
 *   <li>the request never reached a provider: {@link Reservation#release() release};
 *   <li>usage is known (passed in, or the last {@code usage} event seen):
 *       {@link Reservation#settle settle} with it;
 *   <li>otherwise settle with the estimated input tokens plus the output measured so far (text,
 *       reasoning, refusal and tool-call argument characters, four per token, rounded up):
 *       the provider bills a cancelled or broken call for its prompt and what it generated.
 * </ol>
 *
 * <p>Threading: {@link #onEvent} is called by the one thread that delivers the stream's events;
 * the ending methods may come from any thread.
 */
public final class CallSettlement {
  private final Reservation reservation;
  private final long estimatedInputTokens;
  private volatile boolean upstreamStarted;
  private volatile @Nullable Usage lastUsage;
  /** Output characters seen so far. */
  private final AtomicLong outputChars = new AtomicLong();

  private CallSettlement(Reservation reservation, long estimatedInputTokens) {
    this.reservation = requireNonNull(reservation, "reservation");
    this.estimatedInputTokens = estimatedInputTokens;
  }

  /**
   * Starts watching a call admitted with {@code reservation}.
   *
   * @param estimatedInputTokens the prompt tokens estimated for admission ({@link
   *     RequestQuotaContext#estimatedInputTokens()})
   */
  public static CallSettlement of(Reservation reservation, long estimatedInputTokens) {
    return new CallSettlement(reservation, estimatedInputTokens);
  }

  /** The request has been sent to a provider: from now on it is billed. */
  public void upstreamStarted() {
    upstreamStarted = true;
  }

  /** Observes one event on its way to the client. */
  public void onEvent(StreamChatResponse event) {
    switch (event.getEventCase()) {
      case USAGE -> lastUsage = event.getUsage();
      case CONTENT_DELTA -> outputChars.addAndGet(deltaChars(event.getContentDelta()));
      case TOOL_CALL_DELTA ->
          outputChars.addAndGet(
              event.getToolCallDelta().getArgumentsDelta().length()
                  + event.getToolCallDelta().getName().length());
      default -> {}
    }
  }

  /**
   * The call ended normally.
   *
   * @param usage the usage of a unary response, or null for a stream (its usage event counts)
   */
  public void completed(@Nullable Usage usage) {
    end(usage);
  }

  /** The upstream failed; {@code usageSoFar} is what the provider or adapter reported, if any. */
  public void failed(@Nullable Usage usageSoFar) {
    end(usageSoFar);
  }

  /** The client cancelled or its deadline passed. */
  public void cancelled() {
    end(null);
  }

  /** Whether the reservation has been ended. */
  public boolean isDone() {
    return reservation.isDone();
  }

  private void end(@Nullable Usage reported) {
    if (!upstreamStarted) {
      reservation.release();
      return;
    }
    Usage usage = reported != null ? reported : lastUsage;
    reservation.settle(usage != null ? usage : measured());
  }

  /** The estimate for a call whose usage never arrived. */
  Usage measured() {
    long output = (outputChars.get() + 3) / 4;
    long input = estimatedInputTokens;
    return Usage.newBuilder()
        .setInputTokens(saturate(input))
        .setOutputTokens(saturate(output))
        .setTotalTokens(saturate(input + output))
        .build();
  }

  private static int saturate(long value) {
    return (int) Math.min(Integer.MAX_VALUE, value);
  }

  private static long deltaChars(ContentDelta delta) {
    return switch (delta.getDeltaCase()) {
      case TEXT -> delta.getText().length();
      case REFUSAL -> delta.getRefusal().length();
      case REASONING_TEXT -> delta.getReasoningText().length();
      case PART -> delta.getPart().getText().length();
      default -> 0;
    };
  }
}
