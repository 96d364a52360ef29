package dev.sluice.launcher;

import java.net.InetSocketAddress;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

/**
 * Reads a listen address: {@code HOST:PORT}, {@code [IPv6]:PORT}, or {@code :PORT} for all
 * interfaces. Port 0 picks a free port (the server prints the one it got).
 */
final class ListenAddress implements ITypeConverter<InetSocketAddress> {
  @Override
  public InetSocketAddress convert(String value) {
    return parse(value);
  }

  static InetSocketAddress parse(String value) {
    String text = value.trim();
    int colon = text.lastIndexOf(':');
    if (colon < 0) {
      throw new TypeConversionException(
          "'" + value + "' is not a listen address (expected: HOST:PORT or :PORT)");
    }
    String host = text.substring(0, colon);
    if (host.startsWith("[") && host.endsWith("]")) {
      host = host.substring(1, host.length() - 1);
    }
    int port;
    try {
      port = Integer.parseInt(text.substring(colon + 1));
    } catch (NumberFormatException e) {
      throw new TypeConversionException("'" + value + "': port is not a number");
    }
    if (port < 0 || port > 65535) {
      throw new TypeConversionException("'" + value + "': port " + port + " (expected: 0 to 65535)");
    }
    return host.isEmpty() || host.equals("*")
        ? new InetSocketAddress(port)
        : new InetSocketAddress(host, port);
  }

  /** {@code host:port} as a client would dial it; the wildcard address becomes 127.0.0.1. */
  static String dialable(InetSocketAddress address, int actualPort) {
    String host =
        address.getAddress() == null || address.getAddress().isAnyLocalAddress()
            ? "127.0.0.1"
            : address.getHostString();
    return (host.contains(":") ? "[" + host + "]" : host) + ":" + actualPort;
  }
}
