package dev.sluice.dataplane.auth;

import dev.sluice.dataplane.auth.JwksKeySet.VerificationKey;
import org.jspecify.annotations.Nullable;

/**
 * The verification keys of one JwtIssuer, as an immutable {@link JwksKeySet} swapped whole when
 * the keys change. Lookups read that snapshot and return at once: any file or network work they
 * prompt runs in the background, and its result serves later requests.
 */
interface JwksSource {
  /**
   * The key named {@code kid}, or null when the current keys have none by that name. A null answer
   * also asks for an early refresh (rate-limited), so that a key the issuer has just added is found
   * by a later request.
   */
  @Nullable VerificationKey key(String kid);
}
