package dev.sluice.launcher;

import dev.sluice.admin.v1.ChangeType;

/** The one-character marks for change types: {@code + ~ - =}, as in diff summaries. */
final class DiffSymbols {
  private DiffSymbols() {}

  static String symbol(ChangeType type) {
    return switch (type) {
      case CHANGE_TYPE_ADDED -> "+";
      case CHANGE_TYPE_MODIFIED -> "~";
      case CHANGE_TYPE_DELETED -> "-";
      case CHANGE_TYPE_UNCHANGED -> "=";
      case CHANGE_TYPE_UNSPECIFIED, UNRECOGNIZED -> "?";
    };
  }
}
