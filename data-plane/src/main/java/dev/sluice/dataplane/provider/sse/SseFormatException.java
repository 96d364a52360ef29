package dev.sluice.dataplane.provider.sse;

/**
 * An event stream broke a limit the decoder enforces (a line or an event larger than allowed).
 * The message is safe to show: it never contains stream content.
 */
public final class SseFormatException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  SseFormatException(String message) {
    super(message);
  }
}
