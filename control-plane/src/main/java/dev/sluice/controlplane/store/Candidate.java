package dev.sluice.controlplane.store;

import static com.google.common.base.Preconditions.checkArgument;
import static java.util.Objects.requireNonNull;

import com.google.common.net.HostAndPort;

/**
 * A control-plane replica as the other replicas reach it: its id and the {@code HOST:PORT} it
 * advertises for the discovery API. It is what a replica stands in an election with, and what the
 * others learn about the winner, so that they can forward calls to it.
 *
 * @param controlPlaneId the replica's id (see {@link ControlPlaneIds})
 * @param address {@code HOST:PORT} (a name, an IPv4 address, or an IPv6 address in brackets) at
 *     which every other replica can open a gRPC channel to this one
 */
public record Candidate(String controlPlaneId, String address) {
  /** Longest address accepted: a DNS name (253) plus a port. */
  private static final int MAX_ADDRESS_LENGTH = 260;

  public Candidate {
    ControlPlaneIds.check(controlPlaneId);
    checkAddress(address);
  }

  /**
   * Returns {@code address} if it is a {@code HOST:PORT} with a port in 1..65535.
   *
   * @throws IllegalArgumentException otherwise
   */
  public static String checkAddress(String address) {
    requireNonNull(address, "address");
    checkArgument(
        !address.isEmpty()
            && address.length() <= MAX_ADDRESS_LENGTH
            && address.strip().equals(address)
            && address.indexOf('@') < 0,
        "address: %s (expected: HOST:PORT)",
        address);
    HostAndPort parsed;
    try {
      parsed = HostAndPort.fromString(address);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("address: " + address + " (expected: HOST:PORT)", e);
    }
    checkArgument(
        parsed.hasPort() && !parsed.getHost().isEmpty() && parsed.getPort() > 0,
        "address: %s (expected: HOST:PORT with a port in 1..65535)",
        address);
    return address;
  }

  @Override
  public String toString() {
    return controlPlaneId + "@" + address;
  }
}
