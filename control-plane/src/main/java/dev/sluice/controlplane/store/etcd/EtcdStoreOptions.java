package dev.sluice.controlplane.store.etcd;

import static com.google.common.base.Preconditions.checkArgument;
import static java.util.Objects.requireNonNull;

import io.micrometer.core.instrument.MeterRegistry;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import org.jspecify.annotations.Nullable;

/**
 * How to reach etcd and how the store behaves towards it. Immutable; build with {@link
 * #builder(List)}. Only the endpoints are required; every default is what production wants.
 */
public final class EtcdStoreOptions {
  /** The key prefix every Sluice key lives under, unless configured otherwise. */
  public static final String DEFAULT_KEY_PREFIX = "/sluice/v1/";

  private final List<URI> endpoints;
  private final String keyPrefix;
  private final Duration callTimeout;
  private final int listPageSize;
  private final int maxTxnOps;
  private final Duration requestIdRetention;
  private final int historyLimit;
  private final Duration antiEntropyInterval;
  private final Duration healthCheckInterval;
  private final Duration watchRetryMin;
  private final Duration watchRetryMax;
  private final Duration statusTtl;
  private final Duration electionTtl;
  private final @Nullable String username;
  private final @Nullable String password;
  private final @Nullable Path trustedCertificates;
  private final @Nullable Path clientCertificate;
  private final @Nullable Path clientKey;
  private final @Nullable MeterRegistry meterRegistry;

  private EtcdStoreOptions(Builder b) {
    this.endpoints = b.endpoints;
    this.keyPrefix = b.keyPrefix;
    this.callTimeout = b.callTimeout;
    this.listPageSize = b.listPageSize;
    this.maxTxnOps = b.maxTxnOps;
    this.requestIdRetention = b.requestIdRetention;
    this.historyLimit = b.historyLimit;
    this.antiEntropyInterval = b.antiEntropyInterval;
    this.healthCheckInterval = b.healthCheckInterval;
    this.watchRetryMin = b.watchRetryMin;
    this.watchRetryMax = b.watchRetryMax;
    this.statusTtl = b.statusTtl;
    this.electionTtl = b.electionTtl;
    this.username = b.username;
    this.password = b.password;
    this.trustedCertificates = b.trustedCertificates;
    this.clientCertificate = b.clientCertificate;
    this.clientKey = b.clientKey;
    this.meterRegistry = b.meterRegistry;
  }

  /**
   * Starts options for the etcd members at {@code endpoints} (for example {@code
   * http://127.0.0.1:2379}).
   */
  public static Builder builder(List<URI> endpoints) {
    return new Builder(endpoints);
  }

  /** The etcd client URLs; {@code https} ones need {@link Builder#tls}. */
  public List<URI> endpoints() {
    return endpoints;
  }

  /** The prefix of every key the store reads or writes; starts and ends with {@code /}. */
  public String keyPrefix() {
    return keyPrefix;
  }

  /**
   * The deadline of every etcd call. jetcd sets none and, by default, waits for a connection
   * forever, so without this an admin write would hang while etcd is down.
   */
  public Duration callTimeout() {
    return callTimeout;
  }

  /** Keys per page when listing, so no response exceeds the client's inbound message limit. */
  public int listPageSize() {
    return listPageSize;
  }

  /**
   * etcd's {@code --max-txn-ops} (128 by default), which must be set to the same value: the store
   * refuses a commit that would need more operations before sending it. A commit needs one
   * operation per resource it changes plus 3 (plus 2 more on the store's very first commit; see
   * {@code TxnSize}), so 128 allows applies and rollbacks of up to 125 resources. If this is set
   * higher than etcd's own limit, etcd refuses such commits itself, and the store reports that the
   * same way.
   */
  public int maxTxnOps() {
    return maxTxnOps;
  }

  /** How long {@code findByRequestId} is guaranteed to find a commit's request id. */
  public Duration requestIdRetention() {
    return requestIdRetention;
  }

  /**
   * How many change records {@code history} keeps; older ones are deleted (a tenth beyond the limit
   * at a time, checked at the {@link #antiEntropyInterval()}), so history cannot grow without
   * bound. Etcd's own compaction decides separately how far back {@code readAt} reaches.
   */
  public int historyLimit() {
    return historyLimit;
  }

  /** How often the watch mirror is compared with etcd (keys and revisions only). */
  public Duration antiEntropyInterval() {
    return antiEntropyInterval;
  }

  /** How often reachability is probed, which is what {@code isWritable()} reports. */
  public Duration healthCheckInterval() {
    return healthCheckInterval;
  }

  /**
   * The first delay before re-creating a failed watch or list; doubles up to {@link
   * #watchRetryMax()}.
   */
  public Duration watchRetryMin() {
    return watchRetryMin;
  }

  /** The longest delay between watch or list attempts. */
  public Duration watchRetryMax() {
    return watchRetryMax;
  }

