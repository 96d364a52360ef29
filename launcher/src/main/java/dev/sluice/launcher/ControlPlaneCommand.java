package dev.sluice.launcher;

import static java.nio.charset.StandardCharsets.UTF_8;

import dev.sluice.controlplane.ControlPlane;
import dev.sluice.controlplane.store.ConfigStore;
import dev.sluice.controlplane.store.etcd.EtcdConfigStore;
import dev.sluice.controlplane.store.etcd.EtcdStoreOptions;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.jspecify.annotations.Nullable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

/**
 * {@code sluice control-plane}: runs one control-plane replica, serving the admin API and the
 * discovery stream on one port, with its config in etcd (production, several replicas) or in an
 * embedded store in a local directory (one replica).
 */
@Command(
    name = "control-plane",
    sortOptions = false,
    description = {
      "Runs a control plane: the admin API and the discovery stream for data planes.",
      "Example: SLUICE_ADMIN_TOKEN=... sluice control-plane --etcd-endpoints http://etcd-1:2379"
    })
final class ControlPlaneCommand implements Callable<Integer> {
  private static final Logger logger = Logger.getLogger(ControlPlaneCommand.class.getName());

  @ParentCommand private SluiceCommand parent;
  @Mixin private HelpOption help = new HelpOption();

  @Option(
      names = "--listen",
      paramLabel = "HOST:PORT",
      defaultValue = ":" + DefaultPorts.CONTROL_PLANE,
      converter = ListenAddress.class,
      description = "Address of the admin and discovery API (default ${DEFAULT-VALUE}, all interfaces).")
  private InetSocketAddress listen;

  @ArgGroup(exclusive = true, multiplicity = "0..1")
  private @Nullable StoreChoice store;

  /** The store: etcd or an embedded directory; exactly one. */
  static final class StoreChoice {
    @Option(
        names = "--etcd-endpoints",
        paramLabel = "URLS",
        split = ",",
        description = "etcd client URLs, comma-separated (env SLUICE_ETCD_ENDPOINTS).")
    @Nullable List<URI> etcdEndpoints;

    @Option(
        names = "--data-dir",
        paramLabel = "DIR",
        description = "Directory of an embedded store (one replica only; for small setups).")
    @Nullable Path dataDir;
  }

  @Option(
      names = "--admin-token-file",
      paramLabel = "FILE",
      description = "Admin tokens: NAME:TOKEN per line, or one bare token (else env SLUICE_ADMIN_TOKEN).")
  private @Nullable Path adminTokenFile;

  @Option(
      names = "--admin-cert-name",
      paramLabel = "NAME=PRINCIPAL",
      description = {
        "A client certificate trusted for admin calls, recorded in history as PRINCIPAL: NAME is"
            + " its URI or DNS SAN (e.g. spiffe://example.org/ops), or its CN if it has no SAN;"
            + " exact match. Repeatable; needs --client-ca-file."
      })
  private List<String> adminCertNames = new ArrayList<>();

  @Option(
      names = "--tls-cert-file",
      paramLabel = "PEM",
      description = "Serve TLS with this certificate chain (with --tls-key-file).")
  private @Nullable Path tlsCertFile;

  @Option(
      names = "--tls-key-file",
      paramLabel = "PEM",
      description = "Private key (PKCS#8 PEM) of --tls-cert-file.")
  private @Nullable Path tlsKeyFile;

  @Option(
      names = "--client-ca-file",
      paramLabel = "PEM",
      description = "Require client certificates issued by these CAs (mutual TLS for data planes).")
  private @Nullable Path clientCaFile;

  @Option(
      names = "--etcd-max-txn-ops",
      paramLabel = "N",
      description =
          "Operations etcd allows in one transaction; must equal etcd's --max-txn-ops (default"
              + " 128). An apply or rollback needs one per resource it changes plus 3 to 5.")
  private @Nullable Integer etcdMaxTxnOps;

  @Option(
      names = "--id",
      paramLabel = "ID",
      description = "This replica's id, reported to operators (default: the host name).")
  private @Nullable String id;

  @Option(
      names = "--advertise-address",
      paramLabel = "HOST:PORT",
      description =
          "Where the other replicas reach this one to forward rate-limit lease calls when it is"
              + " the elected quota allocator (default: --listen, or the host name with its port"
              + " when listening on all interfaces). With TLS, a name its certificate is valid for.")
  private @Nullable String advertiseAddress;

