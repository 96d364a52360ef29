package dev.sluice.bench.controlplane;

import static java.nio.charset.StandardCharsets.UTF_8;

import dev.sluice.admin.v1.AdminServiceGrpc;
import dev.sluice.admin.v1.ApplyChangesRequest;
import dev.sluice.admin.v1.ApplyChangesResponse;
import dev.sluice.bench.internal.DurationConverter;
import dev.sluice.bench.internal.Json;
import dev.sluice.bench.internal.LatencySummary;
import dev.sluice.bench.internal.ProcStat;
import dev.sluice.bench.internal.TextTable;
import dev.sluice.config.v1.Resource;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.MetadataUtils;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.UUID;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.HdrHistogram.Histogram;
import org.jspecify.annotations.Nullable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The control-plane fan-out benchmark (issue 3):
 *
 * <ol>
 *   <li>starts a control plane in a child JVM ({@link ControlPlaneHost}), on the embedded store or
 *       on a child etcd, each optionally pinned with {@code taskset};
 *   <li>loads a config of {@code --resources} resources through the admin API;
 *   <li>for each stream count: opens that many simulated data-plane streams, waits until all have
 *       acknowledged the current version, measures the control plane's heap after GC, then applies
 *       a one-resource change {@code --iterations} times, one at a time, and records (a) how long
 *       ApplyChanges took and (b) the time from the start of the ApplyChanges call until the last
 *       stream sent its ACK for the new version (or a newer one).
 * </ol>
 *
 * <p>Heap per stream is (heap after GC with N streams − heap after GC with none) / N, from the
 * child JVM alone; RSS per stream likewise from {@code /proc}. The CPU of the control plane and of
 * this driver (the simulated data planes) over the measured applies is reported too: a driver near
 * 100 % means the simulator, not the control plane, set the pace. Every child process is stopped at
 * the end, also on failure. Output: a text table, and one JSON line per stream count with {@code
 * --json}.
 */
@Command(
    name = "controlplane-bench",
    mixinStandardHelpOptions = true,
    description =
        "Admin apply latency and apply-to-all-ACKed fan-out time of the Sluice control plane.")
public final class ControlPlaneBench implements Callable<Integer> {
  @Option(
      names = "--streams",
      split = ",",
      description = "Stream counts to measure (default: 10,100,1000).")
  List<Integer> streams = new ArrayList<>(List.of(10, 100, 1000));

  @Option(
      names = "--resources",
      description = "Config size in resources (default: ${DEFAULT-VALUE}).")
  int resources = 1000;

  @Option(
      names = "--iterations",
      description = "Measured applies per stream count (default: ${DEFAULT-VALUE}).")
  int iterations = 50;

  @Option(
      names = "--warmup-iterations",
      description = "Unmeasured applies first (default: ${DEFAULT-VALUE}).")
  int warmupIterations = 10;

  @Option(
      names = "--duration",
      converter = DurationConverter.class,
      description =
          "Upper bound on the measured applies of one stream count; fewer iterations run if it is"
              + " reached (default: 60s).")
  Duration duration = Duration.ofSeconds(60);

  @Option(
      names = "--ack-timeout",
      converter = DurationConverter.class,
      description = "Give up on one apply's convergence after this (default: 30s).")
  Duration ackTimeout = Duration.ofSeconds(30);

  @Option(names = "--store", description = "embedded | etcd (default: ${DEFAULT-VALUE}).")
  String store = "embedded";

  @Option(names = "--etcd-binary", description = "etcd executable (default: ${DEFAULT-VALUE}).")
  String etcdBinary = "etcd";

  @Option(
      names = "--server-cpus",
      description =
          "taskset CPU list for the control plane and etcd, e.g. 1 (default: not pinned).")
  String serverCpus = "";

  @Option(
      names = "--server-jvm-opts",
      description = "JVM options of the control-plane JVM (default: ${DEFAULT-VALUE}).")
  String serverJvmOpts = "-Xms256m -Xmx2g";

  @Option(
      names = "--streams-per-connection",
      description =
          "Simulated data planes per HTTP/2 connection (default: ${DEFAULT-VALUE}, like real data"
              + " planes).")
  int streamsPerConnection = 1;

