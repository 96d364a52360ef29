package dev.sluice.launcher;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class LineDiffTest {
  @Test
  void equalTextsHaveNoDiff() {
    assertThat(LineDiff.diff("a\nb\n", "a\nb\n")).isEmpty();
  }

  @Test
  void showsRemovedThenAddedLinesWithTwoLinesOfContext() {
    String before = "model:\n  name: m\n  a: 1\n  b: 2\n  c: 3\n  d: 4\n  e: 5\n";
    String after = "model:\n  name: m\n  a: 1\n  b: 2\n  c: 30\n  d: 4\n  e: 5\n";

    assertThat(LineDiff.diff(before, after))
        .containsExactly("    a: 1", "    b: 2", "-   c: 3", "+   c: 30", "    d: 4", "    e: 5");
  }

  @Test
  void marksSkippedUnchangedLines() {
    String before = "1\n2\n3\n4\n5\n6\n7\n8\n9\n";
    String after = "x\n2\n3\n4\n5\n6\n7\n8\ny\n";

    assertThat(LineDiff.diff(before, after))
        .containsExactly("- 1", "+ x", "  2", "  3", "  ...", "  7", "  8", "- 9", "+ y");
  }
}
