package dev.sluice.controlplane.admin;

import static java.nio.charset.StandardCharsets.UTF_8;
import static java.util.Objects.requireNonNull;

import com.google.common.base.Preconditions;
import com.google.common.collect.ImmutableMap;
import com.google.common.hash.Hashing;
import dev.sluice.controlplane.apikey.ApiKeySecrets;
import dev.sluice.grpc.ApiException;
import dev.sluice.grpc.ErrorMapper;
import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.security.MessageDigest;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * Requires an admin credential, {@code authorization: Bearer <admin token>}, on every call it
 * intercepts, and puts the token's principal name into the call's {@link Context} ({@link
 * #PRINCIPAL}) for change records.
 *
 * <p>Tokens are compared in constant time: the presented token and each configured one are
 * hashed with SHA-256 and compared with {@link MessageDigest#isEqual}, and every configured token
 * is checked, so the time taken reveals neither a prefix match nor which token matched. The
 * tokens themselves never appear in errors or logs. Missing, malformed or unknown credentials get
 * UNAUTHENTICATED; an inference API key gets UNAUTHENTICATED with a message saying it is not an
 * admin credential.
 */
public final class AdminAuthInterceptor implements ServerInterceptor {
  /** The authenticated principal of the current admin call. */
  public static final Context.Key<String> PRINCIPAL = Context.key("sluice-admin-principal");

  /** The shortest admin token accepted, so a token cannot be guessed. */
  public static final int MIN_TOKEN_LENGTH = 16;

  private static final Metadata.Key<String> AUTHORIZATION =
      Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
  private static final String BEARER = "bearer ";

  private record Credential(String principal, byte[] tokenHash) {}

  private final Credential[] credentials;

  private AdminAuthInterceptor(Credential[] credentials) {
    this.credentials = credentials;
  }

  /**
   * An interceptor accepting {@code tokens}: principal name → token.
   *
   * @throws IllegalArgumentException for an empty map, a blank principal, a token shorter than
   *     {@value #MIN_TOKEN_LENGTH} characters, or one token used twice
   */
  public static AdminAuthInterceptor of(Map<String, String> tokens) {
    requireNonNull(tokens, "tokens");
    Preconditions.checkArgument(!tokens.isEmpty(), "adminTokens: empty (expected: at least one)");
    ImmutableMap<String, String> copy = ImmutableMap.copyOf(tokens);
    Credential[] credentials = new Credential[copy.size()];
    int i = 0;
    java.util.Set<String> seen = new java.util.HashSet<>();
    for (Map.Entry<String, String> e : copy.entrySet()) {
      Preconditions.checkArgument(!e.getKey().isBlank(), "adminTokens: blank principal name");
      Preconditions.checkArgument(
          e.getValue().length() >= MIN_TOKEN_LENGTH && e.getValue().strip().equals(e.getValue()),
          "adminTokens: the token of %s is shorter than %s characters or has surrounding spaces",
          e.getKey(),
          MIN_TOKEN_LENGTH);
      Preconditions.checkArgument(
          seen.add(e.getValue()), "adminTokens: %s shares its token with another principal", e.getKey());
      credentials[i++] = new Credential(e.getKey(), sha256(e.getValue()));
    }
    return new AdminAuthInterceptor(credentials);
  }

  @Override
  public <ReqT, RespT> ServerCall.Listener<ReqT> interceptCall(
      ServerCall<ReqT, RespT> call, Metadata headers, ServerCallHandler<ReqT, RespT> next) {
    String principal;
    try {
      principal = authenticate(headers.get(AUTHORIZATION));
    } catch (ApiException e) {
      StatusRuntimeException status = ErrorMapper.toStatusRuntimeException(e);
      call.close(
          status.getStatus(), status.getTrailers() == null ? new Metadata() : status.getTrailers());
      return new ServerCall.Listener<>() {};
    }
    return Contexts.interceptCall(
        Context.current().withValue(PRINCIPAL, principal), call, headers, next);
  }

  /** The principal of {@code authorization}, or UNAUTHENTICATED. */
  String authenticate(@Nullable String authorization) {
    if (authorization == null || authorization.isEmpty()) {
      throw unauthenticated(
          "MISSING_CREDENTIAL", "admin calls need 'authorization: Bearer <admin token>'");
    }
    if (authorization.length() <= BEARER.length()
        || !authorization.regionMatches(true, 0, BEARER, 0, BEARER.length())) {
      throw unauthenticated(
          "MISSING_CREDENTIAL", "the authorization header must be 'Bearer <admin token>'");
    }
    String token = authorization.substring(BEARER.length()).strip();
    byte[] presented = sha256(token);
    String match = null;
    for (Credential credential : credentials) {
      if (MessageDigest.isEqual(presented, credential.tokenHash()) && match == null) {
        match = credential.principal();
      }
    }
    if (match != null) {
      return match;
    }
    if (token.startsWith(ApiKeySecrets.PREFIX)) {
      throw unauthenticated(
          "INVALID_CREDENTIAL", "inference API keys are not admin credentials; use an admin token");
    }
    throw unauthenticated("INVALID_CREDENTIAL", "the admin token is not valid");
  }

  private static ApiException unauthenticated(String reason, String message) {
    return ApiException.builder(Status.Code.UNAUTHENTICATED, reason).message(message).build();
  }

  private static byte[] sha256(String token) {
    return Hashing.sha256().hashString(token, UTF_8).asBytes();
  }
}
