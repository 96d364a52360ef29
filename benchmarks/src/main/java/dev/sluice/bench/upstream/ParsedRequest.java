package dev.sluice.bench.upstream;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import java.io.IOException;
import java.io.InputStream;

/**
 * The few fields of an OpenAI request body the fake needs, read with Jackson's streaming parser (no
 * tree, no binding): everything else is skipped.
 *
 * @param model the {@code model} field, or {@code "mock-model"}
 * @param stream whether SSE was asked for
 * @param maxTokens {@code max_completion_tokens}, else {@code max_tokens}, else 0 (not set)
 * @param includeUsage {@code stream_options.include_usage}
 * @param inputs number of embedding inputs (1 for a string)
 */
record ParsedRequest(
    String model, boolean stream, int maxTokens, boolean includeUsage, int inputs) {
  private static final JsonFactory JSON = new JsonFactory();

  static ParsedRequest parse(InputStream body) throws IOException {
    String model = "mock-model";
    boolean stream = false;
    int maxTokens = 0;
    int maxCompletion = 0;
    boolean includeUsage = false;
    int inputs = 1;
    try (JsonParser p = JSON.createParser(body)) {
      if (p.nextToken() != JsonToken.START_OBJECT) {
        throw new IOException("request body is not a JSON object");
      }
      while (p.nextToken() == JsonToken.FIELD_NAME) {
        String name = p.currentName();
        JsonToken t = p.nextToken();
        switch (name) {
          case "model" -> model = t == JsonToken.VALUE_STRING ? p.getText() : model;
          case "stream" -> stream = t == JsonToken.VALUE_TRUE;
          case "max_tokens" -> maxTokens = t == JsonToken.VALUE_NUMBER_INT ? p.getIntValue() : 0;
          case "max_completion_tokens" ->
              maxCompletion = t == JsonToken.VALUE_NUMBER_INT ? p.getIntValue() : 0;
          case "stream_options" -> includeUsage = includeUsage(p, t);
          case "input" -> inputs = t == JsonToken.START_ARRAY ? countArray(p) : 1;
          default -> p.skipChildren();
        }
      }
    }
    return new ParsedRequest(
        model, stream, maxCompletion > 0 ? maxCompletion : maxTokens, includeUsage, inputs);
  }

  private static boolean includeUsage(JsonParser p, JsonToken t) throws IOException {
    if (t != JsonToken.START_OBJECT) {
      p.skipChildren();
      return false;
    }
    boolean include = false;
    while (p.nextToken() == JsonToken.FIELD_NAME) {
      String name = p.currentName();
      JsonToken v = p.nextToken();
      if (name.equals("include_usage")) {
        include = v == JsonToken.VALUE_TRUE;
      } else {
        p.skipChildren();
      }
    }
    return include;
  }

  private static int countArray(JsonParser p) throws IOException {
    int n = 0;
    while (p.nextToken() != JsonToken.END_ARRAY) {
      p.skipChildren();
      n++;
    }
    return n;
  }
}
