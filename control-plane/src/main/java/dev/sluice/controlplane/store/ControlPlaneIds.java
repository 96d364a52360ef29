package dev.sluice.controlplane.store;

import static java.util.Objects.requireNonNull;

import java.util.regex.Pattern;

/**
 * The one rule for control-plane replica ids, shared by the replica's settings and the stores that
 * key fleet-status records by id (an etcd key segment must not contain {@code /}).
 */
public final class ControlPlaneIds {
  private static final Pattern ID = Pattern.compile("[A-Za-z0-9._:-]{1,128}");

  private ControlPlaneIds() {}

  /** Whether {@code id} is a well-formed replica id. */
  public static boolean isValid(String id) {
    return ID.matcher(id).matches();
  }

  /**
   * Returns {@code id} if it is well-formed.
   *
   * @throws IllegalArgumentException otherwise
   */
  public static String check(String id) {
    requireNonNull(id, "controlPlaneId");
    if (!isValid(id)) {
      throw new IllegalArgumentException(
          "controlPlaneId: " + id + " (expected: 1 to 128 characters from [A-Za-z0-9._:-])");
    }
    return id;
  }
}
