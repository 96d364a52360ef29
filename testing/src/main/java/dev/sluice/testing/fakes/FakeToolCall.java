package dev.sluice.testing.fakes;

import static java.util.Objects.requireNonNull;

/**
 * A tool call a fake model makes.
 *
 * @param id the call id ({@code call_...} for OpenAI, {@code toolu_...} for Anthropic; Gemini has
 *     none on the wire unless set)
 * @param name the function name
 * @param arguments the arguments as JSON text, streamed in fragments
 */
public record FakeToolCall(String id, String name, String arguments) {
  public FakeToolCall {
    requireNonNull(id, "id");
    requireNonNull(name, "name");
    requireNonNull(arguments, "arguments");
  }

  public static FakeToolCall of(String id, String name, String arguments) {
    return new FakeToolCall(id, name, arguments);
  }
}
