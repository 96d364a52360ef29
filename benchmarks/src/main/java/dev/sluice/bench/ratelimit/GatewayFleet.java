package dev.sluice.bench.ratelimit;

import static java.nio.charset.StandardCharsets.US_ASCII;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A Sluice fleet of separate processes of the runnable jar: one {@code sluice control-plane} on an
 * embedded store in a work directory and {@code n} {@code sluice data-plane}s connected to it, each
 * with {@code --fleet-size n}, all on 127.0.0.1 ports the system picks. Optionally pinned with
 * {@code taskset}. {@link #close()} stops every process (data planes first), and a shutdown hook
 * kills them if this JVM is terminated before that.
 */
final class GatewayFleet implements AutoCloseable {
  private static final String CONTROL_PLANE_NAME = "control-plane";
  private static final Duration START_TIMEOUT = Duration.ofSeconds(90);
  private static final Pattern CONTROL_PLANE =
      Pattern.compile(".*Control plane \\S+ serves admin and discovery on (\\S+) with .*");
  private static final Pattern DATA_PLANE =
      Pattern.compile(".*Data plane \\S+ serves inference on (\\S+);.*");
  private static final Pattern CONFIG_STREAM_OPEN = Pattern.compile(".*Config stream open to .*");

  /** One data plane: its node id, its inference address and its process. */
  record DataPlane(String nodeId, InetSocketAddress address, GatewayProcess process) {}

  private final GatewayProcess controlPlane;
  private final InetSocketAddress controlPlaneAddress;
  private final long controlPlaneStartedAt;
  private final List<DataPlane> dataPlanes;
  private final String adminToken;
  private final Thread hook;

  private GatewayFleet(
      GatewayProcess controlPlane,
      InetSocketAddress controlPlaneAddress,
      long controlPlaneStartedAt,
      List<DataPlane> dataPlanes,
      String adminToken,
      Thread hook) {
    this.controlPlane = controlPlane;
    this.controlPlaneAddress = controlPlaneAddress;
    this.controlPlaneStartedAt = controlPlaneStartedAt;
    this.dataPlanes = List.copyOf(dataPlanes);
    this.adminToken = adminToken;
    this.hook = hook;
  }

  /**
   * Starts the fleet and returns once every data plane serves and has its config stream open.
   *
   * @param sluiceJar {@code launcher/target/sluice.jar}
   * @param nodeIds the data planes' node ids; their number is the {@code --fleet-size}
   * @param cpus a {@code taskset -c} CPU list for every process, or empty for no pinning
   * @param jvmOptions options of every process's JVM, space-separated (may be empty)
   * @param workDir the control plane's store and the admin token go here
   * @param logDir one {@code <logPrefix><name>.log} per process goes here
   * @param logPrefix prefix of the log file names, e.g. the scenario
   */
  static GatewayFleet start(
      Path sluiceJar,
      List<String> nodeIds,
      String cpus,
      String jvmOptions,
      Path workDir,
      Path logDir,
      String logPrefix)
      throws IOException, InterruptedException {
    if (!Files.isRegularFile(sluiceJar)) {
      throw new IllegalArgumentException(
          sluiceJar + " is missing: build it with mvn -pl launcher -am package -DskipTests");
    }
    String token = "ratelimit-bench-" + UUID.randomUUID();
    Path tokenFile = workDir.resolve("admin-token");
    Files.writeString(tokenFile, "ratelimit-bench:" + token + "\n", US_ASCII);
    Files.setPosixFilePermissions(tokenFile, PosixFilePermissions.fromString("rw-------"));
    List<GatewayProcess> started = new ArrayList<>();
    // Registered before the first process starts, so that none outlives a terminated benchmark.
    Thread hook =
        new Thread(
            () -> {
              synchronized (started) {
                started.forEach(GatewayProcess::kill);
              }
            },
            "ratelimit-fleet-kill");
    Runtime.getRuntime().addShutdownHook(hook);
    try {
      long cpStartedAt = System.nanoTime();
      GatewayProcess cp =
          track(
              started,
              GatewayProcess.start(
                  CONTROL_PLANE_NAME,
                  command(
                      sluiceJar, cpus, jvmOptions,
                      "control-plane", "--listen", "127.0.0.1:0",
                      "--data-dir", workDir.resolve("store").toString(),
                      "--admin-token-file", tokenFile.toString(),
                      "--id", "ratelimit-cp"),
                  logDir.resolve(logPrefix + "control-plane.log")));
      InetSocketAddress cpAddress = address(cp.awaitLine(CONTROL_PLANE, START_TIMEOUT).group(1));
      String target = "127.0.0.1:" + cpAddress.getPort();
      List<GatewayProcess> dpProcesses = new ArrayList<>();
      // Started together: each JVM's start-up is most of the wait.
      for (String node : nodeIds) {
        dpProcesses.add(
            track(
                started,
                GatewayProcess.start(
                    node,
                    command(
                        sluiceJar, cpus, jvmOptions,
                        "data-plane", "--listen", "127.0.0.1:0",
                        "--control-plane", target,
                        "--node-id", node,
                        "--fleet-size", Integer.toString(nodeIds.size())),
                    logDir.resolve(logPrefix + node + ".log"))));
      }
      List<DataPlane> dataPlanes = new ArrayList<>();
      for (int i = 0; i < nodeIds.size(); i++) {
        GatewayProcess dp = dpProcesses.get(i);
        InetSocketAddress address = address(dp.awaitLine(DATA_PLANE, START_TIMEOUT).group(1));
        // A data plane serves before its config stream is open; the fleet counts it from then.
        dp.awaitLine(CONFIG_STREAM_OPEN, START_TIMEOUT);
        dataPlanes.add(new DataPlane(nodeIds.get(i), address, dp));
      }
      return new GatewayFleet(cp, cpAddress, cpStartedAt, dataPlanes, token, hook);
    } catch (IOException | InterruptedException | RuntimeException e) {
      stopAll(started);
      removeHook(hook);
      throw e;
    }
  }

  private static GatewayProcess track(List<GatewayProcess> started, GatewayProcess process) {
    synchronized (started) {
      started.add(process);
    }
    return process;
  }

  private static List<String> command(
      Path sluiceJar, String cpus, String jvmOptions, String... args) {
    List<String> command = new ArrayList<>();
    if (!cpus.isBlank()) {
      command.addAll(List.of("taskset", "-c", cpus.strip()));
    }
    command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    for (String option : jvmOptions.strip().split("\\s+")) {
      if (!option.isEmpty()) {
        command.add(option);
      }
    }
    command.addAll(List.of("-jar", sluiceJar.toString()));
    command.addAll(List.of(args));
    return command;
  }

  private static InetSocketAddress address(String hostPort) {
    int colon = hostPort.lastIndexOf(':');
    return new InetSocketAddress(
        hostPort.substring(0, colon), Integer.parseInt(hostPort.substring(colon + 1)));
  }

  InetSocketAddress controlPlaneAddress() {
    return controlPlaneAddress;
  }

  /** {@link System#nanoTime()} when the control plane's process was started. */
  long controlPlaneStartedAt() {
    return controlPlaneStartedAt;
  }

  String adminToken() {
    return adminToken;
  }

  List<DataPlane> dataPlanes() {
    return dataPlanes;
  }

  GatewayProcess controlPlane() {
    return controlPlane;
  }

  /** Every process of the fleet that has exited, for checks during a run. */
  List<String> exited() {
    List<String> exited = new ArrayList<>();
    if (!controlPlane.isAlive()) {
      exited.add(controlPlane.name());
    }
    for (DataPlane dp : dataPlanes) {
      if (!dp.process().isAlive()) {
        exited.add(dp.nodeId());
      }
    }
    return exited;
  }

  @Override
  public void close() {
    List<GatewayProcess> all = new ArrayList<>();
    dataPlanes.forEach(dp -> all.add(dp.process()));
    all.add(controlPlane);
    stopAll(all);
    removeHook(hook);
  }

  /** Stops data planes before the control plane, so that they do not log its absence. */
  private static void stopAll(List<GatewayProcess> processes) {
    List<GatewayProcess> copy;
    synchronized (processes) {
      copy = new ArrayList<>(processes);
    }
    List<GatewayProcess> dataPlanes =
        copy.stream().filter(p -> !p.name().equals(CONTROL_PLANE_NAME)).toList();
    // SIGTERM to every data plane first, then wait for each: they shut down in parallel.
    dataPlanes.forEach(GatewayProcess::terminate);
    dataPlanes.forEach(GatewayProcess::close);
    copy.stream().filter(p -> p.name().equals(CONTROL_PLANE_NAME)).forEach(GatewayProcess::close);
  }

  private static void removeHook(Thread hook) {
    try {
      Runtime.getRuntime().removeShutdownHook(hook);
    } catch (IllegalStateException e) {
      // the JVM is shutting down: the hook runs anyway
    }
  }

  @Override
  public String toString() {
    return "GatewayFleet{cp=" + controlPlane + ", dataPlanes=" + dataPlanes.size() + "}";
  }

}
