package dev.sluice.dataplane.provider.http;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A byte-level HTTP/1.1 server on 127.0.0.1 for the cases a well-behaved server cannot produce:
 * each accepted connection runs a script over the raw socket (answer, misbehave, or stay silent).
 */
final class RawHttpServer implements AutoCloseable {
  /** What to do with one connection; the number counts connections from 1. */
  interface Script {
    void run(Socket socket, int connection) throws IOException;
  }

  private final ServerSocket server;
  private final Thread acceptor;
  private final List<Socket> sockets = new CopyOnWriteArrayList<>();
  private final AtomicInteger connections = new AtomicInteger();

  RawHttpServer(Script script) throws IOException {
    server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
    acceptor =
        new Thread(
            () -> {
              while (!server.isClosed()) {
                try {
                  Socket s = server.accept();
                  sockets.add(s);
                  int n = connections.incrementAndGet();
                  Thread t =
                      new Thread(
                          () -> {
                            try {
                              script.run(s, n);
                            } catch (IOException ignored) {
                              // the client went away
                            }
                          },
                          "raw-http-connection-" + n);
                  t.setDaemon(true);
                  t.start();
                } catch (IOException e) {
                  return;
                }
              }
            },
            "raw-http-acceptor");
    acceptor.setDaemon(true);
    acceptor.start();
  }

  int port() {
    return server.getLocalPort();
  }

  int connections() {
    return connections.get();
  }

  /** Reads one request head and its content-length body; returns the head, or null at EOF. */
  static String readRequest(InputStream in) throws IOException {
    StringBuilder head = new StringBuilder();
    int matched = 0;
    while (matched < 4) {
      int b = in.read();
      if (b < 0) {
        return null;
      }
      head.append((char) b);
      matched = (b == '\r' || b == '\n') ? (matched + 1) : 0;
    }
    int length = 0;
    for (String line : head.toString().split("\r\n")) {
      if (line.toLowerCase().startsWith("content-length:")) {
        length = Integer.parseInt(line.substring(15).trim());
      }
    }
    in.readNBytes(length);
    return head.toString();
  }

  static void write(OutputStream out, String text) throws IOException {
    out.write(text.getBytes(StandardCharsets.UTF_8));
    out.flush();
  }

  static String okResponse(String body) {
    return "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: "
        + body.getBytes(StandardCharsets.UTF_8).length + "\r\n\r\n" + body;
  }

  @Override
  public void close() throws IOException {
    server.close();
    for (Socket s : sockets) {
      s.close();
    }
    try {
      acceptor.join(2000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
