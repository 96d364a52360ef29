package dev.sluice.testing.net;

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
 * A loopback TCP proxy that can cut the network between a client and a server: {@link #cut()}
 * resets every connection and refuses new ones until {@link #heal()}. It stands in for a network
 * partition (between a control-plane replica and etcd, say) without root or network namespaces.
 */
public final class TcpProxy implements AutoCloseable {
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

  /** A running proxy to {@code target} (an {@code http://host:port} URL). */
  public static TcpProxy to(URI target) throws IOException {
    return new TcpProxy(target);
  }

  /** Where clients connect instead of the target. */
  public URI endpoint() {
    return URI.create("http://127.0.0.1:" + server.getLocalPort());
  }

  /** Resets every open connection and refuses new ones. */
  public void cut() {
    cut = true;
    sockets.forEach(TcpProxy::closeQuietly);
    sockets.clear();
  }

  /** Accepts and forwards connections again. */
  public void heal() {
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
      // One side went away (or was cut); close both below.
    } finally {
      closeQuietly(from);
      closeQuietly(to);
      sockets.remove(from);
      sockets.remove(to);
    }
  }

  private static Thread daemon(Runnable task, String role) {
    Thread thread = new Thread(task, "tcp-proxy-" + role + "-" + THREADS.incrementAndGet());
    thread.setDaemon(true);
    return thread;
  }

  private static void closeQuietly(AutoCloseable closeable) {
    try {
      closeable.close();
    } catch (Exception ignored) {
      // Closing is best effort.
    }
  }
}
