package dev.sluice.dataplane.routing;

import dev.sluice.config.v1.HeaderMatch;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;
import org.jspecify.annotations.Nullable;

/** A compiled {@link HeaderMatch}. */
final class HeaderCondition {
  private final String name;
  private final HeaderMatch.ValueMatchCase kind;
  private final String value;
  private final @Nullable Pattern regex;

  private HeaderCondition(
      String name, HeaderMatch.ValueMatchCase kind, String value, @Nullable Pattern regex) {
    this.name = name;
    this.kind = kind;
    this.value = value;
    this.regex = regex;
  }

  /**
   * Compiles {@code match}. Regular expressions are RE2 in the API and run on {@link
   * java.util.regex}, which accepts every RE2 expression operators write in practice.
   *
   * @throws IllegalArgumentException when the regular expression does not compile
   */
  static HeaderCondition of(HeaderMatch match, String where) {
    switch (match.getValueMatchCase()) {
      case EXACT:
        return new HeaderCondition(
            match.getName(), match.getValueMatchCase(), match.getExact(), null);
      case PREFIX:
        return new HeaderCondition(
            match.getName(), match.getValueMatchCase(), match.getPrefix(), null);
      case REGEX:
        try {
          return new HeaderCondition(
              match.getName(),
              match.getValueMatchCase(),
              match.getRegex(),
              Pattern.compile(match.getRegex()));
        } catch (PatternSyntaxException e) {
          throw new IllegalArgumentException(
              where + ".regex: invalid regular expression (" + e.getDescription() + ")", e);
        }
      default:
        return new HeaderCondition(match.getName(), match.getValueMatchCase(), "", null);
    }
  }

  boolean matches(RequestHeaders headers) {
    String actual = headers.get(name);
    if (actual == null) {
      return false;
    }
    switch (kind) {
      case EXACT:
        return actual.equals(value);
      case PREFIX:
        return actual.startsWith(value);
      case REGEX:
        return regex != null && regex.matcher(actual).matches();
      default:
        return true;
    }
  }
}
