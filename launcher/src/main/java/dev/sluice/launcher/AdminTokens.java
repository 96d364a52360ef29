package dev.sluice.launcher;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Parses the admin credentials a control plane accepts, as given in a token file or the {@code
 * SLUICE_ADMIN_TOKEN} variable: one {@code NAME:TOKEN} per line, where NAME is the principal
 * recorded in history, or a single bare {@code TOKEN} for the principal {@code admin}. Blank lines
 * and lines starting with {@code #} are ignored.
 *
 * <p>Error messages name the line, never the token.
 */
final class AdminTokens {
  static final int MIN_TOKEN_LENGTH = 16;

  private AdminTokens() {}

  static Map<String, String> parse(String content, String source) {
    Map<String, String> tokens = new LinkedHashMap<>();
    String[] lines = content.split("\\R");
    for (int i = 0; i < lines.length; i++) {
      String line = lines[i].strip();
      if (line.isEmpty() || line.startsWith("#")) {
        continue;
      }
      int colon = line.indexOf(':');
      String principal = colon < 0 ? "admin" : line.substring(0, colon).strip();
      String token = colon < 0 ? line : line.substring(colon + 1).strip();
      String where = source + " line " + (i + 1);
      if (!principal.matches("[A-Za-z0-9._@-]{1,64}")) {
        throw new CommandFailure(
            where + ": principal name must be 1 to 64 characters from [A-Za-z0-9._@-]");
      }
      if (token.length() < MIN_TOKEN_LENGTH || !token.chars().allMatch(c -> c > ' ' && c < 0x7f)) {
        throw new CommandFailure(
            where
                + ": token of "
                + principal
                + " must be at least "
                + MIN_TOKEN_LENGTH
                + " printable ASCII characters without spaces");
      }
      if (tokens.containsValue(token)) {
        throw new CommandFailure(where + ": the same token is given for two principals");
      }
      if (tokens.put(principal, token) != null) {
        throw new CommandFailure(where + ": principal " + principal + " is given twice");
      }
    }
    if (tokens.isEmpty()) {
      throw new CommandFailure(source + " holds no admin token");
    }
    return tokens;
  }
}
