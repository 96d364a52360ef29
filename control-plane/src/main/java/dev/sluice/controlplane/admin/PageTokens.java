package dev.sluice.controlplane.admin;

import static java.nio.charset.StandardCharsets.UTF_8;

import com.google.common.base.Splitter;
import com.google.common.hash.Hashing;
import dev.sluice.grpc.ApiException;
import java.util.Base64;
import java.util.List;

/**
 * Opaque page tokens: base64url of {@code <tag>|<filter hash>|<parts...>}. The filter hash ties a
 * token to the filters of the request that produced it, so a token replayed with other filters
 * is rejected instead of silently returning a wrong page. Parts never contain {@code |} (they are
 * numbers, resource names or node ids).
 */
final class PageTokens {
  private PageTokens() {}

  static String encode(String tag, String filters, String... parts) {
    String raw = tag + "|" + filterHash(filters) + "|" + String.join("|", parts);
    return Base64.getUrlEncoder().withoutPadding().encodeToString(raw.getBytes(UTF_8));
  }

  /** The parts of {@code token}; throws INVALID_ARGUMENT if it is not a token of this kind. */
  static List<String> decode(String token, String tag, String filters, int partCount) {
    try {
      String raw = new String(Base64.getUrlDecoder().decode(token), UTF_8);
      List<String> fields = Splitter.on('|').splitToList(raw);
      if (fields.size() != partCount + 2 || !fields.get(0).equals(tag)) {
        throw malformed();
      }
      if (!fields.get(1).equals(filterHash(filters))) {
        throw ApiException.invalidArgument(
            "page_token", "does not match this request's filters; start the listing again");
      }
      return fields.subList(2, fields.size());
    } catch (IllegalArgumentException e) {
      throw malformed();
    }
  }

  static long parseLong(String value) {
    try {
      return Long.parseLong(value);
    } catch (NumberFormatException e) {
      throw malformed();
    }
  }

  private static ApiException malformed() {
    return ApiException.invalidArgument("page_token", "malformed; use next_page_token as returned");
  }

  private static String filterHash(String filters) {
    return Hashing.sha256().hashString(filters, UTF_8).toString().substring(0, 16);
  }
}
