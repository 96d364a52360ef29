package dev.sluice.dataplane.provider.http;

import static java.util.Objects.requireNonNull;

import java.net.URI;
import java.net.URISyntaxException;

/**
 * A backend's base URL taken apart: {@code https://api.openai.com/v1} is scheme {@code https},
 * host {@code api.openai.com}, port 443 and path prefix {@code /v1}, to which adapters append
 * their endpoint paths.
 *
 * @param tls whether the scheme is https
 * @param host the host name or IP literal (without brackets)
 * @param port the explicit port, or the scheme's default
 * @param pathPrefix the path without a trailing slash; empty for the root
 */
public record BaseUrl(boolean tls, String host, int port, String pathPrefix) {
  public BaseUrl {
    requireNonNull(host, "host");
    requireNonNull(pathPrefix, "pathPrefix");
  }

  /**
   * Parses {@code url}, which must be an absolute http or https URL without query, fragment or
   * user info.
   *
   * @throws IllegalArgumentException with a message naming what is wrong (never a secret: base
   *     URLs are configuration, not credentials)
   */
  public static BaseUrl parse(String url) {
    URI uri;
    try {
      uri = new URI(url);
    } catch (URISyntaxException e) {
      throw new IllegalArgumentException("base_url: not a valid URL", e);
    }
    String scheme = uri.getScheme();
    boolean tls;
    if ("https".equalsIgnoreCase(scheme)) {
      tls = true;
    } else if ("http".equalsIgnoreCase(scheme)) {
      tls = false;
    } else {
      throw new IllegalArgumentException("base_url: scheme " + scheme + " (expected: http or https)");
    }
    String host = uri.getHost();
    if (host == null || host.isEmpty()) {
      throw new IllegalArgumentException("base_url: no host");
    }
    if (uri.getRawUserInfo() != null || uri.getRawQuery() != null || uri.getRawFragment() != null) {
      throw new IllegalArgumentException("base_url: must not have user info, query or fragment");
    }
    if (host.startsWith("[") && host.endsWith("]")) {
      host = host.substring(1, host.length() - 1);
    }
    int port = uri.getPort() > 0 ? uri.getPort() : tls ? 443 : 80;
    String path = uri.getRawPath() == null ? "" : uri.getRawPath();
    while (path.endsWith("/")) {
      path = path.substring(0, path.length() - 1);
    }
    return new BaseUrl(tls, host, port, path);
  }
}
