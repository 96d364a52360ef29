package dev.sluice.dataplane.auth;

import dev.sluice.grpc.ApiException;
import io.grpc.Metadata;
import java.net.InetAddress;
import java.time.Clock;
import org.jspecify.annotations.Nullable;

/**
 * Decides who is calling from a request's metadata. Implementations never wait on I/O: they run on
 * the event loop of every call.
 */
public interface Authenticator {
  /** Failed JWT verifications a client address may cause at once, by default. */
  int DEFAULT_FAILED_VERIFICATION_BURST = 64;

  /** How many of those an address regains per second, by default. */
  double DEFAULT_FAILED_VERIFICATIONS_PER_SECOND = 4;

  /**
   * The caller presenting {@code headers}, according to {@code access}.
   *
   * @throws ApiException UNAUTHENTICATED with reason {@code API_KEY_INVALID} when no credential, or
   *     no valid one, was presented. The message never says whether a key name exists.
   */
  Caller authenticate(Metadata headers, AccessTable access);

  /**
   * As {@link #authenticate(Metadata, AccessTable)}, for a call from {@code peer}: a verifier whose
   * refusals are expensive (a JWT's signature) limits how many an address may cause; the default
   * ignores the address.
   *
   * @param peer the client's address, or null when unknown
   * @throws ApiException as {@link #authenticate(Metadata, AccessTable)}, or RESOURCE_EXHAUSTED
   *     with reason {@code TOO_MANY_FAILED_AUTHENTICATIONS} and a retry delay when {@code peer}
   *     has spent its failed verifications
   */
  default Caller authenticate(Metadata headers, AccessTable access, @Nullable InetAddress peer) {
    return authenticate(headers, access);
  }

  /**
   * Inference API keys ({@code authorization: Bearer sk-sluice-<name>.<secret>} or {@code
   * x-api-key: sk-sluice-...}), verified against their salted SHA-256 hashes in constant time.
   *
   * @param allowAnonymous let calls that present no key in as {@link Caller#anonymous()}; a key
   *     that is presented is still verified. For dev mode only.
   * @param clock decides key expiry
   */
  static Authenticator apiKeys(boolean allowAnonymous, Clock clock) {
    return new ApiKeyAuthenticator(allowAnonymous, clock);
  }

  /**
   * Inference API keys as {@link #apiKeys}, and JWT bearer tokens ({@code authorization: Bearer
   * <jwt>}) from the JwtIssuers of the served config: a bearer value without the {@code sk-sluice-}
   * prefix is verified as a JWT when at least one issuer is configured. The node's authenticator.
   *
   * @param allowAnonymous as for {@link #apiKeys}
   * @param clock decides key and token expiry
   */
  static Authenticator standard(boolean allowAnonymous, Clock clock) {
    return standard(
        allowAnonymous,
        clock,
        DEFAULT_FAILED_VERIFICATION_BURST,
        DEFAULT_FAILED_VERIFICATIONS_PER_SECOND);
  }

  /**
   * As {@link #standard(boolean, Clock)}, with the limit of failed JWT verifications per client
   * address (see docs/authentication.md) set.
   *
   * @param failedVerificationBurst failures an address may cause at once; 0 turns the limit off
   * @param failedVerificationsPerSecond failures an address regains per second, &gt; 0
   */
  static Authenticator standard(
      boolean allowAnonymous,
      Clock clock,
      int failedVerificationBurst,
      double failedVerificationsPerSecond) {
    return new BearerAuthenticator(
        new ApiKeyAuthenticator(allowAnonymous, clock),
        new JwtAuthenticator(
            clock,
            new FailedVerifications(
                failedVerificationBurst, failedVerificationsPerSecond, System::nanoTime)));
  }
}
