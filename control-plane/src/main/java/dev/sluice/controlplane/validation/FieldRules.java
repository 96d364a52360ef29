package dev.sluice.controlplane.validation;

import com.google.common.collect.ImmutableSet;
import com.google.protobuf.Duration;
import com.google.protobuf.Timestamp;
import com.google.protobuf.util.Durations;
import com.google.protobuf.util.Timestamps;
import dev.sluice.config.v1.SecretRef;
import java.net.InetAddress;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/** Field-level rules shared by the kinds, each adding violations to a {@link Issues} scope. */
final class FieldRules {
  static final Pattern NAME = Pattern.compile(ConfigValidator.NAME_PATTERN);
  static final Pattern LABEL_KEY = Pattern.compile("[a-z0-9._/-]{1,63}");
  static final Pattern LABEL_VALUE = Pattern.compile("[A-Za-z0-9._-]{0,63}");
  static final Pattern ENV_VAR = Pattern.compile("[A-Za-z_][A-Za-z0-9_]*");
  static final Pattern HEADER_NAME = Pattern.compile("[a-z0-9!#$%&'*+.^_`|~-]+");
  static final int MAX_LABELS = 64;
  static final int MAX_PATH_CHARS = 4096;
  static final int MAX_URL_CHARS = 2048;

  /** Headers whose values are credentials: only secret references may fill them. */
  static final ImmutableSet<String> CREDENTIAL_HEADERS =
      ImmutableSet.of(
          "authorization",
          "proxy-authorization",
          "x-api-key",
          "api-key",
          "x-goog-api-key",
          "cookie");

  /** Headers the gateway owns: connection management, framing and routing. */
  static final ImmutableSet<String> RESERVED_HEADERS =
      ImmutableSet.of(
          "host",
          "connection",
          "keep-alive",
          "proxy-connection",
          "transfer-encoding",
          "upgrade",
          "te",
          "trailer",
          "content-length");

  private FieldRules() {}

  static void name(Issues issues, String field, String name) {
    if (name.isEmpty()) {
      issues.add(field, "required");
    } else if (!NAME.matcher(name).matches()) {
      issues.add(
          field,
          quote(name)
              + " is not a valid name (expected: 1 to 63 characters of a-z, 0-9, '-' and '.',"
              + " starting and ending with a letter or digit)");
    }
  }

  static void maxChars(Issues issues, String field, String value, int max) {
    int length = value.codePointCount(0, value.length());
    if (length > max) {
      issues.add(field, "is " + length + " characters long (expected: at most " + max + ")");
    }
  }

  static void labels(Issues issues, String field, Map<String, String> labels) {
    if (labels.size() > MAX_LABELS) {
      issues.add(field, "has " + labels.size() + " entries (expected: at most " + MAX_LABELS + ")");
    }
    labels.keySet().stream()
        .sorted()
        .forEach(
            key -> {
              String entry = field + "[" + key + "]";
              if (!LABEL_KEY.matcher(key).matches()) {
                issues.add(
                    entry,
                    "label key "
                        + quote(key)
                        + " is invalid (expected: 1 to 63 characters of a-z, 0-9, '.', '_', '/'"
                        + " and '-')");
              }
              String value = labels.get(key);
              if (!LABEL_VALUE.matcher(value).matches()) {
                issues.add(
                    entry,
                    "label value "
                        + quote(value)
                        + " is invalid (expected: at most 63 characters of A-Z, a-z, 0-9, '.', '_'"
                        + " and '-')");
              }
            });
  }

  /** A reference to a secret: exactly one source, and each source well-formed. */
  static void secretRef(Issues issues, String field, SecretRef ref) {
    switch (ref.getSourceCase()) {
      case ENV_VAR -> {
        if (!ENV_VAR.matcher(ref.getEnvVar()).matches() || ref.getEnvVar().length() > 256) {
          issues.add(
              field + ".env_var",
              quote(ref.getEnvVar())
                  + " is not an environment variable name (expected: [A-Za-z_][A-Za-z0-9_]*)");
        }
      }
      case FILE_PATH -> absolutePath(issues, field + ".file_path", ref.getFilePath());
      case SOURCE_NOT_SET ->
          issues.add(field, "set exactly one of env_var and file_path (secrets are references)");
    }
  }

  static void absolutePath(Issues issues, String field, String path) {
    if (path.isEmpty()) {
      issues.add(field, "required");
      return;
    }
    if (path.length() > MAX_PATH_CHARS || path.indexOf('\0') >= 0) {
      issues.add(field, "is not a valid path");
      return;
    }
    try {
      Path p = Path.of(path);
      if (!path.startsWith("/") || !p.isAbsolute()) {
        issues.add(field, quote(path) + " is not an absolute path");
      } else if (!p.normalize().toString().equals(p.toString())) {
        issues.add(field, quote(path) + " is not a normalized path (no '.', '..' or '//')");
      }
    } catch (InvalidPathException e) {
      issues.add(field, "is not a valid path");
    }
  }

