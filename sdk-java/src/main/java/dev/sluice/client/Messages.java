package dev.sluice.client;

import static java.util.Objects.requireNonNull;

import dev.sluice.inference.v1.ChatMessage;
import dev.sluice.inference.v1.ContentPart;
import dev.sluice.inference.v1.Role;

/**
 * Shortcuts for the common one-text-part chat messages, which are verbose to build with the
 * generated builders.
 */
public final class Messages {
  private Messages() {}

  /** A user message with one text part. */
  public static ChatMessage user(String text) {
    return text(Role.ROLE_USER, text);
  }

  /** An assistant message with one text part, for replaying earlier turns. */
  public static ChatMessage assistant(String text) {
    return text(Role.ROLE_ASSISTANT, text);
  }

  /** A system message with one text part. */
  public static ChatMessage system(String text) {
    return text(Role.ROLE_SYSTEM, text);
  }

  private static ChatMessage text(Role role, String text) {
    requireNonNull(text, "text");
    return ChatMessage.newBuilder()
        .setRole(role)
        .addParts(ContentPart.newBuilder().setText(text))
        .build();
  }
}
