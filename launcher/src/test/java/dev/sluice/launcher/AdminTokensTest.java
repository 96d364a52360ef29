package dev.sluice.launcher;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class AdminTokensTest {
  @Test
  void aBareTokenBelongsToThePrincipalAdmin() {
    assertThat(AdminTokens.parse("0123456789abcdef0123\n", "env"))
        .containsExactly(java.util.Map.entry("admin", "0123456789abcdef0123"));
  }

  @Test
  void namedTokensSkipBlankAndCommentLines() {
    String file = "# operators\nalice:aaaaaaaaaaaaaaaaaaaa\n\nci-bot: bbbbbbbbbbbbbbbbbbbb\n";

    assertThat(AdminTokens.parse(file, "tokens.txt"))
        .containsEntry("alice", "aaaaaaaaaaaaaaaaaaaa")
        .containsEntry("ci-bot", "bbbbbbbbbbbbbbbbbbbb")
        .hasSize(2);
  }

  @Test
  void rejectsAShortTokenWithoutShowingIt() {
    assertThatThrownBy(() -> AdminTokens.parse("alice:short-secret", "tokens.txt"))
        .isInstanceOf(CommandFailure.class)
        .hasMessageContaining("tokens.txt line 1")
        .hasMessageContaining("at least 16")
        .satisfies(e -> assertThat(e.getMessage()).doesNotContain("short-secret"));
  }

  @Test
  void rejectsAPrincipalGivenTwice() {
    assertThatThrownBy(
            () -> AdminTokens.parse("a:aaaaaaaaaaaaaaaaaaaa\na:bbbbbbbbbbbbbbbbbbbb", "f"))
        .hasMessageContaining("f line 2: principal a is given twice");
  }

  @Test
  void rejectsAFileWithoutTokens() {
    assertThatThrownBy(() -> AdminTokens.parse("# nothing\n", "f"))
        .hasMessage("f holds no admin token");
  }
}