  /**
   * The TTL of the lease that a replica's fleet-status record is attached to: how long the record
   * of a replica that died, or lost etcd, stays visible to the others (up to twice as long if etcd
   * elects a new leader meanwhile, which refreshes every lease). jetcd refreshes the lease every
   * third of it.
   */
  public Duration statusTtl() {
    return statusTtl;
  }

  /**
   * The TTL of the lease a replica campaigns for quota allocator with. It bounds how long the
   * fleet has no allocator after the leader dies (up to this TTL plus a second, then the new
   * leader's learning period), and the leader renews it every quarter of it. A leader that cannot
   * renew steps down four fifths of a TTL after its last successful renewal was sent, which is
   * before etcd can let the lease lapse; so a TTL well above {@link #callTimeout()} keeps a slow
   * etcd call from costing the fleet a takeover.
   */
  public Duration electionTtl() {
    return electionTtl;
  }

  /** The etcd user, when etcd has authentication enabled. */
  public Optional<String> username() {
    return Optional.ofNullable(username);
  }

  Optional<String> password() {
    return Optional.ofNullable(password);
  }

  /** PEM file of the CAs that sign etcd's server certificate; set means TLS. */
  public Optional<Path> trustedCertificates() {
    return Optional.ofNullable(trustedCertificates);
  }

  /** PEM client certificate chain for etcd's {@code --client-cert-auth}. */
  public Optional<Path> clientCertificate() {
    return Optional.ofNullable(clientCertificate);
  }

  /** PEM (PKCS#8) private key of {@link #clientCertificate()}. */
  public Optional<Path> clientKey() {
    return Optional.ofNullable(clientKey);
  }

  /**
   * Where the store's meters go; unset means they are kept but not exported. Meters, each tagged
   * with {@code store} (the key prefix): {@code sluice.store.mirror.resyncs} (counter, tagged with
   * {@code reason}: compacted, gap, divergence, regression) and {@code sluice.store.mirror.version}
   * (gauge: the config version last delivered to watchers).
   */
  public Optional<MeterRegistry> meterRegistry() {
    return Optional.ofNullable(meterRegistry);
  }

  @Override
  public String toString() {
    return "EtcdStoreOptions{endpoints="
        + endpoints
        + ", keyPrefix="
        + keyPrefix
        + ", callTimeout="
        + callTimeout
        + ", tls="
        + (trustedCertificates != null)
        + ", username="
        + username
        + ", password="
        + (password == null ? "unset" : "(redacted)")
        + "}";
  }

  /** Builds {@link EtcdStoreOptions}. */
  public static final class Builder {
    private final List<URI> endpoints;
    private String keyPrefix = DEFAULT_KEY_PREFIX;
    private Duration callTimeout = Duration.ofSeconds(2);
    private int listPageSize = 100;
    private int maxTxnOps = 128;
    private Duration requestIdRetention = Duration.ofHours(24);
    private int historyLimit = 10_000;
    private Duration antiEntropyInterval = Duration.ofMinutes(5);
    private Duration healthCheckInterval = Duration.ofSeconds(1);
    private Duration watchRetryMin = Duration.ofMillis(500);
    private Duration watchRetryMax = Duration.ofSeconds(10);
    private Duration statusTtl = Duration.ofSeconds(10);
    private Duration electionTtl = Duration.ofSeconds(10);
    private @Nullable String username;
    private @Nullable String password;
    private @Nullable Path trustedCertificates;
    private @Nullable Path clientCertificate;
    private @Nullable Path clientKey;
    private @Nullable MeterRegistry meterRegistry;

    private Builder(List<URI> endpoints) {
      requireNonNull(endpoints, "endpoints");
      checkArgument(!endpoints.isEmpty(), "endpoints: [] (expected: at least one)");
      for (URI endpoint : endpoints) {
        String scheme = requireNonNull(endpoint, "endpoint").getScheme();
        checkArgument(
            "http".equals(scheme) || "https".equals(scheme),
            "endpoint: %s (expected: an http or https URL)",
            endpoint);
      }
      this.endpoints = List.copyOf(endpoints);
    }

    /**
     * See {@link EtcdStoreOptions#keyPrefix()}; default {@value
     * EtcdStoreOptions#DEFAULT_KEY_PREFIX}.
     */
    public Builder keyPrefix(String keyPrefix) {
      requireNonNull(keyPrefix, "keyPrefix");
      checkArgument(
          keyPrefix.length() > 1 && keyPrefix.startsWith("/") && keyPrefix.endsWith("/"),
          "keyPrefix: %s (expected: starts and ends with '/', e.g. /sluice/v1/)",
          keyPrefix);
      this.keyPrefix = keyPrefix;
      return this;
    }

    /** See {@link EtcdStoreOptions#callTimeout()}; default 2 s. */
    public Builder callTimeout(Duration callTimeout) {
      this.callTimeout = positive(callTimeout, "callTimeout");
      return this;
    }

