package dev.sluice.launcher;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.util.Durations;
import dev.sluice.admin.v1.AdminServiceGrpc;
import dev.sluice.admin.v1.AdminServiceGrpc.AdminServiceBlockingStub;
import dev.sluice.admin.v1.ApplyChangesRequest;
import dev.sluice.admin.v1.ApplyChangesResponse;
import dev.sluice.admin.v1.Change;
import dev.sluice.admin.v1.NodeStatus;
import dev.sluice.admin.v1.WaitForFleetVersionRequest;
import dev.sluice.admin.v1.WaitForFleetVersionResponse;
import dev.sluice.client.SluiceClient;
import dev.sluice.client.SluiceException;
import dev.sluice.config.v1.Backend;
import dev.sluice.config.v1.Header;
import dev.sluice.config.v1.Resource;
import dev.sluice.config.v1.SecretRef;
import dev.sluice.controlplane.ControlPlane;
import dev.sluice.controlplane.store.ConfigStore;
import dev.sluice.dataplane.DataPlane;
import dev.sluice.inference.v1.ModelInfo;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.MetadataUtils;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.logging.Logger;
import org.jspecify.annotations.Nullable;

/**
 * A whole gateway in one process for development: a control plane on the embedded store, a data
 * plane connected to it over the real discovery stream (on loopback), and the dev config applied
 * through the real admin API. What {@code sluice dev} runs.
 *
 * <p>{@link #start} returns only once the data plane serves the applied config and lists its
 * models through the inference API, so whatever the caller prints next is true.
 */
final class DevGateway implements AutoCloseable {
  private static final Logger logger = Logger.getLogger(DevGateway.class.getName());
  private static final Duration CONVERGENCE_TIMEOUT = Duration.ofSeconds(30);
  static final String NODE_ID = "dev";
  static final String ADMIN_PRINCIPAL = "dev";

  /**
   * What to start and where. Ports may be 0 (a free one is chosen).
   *
   * @param metricsListen where the data plane serves Prometheus metrics, or null for none
   */
  record Settings(
      InetSocketAddress dataPlaneListen,
      InetSocketAddress controlPlaneListen,
      DevState state,
      List<Path> configPaths,
      @Nullable InetSocketAddress metricsListen) {
    Settings {
      requireNonNull(dataPlaneListen, "dataPlaneListen");
      requireNonNull(controlPlaneListen, "controlPlaneListen");
      requireNonNull(state, "state");
      configPaths = List.copyOf(configPaths);
    }

    /** Settings without a metrics endpoint. */
    Settings(
        InetSocketAddress dataPlaneListen,
        InetSocketAddress controlPlaneListen,
        DevState state,
        List<Path> configPaths) {
      this(dataPlaneListen, controlPlaneListen, state, configPaths, null);
    }
  }

  private final List<AutoCloseable> parts; // in close order
  private final ControlPlane controlPlane;
  private final DataPlane dataPlane;
  private final InetSocketAddress dataPlaneListen;
  private final InetSocketAddress controlPlaneListen;
  private final @Nullable InetSocketAddress metricsListen;
  private final long configVersion;
  private final List<ModelInfo> models;
  private final List<Resource> resources;

  private DevGateway(
      List<AutoCloseable> parts,
      ControlPlane controlPlane,
      DataPlane dataPlane,
      Settings settings,
      long configVersion,
      List<ModelInfo> models,
      List<Resource> resources) {
    this.parts = parts;
    this.controlPlane = controlPlane;
    this.dataPlane = dataPlane;
    this.dataPlaneListen = settings.dataPlaneListen();
    this.controlPlaneListen = settings.controlPlaneListen();
    this.metricsListen = settings.metricsListen();
    this.configVersion = configVersion;
    this.models = List.copyOf(models);
    this.resources = List.copyOf(resources);
  }

  /** Starts everything, applies the config, and waits until the data plane serves it. */
  static DevGateway start(Settings settings) throws Exception {
    List<Resource> resources = ConfigFiles.load(settings.configPaths());
    String adminToken = settings.state().adminToken();
    Files.createDirectories(settings.state().storeDir());
    List<AutoCloseable> started = new ArrayList<>();
    try {
      ConfigStore store = ConfigStore.embedded(settings.state().storeDir());
      started.add(0, store);
      ControlPlane controlPlane =
          ControlPlane.builder()
              .listenAddress(settings.controlPlaneListen())
              .store(store)
              .adminTokens(Map.of(ADMIN_PRINCIPAL, adminToken))
              .controlPlaneId("dev")
              .build();
      started.add(0, controlPlane);
      startServer(controlPlane::start, settings.controlPlaneListen(), "--control-plane-listen");
      String controlPlaneTarget = "127.0.0.1:" + controlPlane.port();

      DataPlane dataPlane =
          DataPlane.builder()
              .listenAddress(settings.dataPlaneListen())
              .controlPlaneTargets(List.of(controlPlaneTarget))
              .nodeId(NODE_ID)
              .nodeLabels(Map.of("sluice.dev/mode", "dev"))
              .snapshotCacheFile(settings.state().snapshotCacheFile())
              .allowAnonymous(true)
              .metricsAddress(settings.metricsListen())
              .build();
      started.add(0, dataPlane);
      startServer(dataPlane::start, settings.dataPlaneListen(), "--listen");

      long version = applyAndAwait(controlPlaneTarget, adminToken, resources);
      List<ModelInfo> models = listModels("127.0.0.1:" + dataPlane.port());
      return new DevGateway(started, controlPlane, dataPlane, settings, version, models, resources);
    } catch (Exception | Error e) {
      ShutdownHooks.closeAll(started);
      throw e;
    }
  }

