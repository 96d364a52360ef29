package dev.sluice.integration.controlplane;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A loopback TCP proxy that stands in for the network between one control-plane replica and etcd:
 * {@link #cut()} resets every connection and refuses new ones until {@link #heal()}. A partition
 * of one replica, without root or network namespaces, while etcd itself stays up for the others.
 */
final class TcpProxy implements AutoCloseable {
  private static final AtomicInteger THREADS = new AtomicInteger();

  private final InetSocketAddress target;
  private final ServerSocket server;
  private final Set<Socket> sockets = ConcurrentHashMap.newKeySet();
  private final Thread acceptor;
  private volatile boolean cut;
  private volatile boolean closed;

  private TcpProxy(URI target) throws IOException {
    this.target = new InetSocketAddress(target.getHost(), target.getPort());
    this.server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
    this.acceptor = daemon(this::acceptLoop, "accept");
    acceptor.start();
  }

  /** A running proxy to {@code target}, an {@code http://host:port} URL. */
  static TcpProxy to(URI target) throws IOException {
    return new TcpProxy(target);
  }

  /** Where clients connect instead of the target. */
  URI endpoint() {
    return URI.create("http://127.0.0.1:" + server.getLocalPort());
  }

  /** Resets every open connection and refuses new ones. */
  void cut() {
    cut = true;
    sockets.forEach(TcpProxy::closeQuietly);
    sockets.clear();
  }

  /** Forwards new connections again. */
  void heal() {
    cut = false;
  }

  @Override
  public void close() {
    closed = true;
    closeQuietly(server);
    cut();
    try {
      acceptor.join(5_000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private void acceptLoop() {
    while (!closed) {
      Socket client;
      try {
        client = server.accept();
      } catch (IOException e) {
        return; // closed
      }
      if (cut) {
        closeQuietly(client);
        continue;
      }
      Socket upstream = new Socket();
      try {
        upstream.connect(target, 5_000);
      } catch (IOException e) {
        closeQuietly(client);
        closeQuietly(upstream);
        continue;
      }
      sockets.add(client);
      sockets.add(upstream);
      daemon(() -> pump(client, upstream), "up").start();
      daemon(() -> pump(upstream, client), "down").start();
    }
  }

  private void pump(Socket from, Socket to) {
    byte[] buffer = new byte[16 * 1024];
    try (InputStream in = from.getInputStream();
        OutputStream out = to.getOutputStream()) {
      int n;
      while ((n = in.read(buffer)) >= 0) {
        out.write(buffer, 0, n);
        out.flush();
      }
    } catch (IOException e) {
      // One side went away, or was cut; both are closed below.
    } finally {
      closeQuietly(from);
      closeQuietly(to);
      sockets.remove(from);
      sockets.remove(to);
    }
  }

  private static Thread daemon(Runnable task, String role) {
    Thread thread = new Thread(task, "cp-it-tcp-proxy-" + role + "-" + THREADS.incrementAndGet());
    thread.setDaemon(true);
    return thread;
  }

  private static void closeQuietly(AutoCloseable closeable) {
    try {
      closeable.close();
    } catch (Exception ignored) {
      // Best effort: the socket is gone either way.
    }
  }
}