  /**
   * An http(s) URL with a host and no user info, query, fragment or trailing slash. User info is
   * refused because it would put a credential into config.
   */
  static void httpUrl(Issues issues, String field, String url, boolean httpsOnly) {
    if (url.length() > MAX_URL_CHARS) {
      issues.add(field, "is longer than " + MAX_URL_CHARS + " characters");
      return;
    }
    URI uri;
    try {
      uri = new URI(url);
    } catch (URISyntaxException e) {
      // Not quoted: a malformed URL may still carry a credential.
      issues.add(field, "is not a valid URL");
      return;
    }
    if (uri.getRawUserInfo() != null) {
      issues.add(field, "must not contain user info (put credentials in a secret reference)");
      return;
    }
    if (uri.getRawQuery() != null || uri.getRawFragment() != null) {
      // Not quoted: queries often carry keys (?key=...).
      issues.add(field, "must not have a query or fragment (credentials go in secret references)");
      return;
    }
    String scheme = uri.getScheme();
    if (scheme == null
        || !(scheme.equals("https") || (!httpsOnly && scheme.equals("http")))
        || uri.isOpaque()) {
      issues.add(field, "must start with " + (httpsOnly ? "https://" : "http:// or https://"));
      return;
    }
    if (uri.getHost() == null || uri.getHost().isEmpty()) {
      issues.add(field, quote(url) + " has no valid host");
    } else if (url.endsWith("/")) {
      issues.add(field, quote(url) + " must not end with '/'");
    }
  }

  /**
   * The URL data planes fetch an issuer's JWKS from, judged as they judge it: an https URL with a
   * host, or an http one whose host is loopback ({@code localhost} or a loopback IP literal, never
   * resolved through DNS), because keys fetched in the clear could be swapped by anyone on the path
   * and then mint tokens for any consumer. User info is refused as in {@link #httpUrl}, and a
   * fragment because nothing is fetched for it; a query is allowed, unlike a base URL's, since some
   * issuers select keys with one (e.g. {@code ?appid=}) and nothing is appended to the URL.
   */
  static void jwksUri(Issues issues, String field, String url) {
    if (url.isEmpty()) {
      issues.add(field, "required");
      return;
    }
    if (url.length() > MAX_URL_CHARS) {
      issues.add(field, "is longer than " + MAX_URL_CHARS + " characters");
      return;
    }
    URI uri;
    try {
      uri = new URI(url);
    } catch (URISyntaxException e) {
      issues.add(field, "is not a valid URL");
      return;
    }
    if (uri.getRawUserInfo() != null) {
      issues.add(field, "must not contain user info");
      return;
    }
    if (uri.getRawFragment() != null) {
      issues.add(field, "must not have a fragment");
      return;
    }
    String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
    if (uri.isOpaque() || !(scheme.equals("https") || scheme.equals("http"))) {
      issues.add(field, "must start with https://");
      return;
    }
    if (uri.getHost() == null || uri.getHost().isEmpty()) {
      issues.add(field, quote(url) + " has no valid host");
      return;
    }
    if (scheme.equals("http") && !isLoopback(uri.getHost())) {
      issues.add(field, "must use https (http is allowed for loopback hosts only)");
    }
  }

  /**
   * Whether {@code host} is {@code localhost} or a loopback IP literal ({@code 127.0.0.0/8}, {@code
   * [::1]}), exactly as data planes decide it: IP literals only, no DNS lookup.
   */
  static boolean isLoopback(String host) {
    if (host.equalsIgnoreCase("localhost")) {
      return true;
    }
    String literal =
        host.startsWith("[") && host.endsWith("]") ? host.substring(1, host.length() - 1) : host;
    boolean ipLiteral = literal.matches("[0-9.]+") || literal.contains(":");
    if (!ipLiteral) {
      return false;
    }
    try {
      return InetAddress.getByName(literal).isLoopbackAddress();
    } catch (UnknownHostException e) {
      return false;
    }
  }

  /** A duration, when set, must be valid and positive, and at most {@code max}. */
  static void positiveDuration(Issues issues, String field, Duration d, java.time.Duration max) {
    if (!Durations.isValid(d)) {
      issues.add(field, "is not a valid duration");
    } else if (Durations.compare(d, Durations.ZERO) <= 0) {
      issues.add(field, Durations.toString(d) + " (expected: > 0s)");
    } else if (Durations.toNanos(d) > max.toNanos()) {
      issues.add(field, Durations.toString(d) + " (expected: at most " + max.toSeconds() + "s)");
    }
  }

  static void timestamp(Issues issues, String field, Timestamp t) {
    if (!Timestamps.isValid(t)) {
      issues.add(field, "is not a valid timestamp");
    }
  }

  static void range(Issues issues, String field, long value, long min, long max) {
    if (value < min || value > max) {
      issues.add(field, value + " (expected: " + min + " to " + max + ")");
    }
  }

  /** Reports each element of {@code values} that occurs earlier in the list too. */
  static <T> void unique(Issues issues, String field, List<T> values, String what) {
    Set<T> seen = new HashSet<>();
    for (int i = 0; i < values.size(); i++) {
      if (!seen.add(values.get(i))) {
        issues.add(field + "[" + i + "]", "duplicate " + what + " " + quote(String.valueOf(values.get(i))));
      }
    }
  }

  static void maxCount(Issues issues, String field, Collection<?> values, int max) {
    if (values.size() > max) {
      issues.add(field, "has " + values.size() + " entries (expected: at most " + max + ")");
    }
  }

  static int utf8Length(String s) {
    return s.getBytes(StandardCharsets.UTF_8).length;
  }

  /** Quotes a value for a message, shortened so messages stay small. */
  static String quote(String value) {
    String shown = value.length() > 80 ? value.substring(0, 77) + "..." : value;
    return "'" + shown + "'";
  }
}
