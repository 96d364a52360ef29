package dev.sluice.bench.controlplane;

import static java.nio.charset.StandardCharsets.UTF_8;

import dev.sluice.bench.internal.DurationConverter;
import dev.sluice.controlplane.ControlPlane;
import dev.sluice.controlplane.store.ConfigStore;
import dev.sluice.controlplane.store.etcd.EtcdConfigStore;
import dev.sluice.controlplane.store.etcd.EtcdStoreOptions;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import org.jspecify.annotations.Nullable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The control plane under test, alone in its JVM, driven by {@link ControlPlaneBench} over
 * stdin/stdout: it prints {@code READY <port>} once serving, answers {@code heap} with {@code HEAP
 * <bytes>} (heap in use after full collections) and exits on {@code quit} or when stdin closes, so
 * it never outlives the driver.
 */
@Command(name = "control-plane-host", mixinStandardHelpOptions = true)
public final class ControlPlaneHost implements Callable<Integer> {
  @Option(names = "--store", description = "embedded | etcd")
  String store = "embedded";

  @Option(names = "--data-dir", description = "Embedded store directory.")
  @Nullable Path dataDir;

  @Option(names = "--etcd-endpoint", description = "etcd client URL.")
  @Nullable URI etcdEndpoint;

  @Option(names = "--admin-token", required = true)
  String adminToken = "";

  @Option(
      names = "--debounce-quiet",
      converter = DurationConverter.class,
      description = "Override the control plane's debounce quiet time.")
  @Nullable Duration debounceQuiet;

  @Option(
      names = "--debounce-max",
      converter = DurationConverter.class,
      description = "Override the control plane's debounce maximum (with --debounce-quiet).")
  @Nullable Duration debounceMax;

  public static void main(String[] args) {
    System.exit(new CommandLine(new ControlPlaneHost()).execute(args));
  }

  @Override
  public Integer call() throws Exception {
    PrintStream out = new PrintStream(System.out, true, UTF_8);
    // The control plane leaves its store to the caller: both are closed here, plane first.
    try (ConfigStore configStore = openStore();
        ControlPlane cp = controlPlane(configStore)) {
      cp.start();
      if (!cp.awaitReady(Duration.ofSeconds(60))) {
        System.err.println("the control plane built no snapshot within 60 s");
        return 1;
      }
      out.println("READY " + cp.port());
      BufferedReader in = new BufferedReader(new InputStreamReader(System.in, UTF_8));
      String line;
      while ((line = in.readLine()) != null) {
        switch (line.trim()) {
          case "heap" -> out.println("HEAP " + heapAfterGc());
          case "quit" -> {
            return 0;
          }
          default -> out.println("ERROR unknown command: " + line);
        }
      }
    }
    return 0;
  }

  private ConfigStore openStore() {
    return switch (store) {
      case "embedded" -> ConfigStore.embedded(require(dataDir, "--data-dir"));
      case "etcd" ->
          EtcdConfigStore.connect(
              EtcdStoreOptions.builder(List.of(require(etcdEndpoint, "--etcd-endpoint"))).build());
      default ->
          throw new IllegalArgumentException("--store: " + store + " (expected: embedded or etcd)");
    };
  }

  private ControlPlane controlPlane(ConfigStore configStore) {
    ControlPlane.Builder b =
        ControlPlane.builder()
            .listenAddress(new InetSocketAddress("127.0.0.1", 0))
            .store(configStore)
            .adminTokens(Map.of("sluice-bench", adminToken))
            .controlPlaneId("bench-cp");
    if (debounceQuiet != null) {
      b.debounce(debounceQuiet, debounceMax != null ? debounceMax : Duration.ofSeconds(1));
    }
    return b.build();
  }

  /**
   * Heap in use after full collections. {@code System.gc()} is a full, stop-the-world collection
   * with the JVM's default settings; a few rounds let reference processing and finalization settle.
   */
  static long heapAfterGc() throws InterruptedException {
    long used = Long.MAX_VALUE;
    for (int i = 0; i < 4; i++) {
      System.gc();
      Thread.sleep(100);
      used = Math.min(used, ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed());
    }
    return used;
  }

  private static <T> T require(@Nullable T value, String option) {
    if (value == null) {
      throw new IllegalArgumentException(option + " is required for --store");
    }
    return value;
  }
}
