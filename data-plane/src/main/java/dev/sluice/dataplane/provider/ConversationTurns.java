package dev.sluice.dataplane.provider;

import static java.util.Objects.requireNonNull;

import com.google.common.collect.ImmutableList;
import dev.sluice.inference.v1.ChatMessage;
import dev.sluice.inference.v1.ChatRequest;
import dev.sluice.inference.v1.ContentPart;
import java.util.ArrayList;
import java.util.List;

/**
 * A chat request reshaped for providers whose conversations alternate between two roles and keep
 * instructions apart (Anthropic Messages, Gemini contents): system and developer messages become
 * instruction parts, and consecutive messages of the same role merge into one turn. Tool results
 * travel in user turns, as both providers expect.
 *
 * <p>Reasoning parts without a signature are dropped: they came from another provider (or were
 * summaries) and the target cannot accept them back.
 *
 * @param instructions text parts of system and developer messages, in order (ChatRequest's own
 *     {@code instructions} are not included)
 * @param turns the merged turns, none empty
 */
public record ConversationTurns(ImmutableList<ContentPart> instructions, ImmutableList<Turn> turns) {
  public ConversationTurns {
    requireNonNull(instructions, "instructions");
    requireNonNull(turns, "turns");
  }

  /**
   * One turn: a role and its parts, each with the request path it came from (for error messages
   * such as {@code messages[3].parts[0]}).
   */
  public record Turn(String role, ImmutableList<ContentPart> parts, ImmutableList<String> paths) {}

  /**
   * Groups {@code request}'s messages.
   *
   * @param assistantRole the provider's name for the model's role ({@code assistant}, {@code model})
   * @param backend the backend name, for the {@code BAD_REQUEST} failure of a malformed message
   * @throws UpstreamException BAD_REQUEST for a message without a role, or a system message with
   *     non-text parts
   */
  public static ConversationTurns of(ChatRequest request, String assistantRole, String backend) {
    List<ContentPart> instructions = new ArrayList<>();
    List<String> roles = new ArrayList<>();
    List<List<ContentPart>> parts = new ArrayList<>();
    List<List<String>> paths = new ArrayList<>();
    for (int m = 0; m < request.getMessagesCount(); m++) {
      ChatMessage message = request.getMessages(m);
      String role =
          switch (message.getRole()) {
            case ROLE_SYSTEM, ROLE_DEVELOPER -> null;
            case ROLE_USER, ROLE_TOOL -> "user";
            case ROLE_ASSISTANT -> assistantRole;
            default -> throw badRequest(backend, "messages[" + m + "].role: unspecified");
          };
      if (role == null) {
        for (int p = 0; p < message.getPartsCount(); p++) {
          if (!message.getParts(p).hasText()) {
            throw badRequest(
                backend, "messages[" + m + "].parts[" + p + "]: system messages take text only");
          }
          instructions.add(message.getParts(p));
        }
        continue;
      }
      if (roles.isEmpty() || !roles.get(roles.size() - 1).equals(role)) {
        roles.add(role);
        parts.add(new ArrayList<>());
        paths.add(new ArrayList<>());
      }
      for (int p = 0; p < message.getPartsCount(); p++) {
        ContentPart part = message.getParts(p);
        if (part.hasReasoning() && part.getSignature().isEmpty()) {
          continue;
        }
        parts.get(parts.size() - 1).add(part);
        paths.get(paths.size() - 1).add("messages[" + m + "].parts[" + p + "]");
      }
    }
    ImmutableList.Builder<Turn> turns = ImmutableList.builder();
    for (int i = 0; i < roles.size(); i++) {
      if (!parts.get(i).isEmpty()) {
        turns.add(
            new Turn(roles.get(i), ImmutableList.copyOf(parts.get(i)), ImmutableList.copyOf(paths.get(i))));
      }
    }
    return new ConversationTurns(ImmutableList.copyOf(instructions), turns.build());
  }

  private static UpstreamException badRequest(String backend, String message) {
    return new UpstreamException(UpstreamFailure.BAD_REQUEST, backend, 0, null, message, null);
  }
}