  private interface Starter {
    void start() throws Exception;
  }

  private static void startServer(Starter starter, InetSocketAddress address, String flag)
      throws Exception {
    try {
      starter.start();
    } catch (Exception e) {
      throw PortInUse.explain(e, address, flag);
    }
  }

  private static long applyAndAwait(String target, String adminToken, List<Resource> resources) {
    Metadata headers = new Metadata();
    headers.put(
        Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + adminToken);
    ManagedChannel channel =
        Grpc.newChannelBuilder(target, InsecureChannelCredentials.create())
            .intercept(MetadataUtils.newAttachHeadersInterceptor(headers))
            .build();
    try {
      AdminServiceBlockingStub admin =
          AdminServiceGrpc.newBlockingStub(channel)
              .withDeadlineAfter(CONVERGENCE_TIMEOUT.toSeconds() + 10, TimeUnit.SECONDS);
      ApplyChangesRequest.Builder request =
          ApplyChangesRequest.newBuilder()
              .setAuthor("sluice dev")
              .setReason("dev mode applies its config at start");
      for (Resource resource : resources) {
        request.addChanges(Change.newBuilder().setUpsert(resource));
      }
      ApplyChangesResponse applied = admin.applyChanges(request.build());
      logger.info("Config version " + applied.getConfigVersion() + " applied (" + resources.size() + " resources)");
      // At least the dev data plane, which may not have connected yet.
      WaitForFleetVersionResponse fleet =
          admin.waitForFleetVersion(
              WaitForFleetVersionRequest.newBuilder()
                  .setConfigVersion(applied.getConfigVersion())
                  .setMinNodeCount(1)
                  .setTimeout(Durations.fromMillis(CONVERGENCE_TIMEOUT.toMillis()))
                  .build());
      if (!fleet.getConverged()) {
        throw new CommandFailure(
            "the data plane did not take config version "
                + applied.getConfigVersion()
                + " within "
                + CONVERGENCE_TIMEOUT.toSeconds()
                + " s"
                + lagging(fleet.getLaggingNodesList()));
      }
      return applied.getConfigVersion();
    } catch (StatusRuntimeException e) {
      throw SluiceException.from(e);
    } finally {
      AdminConnectionOptions.close(channel);
    }
  }

  private static String lagging(List<NodeStatus> nodes) {
    StringBuilder text = new StringBuilder();
    for (NodeStatus node : nodes) {
      text.append("; node ").append(node.getNode().getId()).append(' ').append(node.getState());
      if (node.hasErrorDetail()) {
        text.append(" rejected it: ").append(node.getErrorDetail().getMessage());
      }
    }
    return text.toString();
  }

  private static List<ModelInfo> listModels(String target) {
    try (SluiceClient client =
        SluiceClient.builder().target(target).plaintext().deadline(Duration.ofSeconds(10)).build()) {
      return client.listModels();
    }
  }

  /** The inference API as clients dial it, e.g. {@code 127.0.0.1:50051}. */
  String dataPlaneTarget() {
    return ListenAddress.dialable(dataPlaneListen, dataPlane.port());
  }

  /** The admin API as clients dial it, e.g. {@code 127.0.0.1:50052}. */
  String controlPlaneTarget() {
    return ListenAddress.dialable(controlPlaneListen, controlPlane.port());
  }

  /** The data plane's metrics URL, e.g. {@code http://127.0.0.1:9464/metrics}; null when off. */
  @Nullable String metricsUrl() {
    int port = dataPlane.metricsPort();
    InetSocketAddress listen = metricsListen;
    return port < 0 || listen == null
        ? null
        : "http://" + ListenAddress.dialable(listen, port) + "/metrics";
  }

  long configVersion() {
    return configVersion;
  }

  List<ModelInfo> models() {
    return models;
  }

  /**
   * The environment variables the applied backends take their keys from (names only, never
   * values), each with whether {@code env} sets it. The data plane runs in this process, so these
   * are the variables {@code sluice dev} was started with.
   */
  Map<String, Boolean> secretEnvironmentVariables(Map<String, String> env) {
    Map<String, Boolean> variables = new TreeMap<>();
    for (Resource resource : resources) {
      if (!resource.hasBackend()) {
        continue;
      }
      Backend backend = resource.getBackend();
      List<SecretRef> refs = new ArrayList<>();
      if (backend.hasApiKey()) {
        refs.add(backend.getApiKey());
      }
      backend.getHeadersList().stream().filter(Header::hasSecret).map(Header::getSecret).forEach(refs::add);
      for (SecretRef ref : refs) {
        if (ref.hasEnvVar()) {
          String value = env.get(ref.getEnvVar());
          variables.put(ref.getEnvVar(), value != null && !value.isEmpty());
        }
      }
    }
    return variables;
  }

  @Override
  public void close() {
    ShutdownHooks.closeAll(parts);
  }
}
