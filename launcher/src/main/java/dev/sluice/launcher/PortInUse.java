package dev.sluice.launcher;

import io.netty.channel.unix.Errors;
import java.net.BindException;
import java.net.InetSocketAddress;

/** Turns a server start failure caused by a taken port into a message that says what to do. */
final class PortInUse {
  private PortInUse() {}

  /**
   * {@code failure} itself, unless a taken address caused it: then a {@link
   * CommandFailure} naming the address and the flag that changes it.
   */
  static RuntimeException explain(Exception failure, InetSocketAddress address, String flag) {
    for (Throwable t = failure; t != null; t = t.getCause()) {
      if (t instanceof BindException || isNativeAddressInUse(t)) {
        return new CommandFailure(
            "cannot listen on "
                + address.getHostString()
                + ":"
                + address.getPort()
                + " ("
                + t.getMessage()
                + "); is another Sluice running? Choose another address with "
                + flag,
            failure);
      }
    }
    return failure instanceof RuntimeException runtime
        ? runtime
        : new CommandFailure("failed to start: " + failure.getMessage(), failure);
  }

  /**
   * Netty's native epoll transport reports a taken port as its own {@code NativeIoException}
   * ("bind(..) failed: Address already in use"), not as a {@link BindException}.
   */
  private static boolean isNativeAddressInUse(Throwable t) {
    return t instanceof Errors.NativeIoException
        && t.getMessage() != null
        && t.getMessage().contains("Address already in use");
  }
}
