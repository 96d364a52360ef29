package dev.sluice.testing.etcd;

import static java.nio.charset.StandardCharsets.UTF_8;
import static java.util.Objects.requireNonNull;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.HttpURLConnection;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.jspecify.annotations.Nullable;

/**
 * Runs a real single-member {@code etcd} server as a child process for the tests of one class.
 *
 * <pre>{@code
 * @RegisterExtension static final EtcdExtension etcd = EtcdExtension.create();
 * ... Client.builder().endpoints(etcd.clientEndpoint()).build() ...
 * }</pre>
 *
 * <p>The server listens on free loopback ports with a fresh data directory, which is deleted
 * afterwards. Tests that exercise failures can {@link #kill()} the process (SIGKILL, no graceful
 * shutdown) and {@link #start()} it again on the same ports and data, or {@link #stop()} it
 * gracefully.
 *
 * <p>Tests that depend on a server setting other than etcd's default pass it as a flag, e.g. a
 * larger transaction limit: {@code EtcdExtension.create().withFlags("--max-txn-ops=2048")}.
 *
 * <p>There is deliberately no "skip when etcd is missing": a test that needs etcd fails with a
 * message that says how to install it. The binary is {@code etcd} on the {@code PATH}, or the one
 * named by the {@code SLUICE_ETCD_BINARY} environment variable.
 */
public final class EtcdExtension implements BeforeAllCallback, AfterAllCallback {
  private static final Duration STARTUP_TIMEOUT = Duration.ofSeconds(30);

  /**
   * How many pairs of ports {@link #beforeAll} tries: a probed free port is only free until someone
   * else binds it, and on a busy CI machine that happens.
   */
  private static final int PORT_ATTEMPTS = 3;

  /**
   * Flags the extension sets itself: a test that overrode them would break the ports, data
   * directory or single-member cluster the rest of the extension relies on.
   */
  private static final List<String> MANAGED_FLAGS =
      List.of(
          "--name",
          "--data-dir",
          "--listen-client-urls",
          "--advertise-client-urls",
          "--listen-peer-urls",
          "--initial-advertise-peer-urls",
          "--initial-cluster",
          "--initial-cluster-state",
          "--logger");

  private final String binary;
  private final List<String> flags;
  private @Nullable Path dataDir;
  private int clientPort;
  private int peerPort;
  private @Nullable Process process;
  private @Nullable Path logFile;

  private EtcdExtension(String binary, List<String> flags) {
    this.binary = binary;
    this.flags = flags;
  }

  /** An extension for the {@code etcd} binary found as described in the class docs. */
  public static EtcdExtension create() {
    String configured = System.getenv("SLUICE_ETCD_BINARY");
    return new EtcdExtension(
        configured == null || configured.isBlank() ? "etcd" : configured, List.of());
  }

  /**
   * A new extension that also starts etcd with {@code flags}, each {@code --name=value}, after the
   * ones it has already (every start, including restarts after {@link #kill()}).
   *
   * @throws IllegalArgumentException for a flag not of the form {@code --name=value}, or one the
   *     extension sets itself (ports, data directory, cluster membership, logger)
   */
  public EtcdExtension withFlags(String... flags) {
    List<String> all = new ArrayList<>(this.flags);
    for (String flag : flags) {
      requireNonNull(flag, "flag");
      int equals = flag.indexOf('=');
      if (!flag.startsWith("--") || equals < 3) {
        throw new IllegalArgumentException(
            "flag: " + flag + " (expected: --name=value, e.g. --max-txn-ops=2048)");
      }
      if (MANAGED_FLAGS.contains(flag.substring(0, equals))) {
        throw new IllegalArgumentException(
            "flag: " + flag + " (expected: none of " + MANAGED_FLAGS + ", which the extension sets)");
      }
      all.add(flag);
    }
    return new EtcdExtension(binary, List.copyOf(all));
  }

  @Override
  public void beforeAll(ExtensionContext context) throws Exception {
    dataDir = Files.createTempDirectory("sluice-etcd-");
    for (int attempt = 1; ; attempt++) {
      int[] ports = twoFreePorts();
      clientPort = ports[0];
      peerPort = ports[1];
      try {
        start();
        return;
      } catch (PortTakenException e) {
        // Another process bound a port between our probe and etcd's bind: probe again.
        if (attempt == PORT_ATTEMPTS) {
          throw e;
        }
        Path data = requireNonNull(dataDir).resolve("data");
        if (Files.exists(data)) {
          deleteRecursively(data);
        }
        Files.deleteIfExists(requireNonNull(logFile));
      }
    }
  }

  @Override
  public void afterAll(ExtensionContext context) throws Exception {
    stop();
    if (dataDir != null) {
      deleteRecursively(dataDir);
    }
  }

  /** The client URL, e.g. {@code http://127.0.0.1:23791}. */
  public URI clientEndpoint() {
    return URI.create("http://127.0.0.1:" + clientPort);
  }

  /** The client URL as a string, for APIs that take strings. */
  public String clientUrl() {
    return clientEndpoint().toString();
  }

