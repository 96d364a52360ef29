package dev.sluice.dataplane.auth;

import static java.util.Objects.requireNonNull;

import io.grpc.Metadata;
import java.net.InetAddress;
import org.jspecify.annotations.Nullable;

/**
 * API keys and JWT bearer tokens. A bearer value that is not a Sluice key ({@code sk-sluice-...})
 * is taken for a JWT when the config trusts at least one JwtIssuer; everything else, including
 * every credential on a node without JwtIssuers, goes to {@link ApiKeyAuthenticator} unchanged.
 * Keys are recognised by their prefix rather than by trying one scheme after the other, so a
 * credential is checked once, by the one verifier it is meant for.
 */
final class BearerAuthenticator implements Authenticator {
  private static final String BEARER = "bearer ";

  private final ApiKeyAuthenticator apiKeys;
  private final JwtAuthenticator jwts;

  BearerAuthenticator(ApiKeyAuthenticator apiKeys, JwtAuthenticator jwts) {
    this.apiKeys = requireNonNull(apiKeys, "apiKeys");
    this.jwts = requireNonNull(jwts, "jwts");
  }

  @Override
  public Caller authenticate(Metadata headers, AccessTable access) {
    return authenticate(headers, access, null);
  }

  @Override
  public Caller authenticate(Metadata headers, AccessTable access, @Nullable InetAddress peer) {
    if (access.hasJwtIssuers()) {
      String token = bearerToken(headers);
      if (token != null && !token.startsWith(ApiKeyAuthenticator.KEY_PREFIX)) {
        return jwts.authenticate(token, access, peer);
      }
    }
    return apiKeys.authenticate(headers, access);
  }

  /** The value of {@code authorization: Bearer <value>}, or null when there is none. */
  private static @Nullable String bearerToken(Metadata headers) {
    String authorization = headers.get(ApiKeyAuthenticator.AUTHORIZATION);
    if (authorization == null
        || authorization.length() <= BEARER.length()
        || !authorization.regionMatches(true, 0, BEARER, 0, BEARER.length())) {
      return null;
    }
    String token = authorization.substring(BEARER.length()).trim();
    return token.isEmpty() ? null : token;
  }
}
