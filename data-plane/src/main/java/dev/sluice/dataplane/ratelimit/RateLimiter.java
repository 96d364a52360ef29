package dev.sluice.dataplane.ratelimit;

import static com.google.common.base.Preconditions.checkArgument;
import static java.util.Objects.requireNonNull;

import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.composite.CompositeMeterRegistry;
import java.util.function.LongSupplier;
import java.util.function.Supplier;

/**
 * Admits requests against every rate limit that applies to them, on the request path.
 *
 * <p>{@link #admit} checks all of a request's buckets and either charges all of them (the request's
 * reservation) or none: when one bucket refuses, those already charged are given back before it
 * returns. It never blocks on I/O and never waits: it reads the current {@link RateLimitTable}
 * and leases and takes one short per-bucket critical section per limit. Thread-safe.
 *
 * <p>Each bucket holds this node's share of its limit: the share leased by the control plane
 * while a lease holds (applied by a {@link QuotaLeaseClient}), otherwise a static share of {@code
 * amount / fleetSizeHint}.
 */
public interface RateLimiter {
  /** {@code ErrorInfo.reason} of a refusal. */
  String REASON = "RATE_LIMITED";

  /**
   * Admits {@code ctx} or refuses it. An admitted request must end its {@link Reservation}
   * exactly once, however the call ends; a refused one holds nothing.
   */
  Admission admit(RequestQuotaContext ctx);

  /**
   * A rate limiter over the table that {@code tables} returns at each call (typically the one in
   * the current runtime config, so limits change atomically with routes and consumers). Bucket
   * state survives table changes; a limit whose metric or window changes starts counting afresh.
   */
  static RateLimiter create(Supplier<RateLimitTable> tables, Options options) {
    return new SlidingWindowRateLimiter(tables, options);
  }

  /** Settings of a {@link RateLimiter}. */
  final class Options {
    private final LongSupplier nanoTicker;
    private final int fleetSizeHint;
    private final MeterRegistry meterRegistry;

    private Options(Builder b) {
      this.nanoTicker = b.nanoTicker;
      this.fleetSizeHint = b.fleetSizeHint;
      this.meterRegistry = b.meterRegistry;
    }

    public static Options defaults() {
      return builder().build();
    }

    public static Builder builder() {
      return new Builder();
    }

    /** Monotonic time in nanoseconds; {@code System::nanoTime} unless a test injects a clock. */
    public LongSupplier nanoTicker() {
      return nanoTicker;
    }

    /**
     * How many data planes share each limit when no lease holds: the static share is {@code
     * amount / max(fleetSizeHint, fleet_size)}, where {@code fleet_size} is the number of nodes
     * the quota allocator last reported (0 before any answer). Set it to the number of data
     * planes deployed (for example the replica count), never lower: before the allocator has
     * answered, a lower value over-admits by {@code amount * (N / hint - 1)} while the control
     * plane is unreachable; a higher one only under-admits. Default 1.
     */
    public int fleetSizeHint() {
      return fleetSizeHint;
    }

    /** Where refusals are counted ({@code sluice.ratelimit.refusals}). Default: nowhere. */
    public MeterRegistry meterRegistry() {
      return meterRegistry;
    }

    /** Builds {@link Options}. */
    public static final class Builder {
      private LongSupplier nanoTicker = System::nanoTime;
      private int fleetSizeHint = 1;
      private MeterRegistry meterRegistry = new CompositeMeterRegistry();

      private Builder() {}

      public Builder nanoTicker(LongSupplier nanoTicker) {
        this.nanoTicker = requireNonNull(nanoTicker, "nanoTicker");
        return this;
      }

      public Builder fleetSizeHint(int fleetSizeHint) {
        checkArgument(fleetSizeHint >= 1, "fleetSizeHint: %s (expected: >= 1)", fleetSizeHint);
        this.fleetSizeHint = fleetSizeHint;
        return this;
      }

      public Builder meterRegistry(MeterRegistry meterRegistry) {
        this.meterRegistry = requireNonNull(meterRegistry, "meterRegistry");
        return this;
      }

      public Options build() {
        return new Options(this);
      }
    }
  }
}
