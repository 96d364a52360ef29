package dev.sluice.controlplane.config;

import static java.util.Objects.requireNonNull;

import org.jspecify.annotations.Nullable;

/**
 * A config file that cannot be read: its message names the file, the document (1-based) and its
 * first line, and what is wrong, for example {@code config-samples/dev.yaml: document 3 (line
 * 24): Cannot find field: tokensPerSecnd in message sluice.config.v1.MockSettings}.
 */
public final class ConfigDocumentException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  private final String source;
  private final int document;
  private final int line;

  ConfigDocumentException(
      String source, int document, int line, String problem, @Nullable Throwable cause) {
    super(describe(source, document, line, problem), cause);
    this.source = requireNonNull(source, "source");
    this.document = document;
    this.line = line;
  }

  private static String describe(String source, int document, int line, String problem) {
    StringBuilder b = new StringBuilder(source);
    if (document > 0) {
      b.append(": document ").append(document);
      if (line > 0) {
        b.append(" (line ").append(line).append(')');
      }
    }
    return b.append(": ").append(problem).toString();
  }

  /** The file (as given) or source name. */
  public String source() {
    return source;
  }

  /** The 1-based document number; 0 when the problem is not in one document. */
  public int document() {
    return document;
  }

  /** The line the document starts on; 0 if unknown. */
  public int line() {
    return line;
  }
}
