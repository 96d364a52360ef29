package dev.sluice.bench.internal;

import java.util.ArrayList;
import java.util.List;

/** A plain-text table with right-aligned columns (left-aligned first column), for summaries. */
public final class TextTable {
  private final List<String[]> rows = new ArrayList<>();
  private final int columns;

  private TextTable(String... header) {
    this.columns = header.length;
    rows.add(header);
  }

  /** A table with these column headers. */
  public static TextTable of(String... header) {
    return new TextTable(header);
  }

  /** Adds a row; missing cells are blank, extra cells are an error. */
  public TextTable row(Object... cells) {
    if (cells.length > columns) {
      throw new IllegalArgumentException(
          "cells: " + cells.length + " (expected: <= " + columns + ")");
    }
    String[] r = new String[columns];
    for (int i = 0; i < columns; i++) {
      r[i] = i < cells.length ? String.valueOf(cells[i]) : "";
    }
    rows.add(r);
    return this;
  }

  /** The table as aligned text, one line per row, a rule under the header. */
  public String render() {
    int[] width = new int[columns];
    for (String[] r : rows) {
      for (int i = 0; i < columns; i++) {
        width[i] = Math.max(width[i], r[i].length());
      }
    }
    StringBuilder sb = new StringBuilder();
    for (int n = 0; n < rows.size(); n++) {
      String[] r = rows.get(n);
      for (int i = 0; i < columns; i++) {
        if (i > 0) {
          sb.append("  ");
        }
        String pad = " ".repeat(width[i] - r[i].length());
        sb.append(i == 0 ? r[i] + pad : pad + r[i]);
      }
      sb.append('\n');
      if (n == 0) {
        for (int i = 0; i < columns; i++) {
          sb.append(i > 0 ? "  " : "").append("-".repeat(width[i]));
        }
        sb.append('\n');
      }
    }
    return sb.toString();
  }
}