  /** Starts etcd (again) on the same ports and data directory and waits until it is healthy. */
  public synchronized void start() throws IOException, InterruptedException {
    if (process != null && process.isAlive()) {
      return;
    }
    Path dir = requireNonNull(dataDir, "dataDir (beforeAll has not run)");
    logFile = dir.resolveSibling(dir.getFileName() + ".log");
    List<String> command = new ArrayList<>();
    command.add(binary);
    command.add("--name=sluice-test");
    command.add("--data-dir=" + dir.resolve("data"));
    command.add("--listen-client-urls=" + clientUrl());
    command.add("--advertise-client-urls=" + clientUrl());
    command.add("--listen-peer-urls=http://127.0.0.1:" + peerPort);
    command.add("--initial-advertise-peer-urls=http://127.0.0.1:" + peerPort);
    command.add("--initial-cluster=sluice-test=http://127.0.0.1:" + peerPort);
    command.add("--initial-cluster-state=new");
    command.add("--logger=zap");
    command.addAll(flags);
    ProcessBuilder builder =
        new ProcessBuilder(command)
            .redirectErrorStream(true)
            .redirectOutput(ProcessBuilder.Redirect.appendTo(logFile.toFile()));
    try {
      process = builder.start();
    } catch (IOException e) {
      throw new IllegalStateException(
          "Cannot start '"
              + binary
              + "': etcd is required by this test. Install it (Debian: apt-get install -y"
              + " etcd-server) or point SLUICE_ETCD_BINARY at an etcd 3.4+ binary.",
          e);
    }
    awaitHealthy();
  }

  /** Kills etcd with SIGKILL, as a crash would, and waits for the process to end. */
  public synchronized void kill() throws InterruptedException {
    Process p = process;
    if (p != null) {
      p.destroyForcibly();
      p.waitFor(10, TimeUnit.SECONDS);
      process = null;
    }
  }

  /** Stops etcd gracefully (SIGTERM) and waits for the process to end. */
  public synchronized void stop() throws InterruptedException {
    Process p = process;
    if (p != null) {
      p.destroy();
      if (!p.waitFor(10, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        p.waitFor(10, TimeUnit.SECONDS);
      }
      process = null;
    }
  }

  /** Whether the etcd process is running. */
  public synchronized boolean isRunning() {
    return process != null && process.isAlive();
  }

  private void awaitHealthy() throws InterruptedException {
    long deadline = System.nanoTime() + STARTUP_TIMEOUT.toNanos();
    while (System.nanoTime() < deadline) {
      Process p = process;
      if (p == null || !p.isAlive()) {
        String log = logTail();
        if (log.contains("address already in use")) {
          throw new PortTakenException("etcd could not bind its ports; log:\n" + log);
        }
        throw new IllegalStateException("etcd exited during startup; log:\n" + log);
      }
      if (healthy()) {
        return;
      }
      Thread.sleep(50);
    }
    throw new IllegalStateException(
        "etcd did not become healthy within " + STARTUP_TIMEOUT + "; log:\n" + logTail());
  }

  private boolean healthy() {
    try {
      URL url = URI.create(clientUrl() + "/health").toURL();
      HttpURLConnection connection = (HttpURLConnection) url.openConnection();
      connection.setConnectTimeout(500);
      connection.setReadTimeout(500);
      try {
        return connection.getResponseCode() == 200
            && new String(connection.getInputStream().readAllBytes(), UTF_8)
                .contains("\"health\":\"true\"");
      } finally {
        connection.disconnect();
      }
    } catch (IOException e) {
      return false;
    }
  }

  private String logTail() {
    Path log = logFile;
    if (log == null || !Files.exists(log)) {
      return "(no log)";
    }
    try {
      List<String> lines = Files.readAllLines(log, UTF_8);
      return String.join("\n", lines.subList(Math.max(0, lines.size() - 30), lines.size()));
    } catch (IOException e) {
      return "(log unreadable: " + e + ")";
    }
  }

  /**
   * Two distinct free loopback ports. Both sockets are open at the same time: probing one port,
   * closing it and probing again may well return the same port twice (CI saw etcd told to use one
   * port for both its client and its peer listener).
   */
  private static int[] twoFreePorts() throws IOException {
    InetAddress loopback = InetAddress.getLoopbackAddress();
    try (ServerSocket first = new ServerSocket(0, 1, loopback);
        ServerSocket second = new ServerSocket(0, 1, loopback)) {
      return new int[] {first.getLocalPort(), second.getLocalPort()};
    }
  }

  /** etcd exited at startup because a port it was given was taken by then. */
  private static final class PortTakenException extends IllegalStateException {
    private static final long serialVersionUID = 1L;

    PortTakenException(String message) {
      super(message);
    }
  }

  private static void deleteRecursively(Path root) {
    try (Stream<Path> paths = Files.walk(root)) {
      paths.sorted(Comparator.reverseOrder()).map(Path::toFile).forEach(File::delete);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    try {
      Files.deleteIfExists(root.resolveSibling(root.getFileName() + ".log"));
    } catch (IOException ignored) {
      // Best effort: a leftover log in the temp dir harms nothing.
    }
  }
}
