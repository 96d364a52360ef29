package dev.sluice.launcher;

import java.util.ArrayList;
import java.util.List;

/**
 * A line diff of two small texts (rendered resources), in the style of {@code diff -u} without
 * the hunk headers: changed lines with {@code -}/{@code +}, unchanged ones with two spaces, and
 * only {@value #CONTEXT} unchanged lines kept around each change.
 *
 * <p>It is the textbook longest-common-subsequence table, quadratic in the number of lines; fine
 * for config resources (at most a few hundred lines each), not for arbitrary files.
 */
final class LineDiff {
  static final int CONTEXT = 2;
  private static final int MAX_CELLS = 4_000_000;

  private LineDiff() {}

  /** The diff of {@code before} and {@code after}; empty when they are equal. */
  static List<String> diff(String before, String after) {
    String[] a = before.split("\n", -1);
    String[] b = after.split("\n", -1);
    if ((long) a.length * b.length > MAX_CELLS) {
      return List.of("  (too large to diff: " + a.length + " and " + b.length + " lines)");
    }
    int[][] lcs = new int[a.length + 1][b.length + 1];
    for (int i = a.length - 1; i >= 0; i--) {
      for (int j = b.length - 1; j >= 0; j--) {
        lcs[i][j] = a[i].equals(b[j]) ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
      }
    }
    List<String> all = new ArrayList<>();
    int i = 0;
    int j = 0;
    while (i < a.length || j < b.length) {
      if (i < a.length && j < b.length && a[i].equals(b[j])) {
        all.add("  " + a[i++]);
        j++;
      } else if (j < b.length && (i == a.length || lcs[i][j + 1] > lcs[i + 1][j])) {
        all.add("+ " + b[j++]);
      } else {
        all.add("- " + a[i++]);
      }
    }
    // Drop the empty line that a trailing newline leaves at the end of both texts.
    if (!all.isEmpty() && all.get(all.size() - 1).equals("  ")) {
      all.remove(all.size() - 1);
    }
    return withContext(all);
  }

  private static List<String> withContext(List<String> lines) {
    boolean[] keep = new boolean[lines.size()];
    boolean changed = false;
    for (int k = 0; k < lines.size(); k++) {
      if (!lines.get(k).startsWith("  ")) {
        changed = true;
        for (int c = Math.max(0, k - CONTEXT); c <= Math.min(lines.size() - 1, k + CONTEXT); c++) {
          keep[c] = true;
        }
      }
    }
    if (!changed) {
      return List.of();
    }
    List<String> result = new ArrayList<>();
    boolean skipped = false;
    for (int k = 0; k < lines.size(); k++) {
      if (keep[k]) {
        if (skipped && !result.isEmpty()) {
          result.add("  ...");
        }
        result.add(lines.get(k));
        skipped = false;
      } else {
        skipped = true;
      }
    }
    return result;
  }
}
