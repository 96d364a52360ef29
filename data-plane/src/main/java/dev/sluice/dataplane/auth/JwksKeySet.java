package dev.sluice.dataplane.auth;

import com.google.common.collect.ImmutableMap;
import com.nimbusds.jose.JOSEException;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSVerifier;
import com.nimbusds.jose.crypto.ECDSAVerifier;
import com.nimbusds.jose.crypto.Ed25519Verifier;
import com.nimbusds.jose.crypto.RSASSAVerifier;
import com.nimbusds.jose.jwk.Curve;
import com.nimbusds.jose.jwk.ECKey;
import com.nimbusds.jose.jwk.JWK;
import com.nimbusds.jose.jwk.JWKSet;
import com.nimbusds.jose.jwk.KeyUse;
import com.nimbusds.jose.jwk.OctetKeyPair;
import com.nimbusds.jose.jwk.RSAKey;
import java.text.ParseException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * The signature verification keys of one JWKS document, by {@code kid}, each with its verifier
 * built once. Immutable: a refresh builds a new set and swaps it in whole, so a request sees either
 * the old keys or the new ones, never a mix.
 *
 * <p>Only public keys that can verify a signature this gateway accepts are kept: RSA keys of at
 * least 2048 bits, EC keys on P-256, P-384 or P-521 and OKP keys on Ed25519, with a {@code kid},
 * not marked {@code "use": "enc"}. Everything else in the document (encryption keys, symmetric {@code oct} keys,
 * keys without a {@code kid}, key types this build does not verify) is skipped, because issuers
 * commonly publish such keys next to their signing keys; a document with no usable key at all is
 * refused, since it could verify nothing. Private parts, if an operator pasted a private JWKS, are
 * dropped.
 */
final class JwksKeySet {
  /** The set before any key is known (a {@code jwks_uri} not fetched yet). */
  static final JwksKeySet EMPTY = new JwksKeySet(ImmutableMap.of());

  /** Largest JWKS document accepted, in bytes; real ones are a few kilobytes. */
  static final int MAX_BYTES = 1 << 20;

  private static final int MIN_RSA_BITS = 2048;

  /** A key and the verifier for it. Nimbus verifiers are thread-safe. */
  record VerificationKey(JWK jwk, JWSVerifier verifier) {
    /**
     * Whether this key may verify a signature made with {@code alg}: the key's type and curve must
     * be the ones {@code alg} is defined for, and an {@code alg} the key itself declares must be
     * that one. This stops a token from choosing how a key is used. {@code EdDSA} and {@code
     * Ed25519} (RFC 9864's fully specified name) are one algorithm on an Ed25519 key, so either
     * declaration permits either.
     */
    boolean permits(JWSAlgorithm alg) {
      if (jwk.getAlgorithm() != null
          && !jwk.getAlgorithm().getName().equals(alg.getName())
          && !(isEd25519(jwk.getAlgorithm().getName()) && isEd25519(alg.getName()))) {
        return false;
      }
      if (JWSAlgorithm.Family.RSA.contains(alg)) {
        return jwk instanceof RSAKey;
      }
      if (JWSAlgorithm.Family.EC.contains(alg)) {
        return jwk instanceof ECKey ec && Curve.forJWSAlgorithm(alg).contains(ec.getCurve());
      }
      if (isEd25519(alg.getName())) {
        return jwk instanceof OctetKeyPair okp && Curve.Ed25519.equals(okp.getCurve());
      }
      return false;
    }

    private static boolean isEd25519(String alg) {
      return alg.equals(JWSAlgorithm.EdDSA.getName()) || alg.equals(JWSAlgorithm.Ed25519.getName());
    }
  }

  private final ImmutableMap<String, VerificationKey> keys;

  private JwksKeySet(ImmutableMap<String, VerificationKey> keys) {
    this.keys = keys;
  }

  /**
   * Parses a JWKS document.
   *
   * @throws IllegalArgumentException when it is not a JWKS, names a {@code kid} twice or holds no
   *     usable signing key; the message says why without quoting the document
   */
  static JwksKeySet parse(String json) {
    JWKSet set;
    try {
      set = JWKSet.parse(json);
    } catch (ParseException e) {
      throw new IllegalArgumentException("not a valid JWKS document: " + e.getMessage(), e);
    }
    Map<String, VerificationKey> keys = new HashMap<>();
    List<String> skipped = new ArrayList<>();
    for (JWK jwk : set.getKeys()) {
      String kid = jwk.getKeyID();
      if (kid == null || kid.isEmpty()) {
        skipped.add("a key without kid");
        continue;
      }
      if (KeyUse.ENCRYPTION.equals(jwk.getKeyUse())) {
        continue;
      }
      @Nullable VerificationKey key = verificationKey(jwk.toPublicJWK());
      if (key == null) {
        skipped.add("kid " + kid);
        continue;
      }
      if (keys.put(kid, key) != null) {
        throw new IllegalArgumentException("kid " + kid + " appears more than once");
      }
    }
    if (keys.isEmpty()) {
      throw new IllegalArgumentException(
          "no usable signing key (RSA of at least "
              + MIN_RSA_BITS
              + " bits, EC on P-256/P-384/P-521 or Ed25519, with a kid)"
              + (skipped.isEmpty() ? "" : "; skipped " + String.join(", ", skipped)));
    }
    return new JwksKeySet(ImmutableMap.copyOf(keys));
  }

  private static @Nullable VerificationKey verificationKey(JWK jwk) {
    try {
      if (jwk instanceof RSAKey rsa) {
        if (rsa.size() < MIN_RSA_BITS) {
          return null;
        }
        return new VerificationKey(rsa, new RSASSAVerifier(rsa));
      }
      if (jwk instanceof ECKey ec) {
        Curve curve = ec.getCurve();
        if (!Curve.P_256.equals(curve) && !Curve.P_384.equals(curve) && !Curve.P_521.equals(curve)) {
          return null;
        }
        return new VerificationKey(ec, new ECDSAVerifier(ec));
      }
      if (jwk instanceof OctetKeyPair okp) {
        // OKP also carries X25519 and X448 (key agreement) and Ed448, which nimbus cannot verify.
        if (!Curve.Ed25519.equals(okp.getCurve())) {
          return null;
        }
        return new VerificationKey(okp, new Ed25519Verifier(okp));
      }
      return null;
    } catch (JOSEException | RuntimeException e) {
      return null;
    }
  }

  /** The key named {@code kid}, or null when this set has none by that name. */
  @Nullable VerificationKey key(String kid) {
    return keys.get(kid);
  }

  /** The key ids in this set. */
  java.util.Set<String> kids() {
    return keys.keySet();
  }
}
