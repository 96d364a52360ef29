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
import io.grpc.Grpc;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.security.MessageDigest;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.util.Map;
import java.util.Optional;
import java.util.logging.Logger;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;
import org.jspecify.annotations.Nullable;

/**
 * Requires an admin credential on every call it intercepts, and puts the caller's principal name
 * into the call's {@link Context} ({@link #PRINCIPAL}) for change records. Two kinds count:
 *
 * <ul>
 *   <li>an admin token, sent as {@code authorization: Bearer <admin token>};
 *   <li>a client certificate listed for admin by name (see {@link AdminCertificates} for which
 *       names a certificate has and how they match). Only the certificate of the call's TLS
 *       session counts, and the server has that only after the handshake verified it against its
 *       client CA; a certificate that merely lets a data plane connect (trusted for discovery) is
 *       no admin credential unless one of its names is listed.
 * </ul>
 *
 * <p>A call that sends an {@code authorization} header is judged by it alone: a wrong token is
 * refused even on a connection with an admin certificate, and a valid one names the principal.
 * A token travels with each call while the certificate belongs to the connection, so an explicit
 * token is the more specific statement of who is calling, and a wrong one is a mistake worth
 * reporting rather than papering over.
 *
 * <p>Tokens are compared in constant time: the presented token and each configured one are
 * hashed with SHA-256 and compared with {@link MessageDigest#isEqual}, and every configured token
 * is checked, so the time taken reveals neither a prefix match nor which token matched. The
 * tokens themselves never appear in errors or logs. Missing, malformed or unknown credentials get
 * UNAUTHENTICATED (reason {@code MISSING_CREDENTIAL} or {@code INVALID_CREDENTIAL}); an inference
 * API key gets UNAUTHENTICATED with a message saying it is not an admin credential.
 */
public final class AdminAuthInterceptor implements ServerInterceptor {
  private static final Logger logger = Logger.getLogger(AdminAuthInterceptor.class.getName());

  /** The authenticated principal of the current admin call. */
  public static final Context.Key<String> PRINCIPAL = Context.key("sluice-admin-principal");

  /** The shortest admin token accepted, so a token cannot be guessed. */
  public static final int MIN_TOKEN_LENGTH = 16;

  private static final Metadata.Key<String> AUTHORIZATION =
      Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
  private static final String BEARER = "bearer ";

  private record Credential(String principal, byte[] tokenHash) {}

  private final Credential[] credentials;
  private final AdminCertificates certificates;

  private AdminAuthInterceptor(Credential[] credentials, AdminCertificates certificates) {
    this.credentials = credentials;
    this.certificates = certificates;
  }

  /**
   * An interceptor accepting {@code tokens}: principal name → token.
   *
   * @throws IllegalArgumentException for an empty map, a blank principal, a token shorter than
   *     {@value #MIN_TOKEN_LENGTH} characters, or one token used twice
   */
  public static AdminAuthInterceptor of(Map<String, String> tokens) {
    return of(tokens, Map.of());
  }

  /**
   * An interceptor accepting {@code tokens} (principal name → token) and client certificates
   * listed in {@code certificatePrincipals} (certificate name → principal name). Listing
   * certificates only makes sense on a server that verifies client certificates; the caller
   * ensures that.
   *
   * @throws IllegalArgumentException if both maps are empty, for a blank principal, a token
   *     shorter than {@value #MIN_TOKEN_LENGTH} characters, one token used twice, or a blank
   *     certificate name
   */
  public static AdminAuthInterceptor of(
      Map<String, String> tokens, Map<String, String> certificatePrincipals) {
    requireNonNull(tokens, "tokens");
    AdminCertificates certificates = AdminCertificates.of(certificatePrincipals);
    Preconditions.checkArgument(
        !tokens.isEmpty() || !certificates.isEmpty(),
        "no admin credential: adminTokens and adminCertificatePrincipals are both empty"
            + " (expected: at least one token or certificate name)");
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
    return new AdminAuthInterceptor(credentials, certificates);
  }

  @Override
  public <ReqT, RespT> ServerCall.Listener<ReqT> interceptCall(
      ServerCall<ReqT, RespT> call, Metadata headers, ServerCallHandler<ReqT, RespT> next) {
    String principal;
    try {
      principal =
          authenticate(
              headers.get(AUTHORIZATION),
              peerCertificate(call.getAttributes().get(Grpc.TRANSPORT_ATTR_SSL_SESSION)));
    } catch (ApiException e) {
      StatusRuntimeException status = ErrorMapper.toStatusRuntimeException(e);
      call.close(
          status.getStatus(), status.getTrailers() == null ? new Metadata() : status.getTrailers());
      return new ServerCall.Listener<>() {};
    }
    return Contexts.interceptCall(
        Context.current().withValue(PRINCIPAL, principal), call, headers, next);
  }

  /**
   * The principal of the call: by its {@code authorization} header if it sent one, else by the
   * verified client {@code certificate} of its connection (null: none); or UNAUTHENTICATED.
   */
  String authenticate(@Nullable String authorization, @Nullable X509Certificate certificate) {
    if (authorization != null && !authorization.isEmpty()) {
      return tokenPrincipal(authorization);
    }
    if (certificates.isEmpty()) {
      throw unauthenticated(
          "MISSING_CREDENTIAL", "admin calls need 'authorization: Bearer <admin token>'");
    }
    if (certificate == null) {
      throw unauthenticated(
          "MISSING_CREDENTIAL",
          "admin calls need 'authorization: Bearer <admin token>' or a client certificate"
              + " trusted for admin");
    }
    Optional<String> principal = certificates.principalOf(certificate);
    if (principal.isPresent()) {
      return principal.get();
    }
    logger.fine(
        () ->
            "refused an admin call: no name of its client certificate is trusted for admin: "
                + AdminCertificates.names(certificate).stream().map(n -> n.value()).toList());
    throw unauthenticated(
        "INVALID_CREDENTIAL",
        "the client certificate is not trusted for admin calls (a certificate that lets a data"
            + " plane connect is not enough); present an admin certificate or 'authorization:"
            + " Bearer <admin token>'; inference API keys are not admin credentials");
  }

  private String tokenPrincipal(String authorization) {
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

  /**
   * The leaf certificate the client presented in {@code session}, or null without TLS or
   * without a client certificate. {@link SSLSession#getPeerCertificates} answers only for a peer
   * the handshake authenticated, which with a client CA configured means verified against it.
   */
  private static @Nullable X509Certificate peerCertificate(@Nullable SSLSession session) {
    if (session == null) {
      return null;
    }
    try {
      Certificate[] chain = session.getPeerCertificates();
      return chain.length > 0 && chain[0] instanceof X509Certificate leaf ? leaf : null;
    } catch (SSLPeerUnverifiedException e) {
      return null;
    }
  }

  private static ApiException unauthenticated(String reason, String message) {
    return ApiException.builder(Status.Code.UNAUTHENTICATED, reason).message(message).build();
  }

  private static byte[] sha256(String token) {
    return Hashing.sha256().hashString(token, UTF_8).asBytes();
  }
}
