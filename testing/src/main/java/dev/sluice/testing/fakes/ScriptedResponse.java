package dev.sluice.testing.fakes;

import static java.util.Objects.requireNonNull;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * What a {@link ScriptedHttpServer} does with one request: the building block every fake
 * translates its provider-level replies into.
 */
sealed interface ScriptedResponse {
  /** A complete response with a {@code content-length} body. */
  record Full(int status, List<Map.Entry<String, String>> headers, byte[] body)
      implements ScriptedResponse {
    public Full {
      headers = List.copyOf(headers);
      requireNonNull(body, "body");
    }

    static Full json(int status, List<Map.Entry<String, String>> extraHeaders, String json) {
      List<Map.Entry<String, String>> headers = new ArrayList<>();
      headers.add(Map.entry("content-type", "application/json"));
      headers.addAll(extraHeaders);
      return new Full(status, headers, json.getBytes(StandardCharsets.UTF_8));
    }
  }

  /**
   * A response whose body is written step by step with chunked transfer encoding, each write
   * flushed on its own. Steps are pulled lazily, so a stream may be long.
   */
  record Streamed(int status, List<Map.Entry<String, String>> headers, Iterable<Step> steps)
      implements ScriptedResponse {
    public Streamed {
      headers = List.copyOf(headers);
      requireNonNull(steps, "steps");
    }
  }

  /** Reads the request and never answers: the connection stays open until the client leaves. */
  record Hang() implements ScriptedResponse {}

  /** Resets the connection (TCP RST) without any response. */
  record Reset() implements ScriptedResponse {}

  /** One step of a streamed body. */
  sealed interface Step {
    /** Bytes written as one HTTP chunk and flushed. */
    record Write(byte[] bytes) implements Step {}

    /** Waits before the next step. */
    record Pause(long nanos) implements Step {}

    /** Ends the body properly (the terminating zero-length chunk). */
    record End() implements Step {}

    /** Closes the connection (FIN) without ending the body. */
    record Close() implements Step {}

    /** Resets the connection (RST) without ending the body. */
    record Reset() implements Step {}

    /** Stops writing and leaves the connection open. */
    record Hang() implements Step {}

    static Write text(String text) {
      return new Write(text.getBytes(StandardCharsets.UTF_8));
    }
  }

  /** Concatenates step sources lazily. */
  static Iterable<Step> concat(List<Iterable<Step>> parts) {
    return () ->
        new Iterator<>() {
          private final Iterator<Iterable<Step>> outer = parts.iterator();
          private Iterator<Step> inner = java.util.Collections.emptyIterator();

          @Override
          public boolean hasNext() {
            while (!inner.hasNext() && outer.hasNext()) {
              inner = outer.next().iterator();
            }
            return inner.hasNext();
          }

          @Override
          public Step next() {
            if (!hasNext()) {
              throw new java.util.NoSuchElementException();
            }
            return inner.next();
          }
        };
  }
}
