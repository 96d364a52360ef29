package dev.sluice.launcher;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Parses {@code control-plane --admin-cert-name NAME=PRINCIPAL} values into certificate name →
 * principal.
 *
 * <p>The split is at the last {@code =}: principal names never contain one (they take the same
 * characters as in token files, {@code [A-Za-z0-9._@-]}), while a certificate name may, as in a
 * subject CN such as {@code ops=prod}.
 */
final class AdminCertificateNames {
  private AdminCertificateNames() {}

  static Map<String, String> parse(List<String> values) {
    Map<String, String> principals = new LinkedHashMap<>();
    for (String value : values) {
      int equals = value.lastIndexOf('=');
      String name = equals < 0 ? "" : value.substring(0, equals).strip();
      String principal = equals < 0 ? "" : value.substring(equals + 1).strip();
      if (name.isEmpty()) {
        throw new CommandFailure(
            "--admin-cert-name '"
                + value
                + "' (expected: NAME=PRINCIPAL, e.g. spiffe://example.org/ops/deployer=deployer)");
      }
      if (!principal.matches("[A-Za-z0-9._@-]{1,64}")) {
        throw new CommandFailure(
            "--admin-cert-name '"
                + value
                + "': the principal after the last '=' must be 1 to 64 characters from"
                + " [A-Za-z0-9._@-]");
      }
      if (principals.put(name, principal) != null) {
        throw new CommandFailure("--admin-cert-name: " + name + " is given twice");
      }
    }
    return principals;
  }
}