  @Option(
      names = "--settle",
      converter = DurationConverter.class,
      description = "Pause after closing streams, before the next stream count (default: 2s).")
  Duration settle = Duration.ofSeconds(2);

  @Option(
      names = "--debounce",
      description =
          "Override the control plane's debounce as QUIET,MAX (e.g. 10ms,1s); default: its own (100"
              + " ms quiet).")
  @Nullable String debounce;

  @Option(names = "--label", description = "Label in the output (default: the store).")
  String label = "";

  @Option(names = "--json", description = "Append one JSON line per stream count to this file.")
  @Nullable Path json;

  @Option(names = "--table", description = "Also write the text table to this file.")
  @Nullable Path table;

  /** The newest config version this benchmark applied. */
  private long configVersion;

  /** One row of the result. Times in ms, memory in KiB per stream. */
  record Row(
      String label,
      String store,
      int resources,
      int streams,
      int iterations,
      int timeouts,
      LatencySummary applyMs,
      LatencySummary allAckedMs,
      double snapshotKiB,
      double heapBaselineMiB,
      double heapMiB,
      double heapPerStreamKiB,
      double rssPerStreamKiB,
      double controlPlaneCpuPercent,
      double simulatorCpuPercent,
      long failedStreams) {}

  public static void main(String[] args) {
    System.exit(new CommandLine(new ControlPlaneBench()).execute(args));
  }

