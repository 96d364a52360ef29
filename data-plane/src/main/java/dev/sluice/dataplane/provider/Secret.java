package dev.sluice.dataplane.provider;

import static java.util.Objects.requireNonNull;

import io.netty.util.AsciiString;
import org.jspecify.annotations.Nullable;

/**
 * A resolved secret value (an upstream API key, a secret header value) that never prints itself.
 *
 * <p>{@link #toString()} is redacted so a secret that ends up in a log line, an exception message
 * or a debugger's variable view shows {@code Secret[redacted]} instead of its value. The only way
 * to the value is {@link #reveal()}, which code calls exactly where the value goes on the wire.
 * Deliberately no {@code equals}: comparing secrets is not something callers should need.
 */
public final class Secret {
  private final String value;
  private volatile @Nullable AsciiString bearer;

  private Secret(String value) {
    this.value = value;
  }

  /** Wraps {@code value}. */
  public static Secret of(String value) {
    return new Secret(requireNonNull(value, "value"));
  }

  /** The secret itself. Call it only where the value leaves the process (a request header). */
  public String reveal() {
    return value;
  }

  /**
   * The {@code authorization} header value {@code Bearer <secret>}, built once and kept: an
   * {@link AsciiString} is what Netty writes without re-encoding, so the hot path does not
   * concatenate and encode the key on every request.
   */
  public AsciiString bearerAuthorization() {
    AsciiString b = bearer;
    if (b == null) {
      b = new AsciiString("Bearer " + value);
      bearer = b;
    }
    return b;
  }

  @Override
  public String toString() {
    return "Secret[redacted]";
  }
}