  @Override
  public Integer call() throws IOException {
    parent.configureLogging(Level.INFO);
    Map<String, String> env = System.getenv();
    Map<String, String> adminCertificates = AdminCertificateNames.parse(adminCertNames);
    if (!adminCertificates.isEmpty() && clientCaFile == null) {
      throw new CommandFailure(
          "--admin-cert-name needs --client-ca-file: only client certificates verified against it"
              + " can be admin credentials");
    }
    Map<String, String> adminTokens = adminTokens(env, !adminCertificates.isEmpty());
    String replicaId = id != null ? id : hostName();
    ShutdownHooks.Stopper stopper = ShutdownHooks.install();
    ConfigStore configStore = openStore(env);
    stopper.add(configStore);
    ControlPlane controlPlane;
    try {
      ControlPlane.Builder builder =
          ControlPlane.builder()
              .listenAddress(listen)
              .store(configStore)
              .adminTokens(adminTokens)
              .adminCertificatePrincipals(adminCertificates)
              .controlPlaneId(replicaId);
      if ((tlsCertFile == null) != (tlsKeyFile == null)) {
        throw new CommandFailure("--tls-cert-file and --tls-key-file go together");
      }
      if (tlsCertFile != null) {
        builder.tls(tlsCertFile, tlsKeyFile);
      }
      if (clientCaFile != null) {
        if (tlsCertFile == null) {
          throw new CommandFailure("--client-ca-file needs --tls-cert-file and --tls-key-file");
        }
        builder.clientCa(clientCaFile);
      }
      if (advertiseAddress != null) {
        try {
          builder.advertiseAddress(advertiseAddress);
        } catch (IllegalArgumentException e) {
          throw new CommandFailure("--advertise-address: " + e.getMessage());
        }
      }
      controlPlane = builder.build();
      stopper.add(controlPlane);
      controlPlane.start();
    } catch (RuntimeException e) {
      configStore.close();
      throw PortInUse.explain(e, listen, "--listen");
    }
    logger.info(
        "Control plane " + replicaId + " serves admin and discovery on "
            + ListenAddress.dialable(listen, controlPlane.port()) + " with " + describe());
    stopper.awaitShutdown();
    return ExitCodes.OK;
  }

  private ConfigStore openStore(Map<String, String> env) throws IOException {
    List<URI> endpoints = store != null ? store.etcdEndpoints : null;
    Path dataDir = store != null ? store.dataDir : null;
    if (endpoints == null && dataDir == null) {
      String fromEnv = env.get("SLUICE_ETCD_ENDPOINTS");
      if (fromEnv == null || fromEnv.isBlank()) {
        throw new CommandFailure(
            "no config store: give --etcd-endpoints (or env SLUICE_ETCD_ENDPOINTS) or --data-dir");
      }
      endpoints = new ArrayList<>();
      for (String url : fromEnv.split(",")) {
        endpoints.add(URI.create(url.strip()));
      }
      store = new StoreChoice();
      store.etcdEndpoints = endpoints;
    }
    if (endpoints == null && etcdMaxTxnOps != null) {
      throw new CommandFailure("--etcd-max-txn-ops applies to etcd only, not to --data-dir");
    }
    if (endpoints != null) {
      for (URI endpoint : endpoints) {
        if (endpoint.getScheme() == null || endpoint.getHost() == null) {
          throw new CommandFailure(
              "etcd endpoint '" + endpoint + "' is not a URL (expected: e.g. http://127.0.0.1:2379)");
        }
      }
      EtcdStoreOptions.Builder options = EtcdStoreOptions.builder(endpoints);
      if (etcdMaxTxnOps != null) {
        try {
          options.maxTxnOps(etcdMaxTxnOps);
        } catch (IllegalArgumentException e) {
          throw new CommandFailure("--etcd-max-txn-ops: " + e.getMessage());
        }
      }
      return EtcdConfigStore.connect(options.build());
    }
    Files.createDirectories(dataDir);
    return ConfigStore.embedded(dataDir);
  }

  private String describe() {
    return store != null && store.etcdEndpoints != null
        ? "etcd at " + store.etcdEndpoints
        : "the embedded store in " + (store == null ? "?" : store.dataDir);
  }

  /** The admin tokens; none is fine when admin certificates are listed. */
  private Map<String, String> adminTokens(Map<String, String> env, boolean haveCertificates)
      throws IOException {
    if (adminTokenFile != null) {
      return AdminTokens.parse(Files.readString(adminTokenFile, UTF_8), adminTokenFile.toString());
    }
    String fromEnv = env.get("SLUICE_ADMIN_TOKEN");
    if (fromEnv != null && !fromEnv.isBlank()) {
      return AdminTokens.parse(fromEnv, "SLUICE_ADMIN_TOKEN");
    }
    if (haveCertificates) {
      return Map.of();
    }
    throw new CommandFailure(
        "no admin credential: give --admin-token-file or set SLUICE_ADMIN_TOKEN, or list admin"
            + " client certificates with --admin-cert-name (the admin API accepts no anonymous"
            + " calls)");
  }

  static String hostName() {
    try {
      return InetAddress.getLocalHost().getHostName();
    } catch (IOException e) {
      return "unknown-host";
    }
  }
}