  @Override
  public Integer call() throws Exception {
    String token = "bench-" + UUID.randomUUID();
    String runId = Long.toHexString(System.nanoTime());
    Path dataDir = Files.createTempDirectory("sluice-bench-cp-");
    List<Row> rows = new ArrayList<>();
    try (EtcdProcess etcd =
            store.equals("etcd") ? EtcdProcess.start(etcdBinary, serverCpus) : null;
        Host host = Host.start(hostCommand(token, dataDir, etcd))) {
      log("control plane pid " + host.pid() + " on port " + host.port() + " (" + store + " store)");
      ManagedChannel admin =
          NettyChannelBuilder.forAddress(new InetSocketAddress("127.0.0.1", host.port()))
              .usePlaintext()
              .maxInboundMessageSize(64 << 20)
              .build();
      try {
        Metadata auth = new Metadata();
        auth.put(
            Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + token);
        AdminServiceGrpc.AdminServiceBlockingStub stub =
            AdminServiceGrpc.newBlockingStub(admin)
                .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(auth));
        List<Resource> config = BenchConfig.resources(resources);
        for (ApplyChangesRequest load : BenchConfig.load(config)) {
          configVersion =
              stub.withDeadlineAfter(60, TimeUnit.SECONDS).applyChanges(load).getConfigVersion();
        }
        log("loaded " + config.size() + " resources, config version " + configVersion);
        long heap0 = host.heap();
        long rss0 = host.rss();
        int iteration = 0;
        for (int n : streams) {
          Row row = measure(stub, host, n, runId, heap0, rss0, iteration);
          iteration += warmupIterations + iterations;
          rows.add(row);
          if (json != null) {
            Json.appendLine(json, row);
          }
          log(
              String.format(
                  Locale.ROOT,
                  "%d streams: apply p50 %.2f ms, all ACKed p50 %.2f / p99 %.2f ms",
                  n,
                  row.applyMs().p50(),
                  row.allAckedMs().p50(),
                  row.allAckedMs().p99()));
        }
      } finally {
        admin.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      }
    } finally {
      deleteRecursively(dataDir);
    }
    String text = render(rows);
    System.out.println();
    System.out.print(text);
    if (table != null) {
      Files.writeString(table, text, UTF_8);
    }
    return rows.stream().allMatch(r -> r.timeouts() == 0) ? 0 : 1;
  }

  private Row measure(
      AdminServiceGrpc.AdminServiceBlockingStub stub,
      Host host,
      int n,
      String runId,
      long heap0,
      long rss0,
      int firstIteration)
      throws Exception {
    int connections = (n + streamsPerConnection - 1) / streamsPerConnection;
    InetSocketAddress address = new InetSocketAddress("127.0.0.1", host.port());
    try (SimulatedFleet fleet = SimulatedFleet.open(address, n, connections, runId + "-" + n)) {
      Convergence conv = fleet.convergence();
      // Every stream first receives the current config; wait until all have it.
      conv.target(configVersion);
      if (conv.await(ackTimeout.toNanos()) < 0) {
        throw new IllegalStateException(
            conv.lagging() + " of " + n + " streams never received the config");
      }
      long heapN = host.heap();
      long rssN = host.rss();
      Histogram apply = new Histogram(3);
      Histogram acked = new Histogram(3);
      int timeouts = 0;
      long pushesBefore = 0;
      long bytesBefore = 0;
      ProcStat.Sample cpuStart = null;
      ProcStat.Sample selfStart = null;
      long deadline = Long.MAX_VALUE;
      int measured = 0;
      for (int i = 0; i < warmupIterations + iterations; i++) {
        boolean warm = i < warmupIterations;
        if (!warm && cpuStart == null) {
          cpuStart = ProcStat.read(host.pid()).orElse(null);
          selfStart = ProcStat.read(ProcStat.selfPid()).orElse(null);
          pushesBefore = fleet.pushes.sum();
          bytesBefore = fleet.snapshotBytes.sum();
          deadline = System.nanoTime() + duration.toNanos();
        }
        if (System.nanoTime() > deadline) {
          break;
        }
        conv.reset();
        ApplyChangesRequest change = BenchConfig.change(firstIteration + i, resources);
        long t0 = System.nanoTime();
        ApplyChangesResponse r = stub.withDeadlineAfter(30, TimeUnit.SECONDS).applyChanges(change);
        long t1 = System.nanoTime();
        configVersion = r.getConfigVersion();
        conv.target(configVersion);
        long last = conv.await(ackTimeout.toNanos());
        if (warm) {
          continue;
        }
        measured++;
        apply.recordValue(t1 - t0);
        if (last < 0) {
          timeouts++;
        } else {
          acked.recordValue(Math.max(0, last - t0));
        }
      }
      ProcStat.Sample cpuEnd = ProcStat.read(host.pid()).orElse(null);
      ProcStat.Sample selfEnd = ProcStat.read(ProcStat.selfPid()).orElse(null);
      long pushes = fleet.pushes.sum() - pushesBefore;
      long bytes = fleet.snapshotBytes.sum() - bytesBefore;
      return new Row(
          label.isEmpty() ? store : label,
          store,
          resources,
          n,
          measured,
          timeouts,
          LatencySummary.ofNanos(apply),
          LatencySummary.ofNanos(acked),
          pushes == 0 ? 0 : round1(bytes / (double) pushes / 1024.0),
          round1(heap0 / 1048576.0),
          round1(heapN / 1048576.0),
          round1((heapN - heap0) / 1024.0 / n),
          round1((rssN - rss0) / 1024.0 / n),
          cpuStart == null || cpuEnd == null ? 0 : round1(cpuEnd.cpuPercentSince(cpuStart)),
          selfStart == null || selfEnd == null ? 0 : round1(selfEnd.cpuPercentSince(selfStart)),
          fleet.failedStreams.sum());
    } finally {
      Thread.sleep(settle.toMillis()); // let the control plane notice the closed streams
    }
  }

  private List<String> hostCommand(String token, Path dataDir, @Nullable EtcdProcess etcd) {
    List<String> cmd = new ArrayList<>();
    if (!serverCpus.isEmpty()) {
      cmd.addAll(List.of("taskset", "-c", serverCpus));
    }
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    for (String o : serverJvmOpts.trim().split("\\s+")) {
      if (!o.isEmpty()) {
        cmd.add(o);
      }
    }
    cmd.addAll(
        List.of("-cp", System.getProperty("java.class.path"), ControlPlaneHost.class.getName()));
    cmd.addAll(List.of("--store", store, "--admin-token", token));
    if (debounce != null) {
      String[] qm = debounce.split(",");
      cmd.addAll(List.of("--debounce-quiet", qm[0].trim()));
      if (qm.length > 1) {
        cmd.addAll(List.of("--debounce-max", qm[1].trim()));
      }
    }
    if (etcd != null) {
      cmd.addAll(List.of("--etcd-endpoint", etcd.clientUri().toString()));
    } else {
      cmd.addAll(List.of("--data-dir", dataDir.resolve("store").toString()));
    }
    return cmd;
  }

  static String render(List<Row> rows) {
    TextTable t =
        TextTable.of(
            "store",
            "streams",
            "resources",
            "applies",
            "apply p50 ms",
            "apply p99 ms",
            "all ACKed p50 ms",
            "all ACKed p99 ms",
            "max ms",
            "snapshot KiB",
            "heap/stream KiB",
            "RSS/stream KiB",
            "CP cpu%",
            "sim cpu%",
            "timeouts");
    for (Row r : rows) {
      t.row(
          r.label(),
          r.streams(),
          r.resources(),
          r.iterations(),
          f2(r.applyMs().p50()),
          f2(r.applyMs().p99()),
          f2(r.allAckedMs().p50()),
          f2(r.allAckedMs().p99()),
          f2(r.allAckedMs().max()),
          r.snapshotKiB(),
          r.heapPerStreamKiB(),
          r.rssPerStreamKiB(),
          r.controlPlaneCpuPercent(),
          r.simulatorCpuPercent(),
          r.timeouts());
    }
    return t.render();
  }

  private static String f2(double v) {
    return String.format(Locale.ROOT, "%.2f", v);
  }

  private static double round1(double v) {
    return Math.round(v * 10) / 10.0;
  }

  private static void log(String message) {
    System.err.println("[controlplane-bench] " + message);
  }

  private static void deleteRecursively(Path dir) throws IOException {
    if (!Files.exists(dir)) {
      return;
    }
    try (Stream<Path> walk = Files.walk(dir)) {
      walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    }
  }

  /** The child JVM running {@link ControlPlaneHost}; closing it stops it. */
  private static final class Host implements AutoCloseable {
    private final Process process;
    private final BufferedReader out;
    private final PrintStream in;
    private final int port;

    private final Thread hook;

    private Host(Process process) throws IOException {
      this.process = process;
      // Also stop the child if this JVM is terminated (SIGTERM) mid-run.
      this.hook = new Thread(process::destroyForcibly, "control-plane-stop");
      Runtime.getRuntime().addShutdownHook(hook);
      this.out = new BufferedReader(new InputStreamReader(process.getInputStream(), UTF_8));
      this.in = new PrintStream(process.getOutputStream(), true, UTF_8);
      String line = expect("READY");
      this.port = Integer.parseInt(line.substring("READY ".length()).trim());
    }

    static Host start(List<String> command) throws IOException {
      Process p =
          new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
      try {
        return new Host(p);
      } catch (IOException | RuntimeException e) {
        p.destroyForcibly();
        throw e;
      }
    }

    int port() {
      return port;
    }

    long pid() {
      return process.pid();
    }

    long heap() throws IOException {
      in.println("heap");
      return Long.parseLong(expect("HEAP").substring("HEAP ".length()).trim());
    }

    long rss() {
      return ProcStat.read(process.pid()).map(ProcStat.Sample::rssBytes).orElse(0L);
    }

    private String expect(String prefix) throws IOException {
      String line;
      while ((line = out.readLine()) != null) {
        if (line.startsWith(prefix)) {
          return line;
        }
        System.err.println("[control-plane] " + line);
      }
      throw new IOException(
          "control plane exited (code " + waitExit() + ") before answering " + prefix);
    }

    private int waitExit() {
      try {
        return process.waitFor(5, TimeUnit.SECONDS) ? process.exitValue() : -1;
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return -1;
      }
    }

    @Override
    public void close() {
      try {
        Runtime.getRuntime().removeShutdownHook(hook);
      } catch (IllegalStateException e) {
        // shutting down: the hook stops the child
      }
      in.println("quit");
      in.close();
      try {
        if (!process.waitFor(10, TimeUnit.SECONDS)) {
          process.destroy();
          if (!process.waitFor(5, TimeUnit.SECONDS)) {
            process.destroyForcibly();
          }
        }
      } catch (InterruptedException e) {
        process.destroyForcibly();
        Thread.currentThread().interrupt();
      }
    }
  }
}
