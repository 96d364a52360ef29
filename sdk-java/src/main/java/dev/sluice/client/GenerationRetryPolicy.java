package dev.sluice.client;

import io.grpc.Deadline;
import io.grpc.Status;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

/**
 * When the client retries a generation call ({@code Chat}, or {@code StreamChat} before its
 * first event) that carries a {@code request_id}.
 *
 * <p>Only {@code UNAVAILABLE} is retried: the gateway uses it when no backend could serve the
 * call, which its API documents as safe to retry when no output was received. An error whose
 * {@code ErrorInfo} metadata says {@code retryable=false} is not retried. The delay is the
 * gateway's {@code RetryInfo} when it sent one, else exponential backoff with jitter; a retry
 * that could not start before the call's deadline is not attempted.
 *
 * @param maxAttempts attempts including the first; 1 means never retry
 * @param initialBackoff the delay before the first retry, doubled for each later one
 */
record GenerationRetryPolicy(int maxAttempts, Duration initialBackoff) {
  private static final Duration MAX_BACKOFF = Duration.ofSeconds(10);

  /**
   * The delay before attempt {@code attemptsMade + 1}, or empty when {@code error} must be
   * returned to the caller instead.
   */
  Optional<Duration> delayBeforeRetry(int attemptsMade, SluiceException error, Deadline deadline) {
    if (attemptsMade >= maxAttempts
        || error.code() != Status.Code.UNAVAILABLE
        || "false".equals(error.metadata().get("retryable"))) {
      return Optional.empty();
    }
    Duration delay = error.retryDelay().orElseGet(() -> backoff(attemptsMade));
    if (deadline.timeRemaining(TimeUnit.NANOSECONDS) <= delay.toNanos()) {
      return Optional.empty();
    }
    return Optional.of(delay);
  }

  private Duration backoff(int attemptsMade) {
    long base = initialBackoff.toNanos() << Math.min(attemptsMade - 1, 20);
    long capped = Math.min(base, MAX_BACKOFF.toNanos());
    // Full jitter between half and all of the backoff, so clients that failed together do not
    // retry together.
    return Duration.ofNanos(capped / 2 + ThreadLocalRandom.current().nextLong(capped / 2 + 1));
  }
}
