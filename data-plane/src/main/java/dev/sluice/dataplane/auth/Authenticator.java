package dev.sluice.dataplane.auth;

import dev.sluice.grpc.ApiException;
import io.grpc.Metadata;
import java.time.Clock;

/**
 * Decides who is calling from a request's metadata. Implementations never wait on I/O: they run on
 * the event loop of every call.
 */
public interface Authenticator {
  /**
   * The caller presenting {@code headers}, according to {@code access}.
   *
   * @throws ApiException UNAUTHENTICATED with reason {@code API_KEY_INVALID} when no credential, or
   *     no valid one, was presented. The message never says whether a key name exists.
   */
  Caller authenticate(Metadata headers, AccessTable access);

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
    return new BearerAuthenticator(
        new ApiKeyAuthenticator(allowAnonymous, clock), new JwtAuthenticator(clock));
  }
}
