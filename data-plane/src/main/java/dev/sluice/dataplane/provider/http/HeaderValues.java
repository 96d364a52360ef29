package dev.sluice.dataplane.provider.http;

/** Checks for header values that come from configuration or secrets. */
public final class HeaderValues {
  private HeaderValues() {}

  /**
   * Whether {@code value} may be sent as an HTTP header value: no line breaks or other control
   * characters except tab, so that a value can never inject a header or end the header block.
   */
  public static boolean isValid(CharSequence value) {
    for (int i = 0; i < value.length(); i++) {
      char c = value.charAt(i);
      if ((c < 0x20 && c != '\t') || c == 0x7f) {
        return false;
      }
    }
    return true;
  }

  /** Whether {@code name} is a valid HTTP header name (an RFC 9110 token). */
  public static boolean isValidName(CharSequence name) {
    if (name.length() == 0) {
      return false;
    }
    for (int i = 0; i < name.length(); i++) {
      char c = name.charAt(i);
      boolean token =
          (c >= 'a' && c <= 'z')
              || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9')
              || "!#$%&'*+-.^_`|~".indexOf(c) >= 0;
      if (!token) {
        return false;
      }
    }
    return true;
  }
}
