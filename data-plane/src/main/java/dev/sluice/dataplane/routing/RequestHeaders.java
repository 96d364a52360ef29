package dev.sluice.dataplane.routing;

import org.jspecify.annotations.Nullable;

/** The request's metadata as route matching and sticky routing read it. */
@FunctionalInterface
public interface RequestHeaders {
  /** No headers at all. */
  RequestHeaders NONE = name -> null;

  /** The value of the ASCII header {@code name} (lower case), or null when absent. */
  @Nullable String get(String name);
}
