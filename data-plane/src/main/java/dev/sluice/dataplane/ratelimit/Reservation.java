package dev.sluice.dataplane.ratelimit;

import dev.sluice.inference.v1.Usage;

/**
 * What an admitted request holds in each of its buckets until its call ends: one request, and the
 * estimated tokens (prompt tokens plus the maximum output). Exactly one of {@link #settle}, {@link
 * #commit} and {@link #release} takes effect, whichever is called first; later calls (a cancel
 * racing a completion, a retry of the accounting path) do nothing and return false. Thread-safe.
 *
 * <p>Which one to call:
 *
 * <table>
 *   <caption>Ending a reservation</caption>
 *   <tr><th>The call</th><th>Call</th></tr>
 *   <tr><td>completed, with usage</td><td>{@code settle(usage)}</td></tr>
 *   <tr><td>cancelled or broken after reaching a provider, usage (so far) known</td>
 *       <td>{@code settle(usageSoFar)}</td></tr>
 *   <tr><td>ended after reaching a provider, usage unknown</td><td>{@code commit()}</td></tr>
 *   <tr><td>never reached a provider (no route, no backend, cancelled before sending)</td>
 *       <td>{@code release()}</td></tr>
 * </table>
 */
public interface Reservation {
  /**
   * Charges the real usage: each token bucket gets back what was reserved beyond {@code actual},
   * or is charged what {@code actual} exceeds the reservation by (which can put the bucket into
   * debt, so later requests wait). The request itself stays counted.
   *
   * @return whether this call settled the reservation
   */
  boolean settle(Usage actual);

  /**
   * Keeps the reservation as the charge, for calls that reached a provider but whose usage is
   * unknown. Conservative: the estimate includes the full maximum output.
   *
   * @return whether this call settled the reservation
   */
  boolean commit();

  /**
   * Gives everything back, the request included, for calls that never reached a provider.
   *
   * @return whether this call settled the reservation
   */
  boolean release();

  /** Whether the reservation has been settled, committed or released. */
  boolean isDone();

  /** A reservation that holds nothing, for a request that matched no limit. */
  static Reservation none() {
    return new BucketReservation();
  }
}
