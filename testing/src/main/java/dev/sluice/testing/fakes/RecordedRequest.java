package dev.sluice.testing.fakes;

import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.List;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * A request a fake server received, as it arrived.
 *
 * @param method the HTTP method, e.g. {@code POST}
 * @param path the path without the query, e.g. {@code /v1/chat/completions}
 * @param query the raw query string without {@code ?}, empty when none
 * @param headers header names in lower case to their values in order
 * @param body the body as UTF-8 text
 * @param json the body parsed as JSON, or null when it is not JSON
 * @param connectionId which connection it came on (1 for the server's first connection, ...), so
 *     tests can check that connections are reused
 */
public record RecordedRequest(
    String method,
    String path,
    String query,
    Map<String, List<String>> headers,
    String body,
    @Nullable JsonNode json,
    int connectionId) {
  public RecordedRequest {
    requireNonNull(method, "method");
    requireNonNull(path, "path");
    requireNonNull(query, "query");
    headers = Map.copyOf(headers);
    requireNonNull(body, "body");
  }

  /** The first value of header {@code name} (any case), or null. */
  public @Nullable String header(String name) {
    List<String> values = headers.get(name.toLowerCase(java.util.Locale.ROOT));
    return values == null || values.isEmpty() ? null : values.get(0);
  }

  /** The parsed JSON body; fails when the body was not JSON. */
  public JsonNode jsonBody() {
    if (json == null) {
      throw new IllegalStateException("request body is not JSON");
    }
    return json;
  }
}
