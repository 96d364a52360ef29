package dev.sluice.controlplane.admin;

import static java.util.Objects.requireNonNull;

import com.google.common.base.Preconditions;
import com.google.common.collect.ImmutableList;
import com.google.common.collect.ImmutableMap;
import java.security.cert.CertificateParsingException;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import javax.naming.NamingException;
import javax.naming.directory.Attribute;
import javax.naming.ldap.LdapName;
import javax.naming.ldap.Rdn;
import javax.security.auth.x500.X500Principal;

/**
 * The client-certificate identities trusted for admin calls: certificate name → principal.
 *
 * <p><b>Which names a certificate has.</b> Its URI and DNS Subject Alternative Names (a SPIFFE id
 * such as {@code spiffe://example.org/ops/deployer}, or {@code deployer.ops.example.org}); only
 * when it has neither, the Common Names of its subject. This is how TLS treats server names (RFC
 * 6125): a certificate issued for a SAN identity cannot be made an admin one through a CN its
 * issuer did not vet. Other SAN types (IP, e-mail) are ignored.
 *
 * <p><b>How they match.</b> A certificate matches a configured name that equals one of its names
 * exactly; DNS names ignore ASCII case, as DNS does. Nothing else: no wildcards, prefixes or
 * patterns, so a name admits exactly the certificates its issuer issued for it, and a {@code
 * *.example.org} SAN matches only the configured name {@code *.example.org}. If a certificate has
 * several listed names, the first in the order above decides.
 *
 * <p>Only certificates the TLS handshake verified against the control plane's client CA reach
 * this class (see {@link AdminAuthInterceptor}); the names themselves are not secret.
 */
final class AdminCertificates {
  private static final int SAN_DNS = 2;
  private static final int SAN_URI = 6;

  private final ImmutableMap<String, String> exact;
  private final ImmutableMap<String, String> ignoringCase;

  private AdminCertificates(
      ImmutableMap<String, String> exact, ImmutableMap<String, String> ignoringCase) {
    this.exact = exact;
    this.ignoringCase = ignoringCase;
  }

  /**
   * The identities in {@code principalsByName}: certificate name → principal recorded in history.
   *
   * @throws IllegalArgumentException for a blank name or principal, a name with surrounding
   *     spaces, or two names that differ only in case
   */
  static AdminCertificates of(Map<String, String> principalsByName) {
    requireNonNull(principalsByName, "principalsByName");
    Map<String, String> lowerCase = new HashMap<>();
    for (Map.Entry<String, String> e : principalsByName.entrySet()) {
      String name = requireNonNull(e.getKey(), "name");
      String principal = requireNonNull(e.getValue(), "principal");
      Preconditions.checkArgument(
          !name.isBlank() && name.strip().equals(name),
          "adminCertificatePrincipals: name '%s' (expected: not blank, no surrounding spaces)",
          name);
      Preconditions.checkArgument(
          !principal.isBlank(), "adminCertificatePrincipals: blank principal for %s", name);
      String previous = lowerCase.put(name.toLowerCase(Locale.ROOT), principal);
      Preconditions.checkArgument(
          previous == null,
          "adminCertificatePrincipals: %s is listed twice, differing only in case",
          name);
    }
    return new AdminCertificates(
        ImmutableMap.copyOf(principalsByName), ImmutableMap.copyOf(lowerCase));
  }

  boolean isEmpty() {
    return exact.isEmpty();
  }

  /** The principal of {@code certificate}, if one of its names is listed. */
  Optional<String> principalOf(X509Certificate certificate) {
    for (Name name : names(certificate)) {
      String principal =
          name.dns() ? ignoringCase.get(name.value().toLowerCase(Locale.ROOT)) : exact.get(name.value());
      if (principal != null) {
        return Optional.of(principal);
      }
    }
    return Optional.empty();
  }

  /** A name of a certificate; {@code dns} for a DNS SAN, which matches ignoring case. */
  record Name(String value, boolean dns) {}

  /** The names of {@code certificate} that may match, in the order they are tried. */
  static ImmutableList<Name> names(X509Certificate certificate) {
    Collection<List<?>> sans;
    try {
      sans = certificate.getSubjectAlternativeNames();
    } catch (CertificateParsingException e) {
      // An unreadable SAN extension: no name at all, rather than falling back to the CN.
      return ImmutableList.of();
    }
    List<Name> uris = new ArrayList<>();
    List<Name> dnsNames = new ArrayList<>();
    boolean hasSanIdentity = false;
    if (sans != null) {
      for (List<?> san : sans) {
        if (san.size() < 2 || !(san.get(0) instanceof Integer type)) {
          continue;
        }
        if (type == SAN_URI || type == SAN_DNS) {
          hasSanIdentity = true;
          if (san.get(1) instanceof String value) {
            (type == SAN_URI ? uris : dnsNames).add(new Name(value, type == SAN_DNS));
          }
        }
      }
    }
    ImmutableList.Builder<Name> names = ImmutableList.builder();
    names.addAll(uris).addAll(dnsNames);
    if (!hasSanIdentity) {
      commonNames(certificate.getSubjectX500Principal()).forEach(cn -> names.add(new Name(cn, false)));
    }
    return names.build();
  }

  private static List<String> commonNames(X500Principal subject) {
    List<String> names = new ArrayList<>();
    try {
      List<Rdn> rdns = new LdapName(subject.getName(X500Principal.RFC2253)).getRdns();
      // LdapName lists the most significant RDN first; the CN is usually the last one.
      for (int i = rdns.size() - 1; i >= 0; i--) {
        Attribute cn = rdns.get(i).toAttributes().get("CN");
        if (cn != null && cn.get() instanceof String value) {
          names.add(value);
        }
      }
    } catch (NamingException e) {
      return List.of();
    }
    return names;
  }
}
