package dev.sluice.dataplane.ratelimit;

import static com.google.common.base.Preconditions.checkState;
import static java.util.Objects.requireNonNull;

import dev.sluice.grpc.ApiException;
import org.jspecify.annotations.Nullable;

/**
 * The rate limiter's answer to one request: admitted with a {@link Reservation} to settle when the
 * call ends, or refused with the {@link ApiException} to return to the caller ({@code
 * RESOURCE_EXHAUSTED}, reason {@value RateLimiter#REASON}, a {@code QuotaFailure} naming the
 * limits that refused and a {@code RetryInfo} saying when the request would fit).
 */
public final class Admission {
  private final @Nullable Reservation reservation;
  private final @Nullable ApiException refusal;

  private Admission(@Nullable Reservation reservation, @Nullable ApiException refusal) {
    this.reservation = reservation;
    this.refusal = refusal;
  }

  static Admission admitted(Reservation reservation) {
    return new Admission(requireNonNull(reservation, "reservation"), null);
  }

  static Admission refused(ApiException refusal) {
    return new Admission(null, requireNonNull(refusal, "refusal"));
  }

  public boolean isAdmitted() {
    return reservation != null;
  }

  /** The reservation of an admitted request. */
  public Reservation reservation() {
    checkState(reservation != null, "refused: %s", refusal);
    return reservation;
  }

  /** The error of a refused request. */
  public ApiException refusal() {
    checkState(refusal != null, "admitted");
    return refusal;
  }

  /** The reservation, or throws the refusal: {@code limiter.admit(ctx).orThrow()}. */
  public Reservation orThrow() {
    if (refusal != null) {
      throw refusal;
    }
    return requireNonNull(reservation);
  }

  @Override
  public String toString() {
    return reservation != null ? "Admission{admitted}" : "Admission{refused: " + refusal + "}";
  }
}
