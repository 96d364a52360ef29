package dev.sluice.dataplane;

import io.netty.channel.Channel;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.ServerChannel;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;

/**
 * The socket I/O a data plane's event loops use, for the inference server and for every upstream
 * and control-plane connection alike (they share the loops, so they must share the transport).
 *
 * <p>{@link #EPOLL}, Netty's native Linux transport, is the default where it loads: a streamed
 * token costs one upstream read and one client write, and on the per-token path NIO's selector
 * (a selected-key set per wake-up, a JDK {@code SocketChannel} per read and write) costs
 * noticeably more CPU than edge-triggered epoll with direct {@code read}/{@code writev}; see
 * docs/benchmarks.md for the measured difference. {@link #NIO} runs everywhere and is the
 * fallback.
 */
public enum IoTransport {
  /** Java NIO: portable. */
  NIO {
    @Override
    IoHandlerFactory ioHandlerFactory() {
      return NioIoHandler.newFactory();
    }

    @Override
    Class<? extends ServerChannel> serverChannelType() {
      return NioServerSocketChannel.class;
    }

    @Override
    Class<? extends Channel> socketChannelType() {
      return NioSocketChannel.class;
    }
  },

  /** Netty's native epoll transport (Linux x86_64 and aarch64). */
  EPOLL {
    @Override
    IoHandlerFactory ioHandlerFactory() {
      return EpollIoHandler.newFactory();
    }

    @Override
    Class<? extends ServerChannel> serverChannelType() {
      return EpollServerSocketChannel.class;
    }

    @Override
    Class<? extends Channel> socketChannelType() {
      return EpollSocketChannel.class;
    }
  };

  /** {@link #EPOLL} where its native library loads on this machine, else {@link #NIO}. */
  public static IoTransport best() {
    return Epoll.isAvailable() ? EPOLL : NIO;
  }

  /** Whether this transport can run here. */
  public boolean isAvailable() {
    return this == NIO || Epoll.isAvailable();
  }

  abstract IoHandlerFactory ioHandlerFactory();

  abstract Class<? extends ServerChannel> serverChannelType();

  abstract Class<? extends Channel> socketChannelType();
}
