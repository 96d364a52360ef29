package dev.sluice.bench.controlplane;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.HttpURLConnection;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * A single-member etcd started for one benchmark run: free loopback ports, a fresh data directory
 * (deleted on close), output to a log file in it, optionally pinned to CPUs with {@code taskset}.
 * {@link #close()} stops it (SIGTERM, then SIGKILL after 5 s) and is also registered as a shutdown
 * hook, so an interrupted benchmark leaves no etcd behind.
 */
final class EtcdProcess implements AutoCloseable {
  private final Path dataDir;
  private final Process process;
  private final int clientPort;
  private final Thread hook;

  private EtcdProcess(Path dataDir, Process process, int clientPort) {
    this.dataDir = dataDir;
    this.process = process;
    this.clientPort = clientPort;
    this.hook = new Thread(this::stop, "etcd-stop");
    Runtime.getRuntime().addShutdownHook(hook);
  }

  /** Starts {@code binary} and waits until it reports healthy. */
  static EtcdProcess start(String binary, String cpus) throws IOException, InterruptedException {
    Path dir = Files.createTempDirectory("sluice-bench-etcd-");
    int client;
    int peer;
    // Both probe sockets open at once, or the second probe may return the first's port again.
    InetAddress loopback = InetAddress.getLoopbackAddress();
    try (ServerSocket a = new ServerSocket(0, 1, loopback);
        ServerSocket b = new ServerSocket(0, 1, loopback)) {
      client = a.getLocalPort();
      peer = b.getLocalPort();
    }
    String clientUrl = "http://127.0.0.1:" + client;
    String peerUrl = "http://127.0.0.1:" + peer;
    List<String> cmd = new ArrayList<>();
    if (!cpus.isEmpty()) {
      cmd.addAll(List.of("taskset", "-c", cpus));
    }
    cmd.addAll(
        List.of(
            binary,
            "--name",
            "bench",
            "--data-dir",
            dir.resolve("data").toString(),
            "--listen-client-urls",
            clientUrl,
            "--advertise-client-urls",
            clientUrl,
            "--listen-peer-urls",
            peerUrl,
            "--initial-advertise-peer-urls",
            peerUrl,
            "--initial-cluster",
            "bench=" + peerUrl,
            "--initial-cluster-state",
            "new"));
    Process p;
    try {
      p =
          new ProcessBuilder(cmd)
              .redirectErrorStream(true)
              .redirectOutput(dir.resolve("etcd.log").toFile())
              .start();
    } catch (IOException e) {
      deleteRecursively(dir);
      throw new IOException(
          "cannot start etcd ("
              + binary
              + "): install it (apt-get install -y etcd-server) or pass --etcd-binary",
          e);
    }
    EtcdProcess etcd = new EtcdProcess(dir, p, client);
    long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
    while (System.nanoTime() < deadline) {
      if (!p.isAlive()) {
        etcd.close();
        throw new IOException("etcd exited with " + p.exitValue() + "; see its log (deleted)");
      }
      if (healthy(clientUrl)) {
        return etcd;
      }
      Thread.sleep(100);
    }
    etcd.close();
    throw new IOException("etcd did not become healthy within 30 s");
  }

  URI clientUri() {
    return URI.create("http://127.0.0.1:" + clientPort);
  }

  long pid() {
    return process.pid();
  }

  @Override
  public void close() {
    stop();
    try {
      Runtime.getRuntime().removeShutdownHook(hook);
    } catch (IllegalStateException e) {
      // already shutting down: the hook runs stop() itself
    }
  }

  private synchronized void stop() {
    if (process.isAlive()) {
      // taskset execs etcd, so the pid is etcd's own.
      process.destroy();
      try {
        if (!process.waitFor(5, TimeUnit.SECONDS)) {
          process.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
        }
      } catch (InterruptedException e) {
        process.destroyForcibly();
        Thread.currentThread().interrupt();
      }
    }
    deleteRecursively(dataDir);
  }

  private static boolean healthy(String clientUrl) {
    try {
      HttpURLConnection c =
          (HttpURLConnection) URI.create(clientUrl + "/health").toURL().openConnection();
      c.setConnectTimeout(500);
      c.setReadTimeout(500);
      try {
        return c.getResponseCode() == 200
            && new String(c.getInputStream().readAllBytes()).contains("true");
      } finally {
        c.disconnect();
      }
    } catch (IOException e) {
      return false;
    }
  }

  private static void deleteRecursively(Path dir) {
    if (!Files.exists(dir)) {
      return;
    }
    try (Stream<Path> walk = Files.walk(dir)) {
      walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