    /** See {@link EtcdStoreOptions#listPageSize()}; default 100. */
    public Builder listPageSize(int listPageSize) {
      checkArgument(listPageSize > 0, "listPageSize: %s (expected: > 0)", listPageSize);
      this.listPageSize = listPageSize;
      return this;
    }

    /** See {@link EtcdStoreOptions#maxTxnOps()}; default 128. */
    public Builder maxTxnOps(int maxTxnOps) {
      checkArgument(maxTxnOps >= 4, "maxTxnOps: %s (expected: >= 4)", maxTxnOps);
      this.maxTxnOps = maxTxnOps;
      return this;
    }

    /** See {@link EtcdStoreOptions#requestIdRetention()}; default 24 h, at least 1 minute. */
    public Builder requestIdRetention(Duration requestIdRetention) {
      requireNonNull(requestIdRetention, "requestIdRetention");
      checkArgument(
          requestIdRetention.compareTo(Duration.ofMinutes(1)) >= 0,
          "requestIdRetention: %s (expected: >= PT1M)",
          requestIdRetention);
      this.requestIdRetention = requestIdRetention;
      return this;
    }

    /** See {@link EtcdStoreOptions#historyLimit()}; default 10,000. */
    public Builder historyLimit(int historyLimit) {
      checkArgument(historyLimit > 0, "historyLimit: %s (expected: > 0)", historyLimit);
      this.historyLimit = historyLimit;
      return this;
    }

    /** See {@link EtcdStoreOptions#antiEntropyInterval()}; default 5 min. */
    public Builder antiEntropyInterval(Duration antiEntropyInterval) {
      this.antiEntropyInterval = positive(antiEntropyInterval, "antiEntropyInterval");
      return this;
    }

    /** See {@link EtcdStoreOptions#healthCheckInterval()}; default 1 s. */
    public Builder healthCheckInterval(Duration healthCheckInterval) {
      this.healthCheckInterval = positive(healthCheckInterval, "healthCheckInterval");
      return this;
    }

    /**
     * See {@link EtcdStoreOptions#watchRetryMin()} and {@link EtcdStoreOptions#watchRetryMax()};
     * default 0.5 s to 10 s.
     */
    public Builder watchRetryBackoff(Duration min, Duration max) {
      positive(min, "min");
      positive(max, "max");
      checkArgument(min.compareTo(max) <= 0, "min: %s (expected: <= max %s)", min, max);
      this.watchRetryMin = min;
      this.watchRetryMax = max;
      return this;
    }

    /**
     * See {@link EtcdStoreOptions#statusTtl()}; default 10 s. Whole seconds, at least 2 (etcd
     * raises shorter TTLs to its own minimum anyway).
     */
    public Builder statusTtl(Duration statusTtl) {
      positive(statusTtl, "statusTtl");
      checkArgument(
          statusTtl.toSeconds() >= 2 && statusTtl.toNanos() % 1_000_000_000L == 0,
          "statusTtl: %s (expected: whole seconds, at least PT2S)",
          statusTtl);
      this.statusTtl = statusTtl;
      return this;
    }

    /**
     * See {@link EtcdStoreOptions#electionTtl()}; default 10 s. Whole seconds, at least 2 (etcd
     * raises shorter TTLs to its own minimum anyway).
     */
    public Builder electionTtl(Duration electionTtl) {
      positive(electionTtl, "electionTtl");
      checkArgument(
          electionTtl.toSeconds() >= 2 && electionTtl.toNanos() % 1_000_000_000L == 0,
          "electionTtl: %s (expected: whole seconds, at least PT2S)",
          electionTtl);
      this.electionTtl = electionTtl;
      return this;
    }

    /** Authenticates to etcd as {@code username}. */
    public Builder credentials(String username, String password) {
      this.username = requireNonNull(username, "username");
      this.password = requireNonNull(password, "password");
      return this;
    }

    /**
     * Connects over TLS, trusting the CAs in {@code trustedCertificates}; with a client certificate
     * and key (both PEM) when etcd requires client certificates, else both null.
     */
    public Builder tls(
        Path trustedCertificates, @Nullable Path clientCertificate, @Nullable Path clientKey) {
      checkArgument(
          (clientCertificate == null) == (clientKey == null),
          "clientCertificate and clientKey: set both or neither");
      this.trustedCertificates = requireNonNull(trustedCertificates, "trustedCertificates");
      this.clientCertificate = clientCertificate;
      this.clientKey = clientKey;
      return this;
    }

    /** See {@link EtcdStoreOptions#meterRegistry()}. */
    public Builder meterRegistry(MeterRegistry meterRegistry) {
      this.meterRegistry = requireNonNull(meterRegistry, "meterRegistry");
      return this;
    }

    public EtcdStoreOptions build() {
      return new EtcdStoreOptions(this);
    }

    private static Duration positive(Duration value, String name) {
      requireNonNull(value, name);
      checkArgument(!value.isNegative() && !value.isZero(), "%s: %s (expected: > 0)", name, value);
      return value;
    }
  }
}
