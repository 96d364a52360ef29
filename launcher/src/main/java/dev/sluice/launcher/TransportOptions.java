package dev.sluice.launcher;

import java.net.InetAddress;
import java.net.URI;
import java.net.UnknownHostException;
import java.nio.file.Path;
import org.jspecify.annotations.Nullable;
import picocli.CommandLine.Option;

/**
 * How a client command connects: TLS or plaintext.
 *
 * <p>Without {@code --tls} or {@code --plaintext}, a server on a loopback address (localhost,
 * 127.0.0.0/8, ::1) is reached in plaintext, as {@code sluice dev} serves it, and any other
 * server with TLS, so that credentials never cross a network in clear text by accident.
 */
final class TransportOptions {
  @Option(
      names = "--tls",
      description = "Use TLS (the default for non-loopback servers).")
  boolean tls;

  @Option(
      names = "--plaintext",
      description = "Use plaintext (the default for loopback servers such as `sluice dev`).")
  boolean plaintext;

  @Option(
      names = "--ca-file",
      paramLabel = "PEM",
      description = "CA certificates to trust instead of the system's (implies --tls).")
  @Nullable Path caFile;

  /** Whether to connect to {@code target} without TLS. */
  boolean usePlaintext(String target) {
    if (tls && plaintext) {
      throw new IllegalArgumentException("--tls and --plaintext exclude each other");
    }
    if (plaintext) {
      return true;
    }
    if (tls || caFile != null) {
      return false;
    }
    return isLoopback(target);
  }

  static boolean isLoopback(String target) {
    String host = hostOf(target);
    if (host.equalsIgnoreCase("localhost")) {
      return true;
    }
    if (!host.matches("[0-9.]+") && !host.contains(":")) {
      return false; // a name other than localhost: don't resolve it just to decide
    }
    try {
      return InetAddress.getByName(host).isLoopbackAddress();
    } catch (UnknownHostException e) {
      return false;
    }
  }

  private static String hostOf(String target) {
    String authority = target;
    if (target.contains("://")) {
      URI uri = URI.create(target);
      authority = uri.getAuthority() != null ? uri.getAuthority() : uri.getPath().replaceFirst("^/", "");
    }
    if (authority.startsWith("[")) {
      int end = authority.indexOf(']');
      return end > 0 ? authority.substring(1, end) : authority;
    }
    int colon = authority.lastIndexOf(':');
    return colon >= 0 ? authority.substring(0, colon) : authority;
  }
}
