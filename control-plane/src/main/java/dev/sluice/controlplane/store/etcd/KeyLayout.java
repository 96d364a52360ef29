package dev.sluice.controlplane.store.etcd;

import static java.nio.charset.StandardCharsets.UTF_8;

import com.google.common.collect.ImmutableMap;
import dev.sluice.config.v1.ResourceKind;
import dev.sluice.controlplane.store.ResourceKey;
import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.options.OptionsUtil;
import java.util.Arrays;
import java.util.Locale;
import org.jspecify.annotations.Nullable;

/**
 * Where each piece of the config lives in etcd, under one prefix (see the package docs). Pure
 * functions; no I/O.
 */
final class KeyLayout {
  private static final ImmutableMap<String, ResourceKind> KINDS_BY_SEGMENT = kindsBySegment();

  private final String prefix;
  private final String configPrefix;
  private final String metaPrefix;
  private final String headKey;
  private final String epochKey;
  private final String historyPrefix;
  private final String requestsPrefix;
  private final String statusPrefix;
  private final String quotaAllocatorKey;

  KeyLayout(String prefix) {
    this.prefix = prefix;
    this.configPrefix = prefix + "config/";
    this.metaPrefix = prefix + "meta/";
    this.headKey = metaPrefix + "head";
    this.epochKey = metaPrefix + "epoch";
    this.historyPrefix = prefix + "history/";
    this.requestsPrefix = prefix + "requests/";
    this.statusPrefix = prefix + "status/cp/";
    this.quotaAllocatorKey = metaPrefix + "quota-allocator";
  }

  /** The prefix every key of the store starts with. */
  String prefix() {
    return prefix;
  }

  /** Everything the store owns; the mirror watches all of it on one stream. */
  ByteSequence root() {
    return bytes(prefix);
  }

  ByteSequence configPrefix() {
    return bytes(configPrefix);
  }

  /** The store's own records: the head and the epoch. */
  ByteSequence metaPrefix() {
    return bytes(metaPrefix);
  }

  ByteSequence head() {
    return bytes(headKey);
  }

  /**
   * The epoch: a random number written with the first commit and replaced whenever etcd's revisions
   * are seen going backwards (a restore from backup), because versions of different lineages must
   * never be compared.
   */
  ByteSequence epoch() {
    return bytes(epochKey);
  }

  /**
   * {@code meta/quota-allocator}: held by the elected quota allocator, on its lease (see {@link
   * EtcdElection}). Neither config nor status: the mirror and listings skip it.
   */
  ByteSequence quotaAllocator() {
    return bytes(quotaAllocatorKey);
  }

  ByteSequence historyPrefix() {
    return bytes(historyPrefix);
  }

  /**
   * {@code config/<kind>/<name>}, the kind in lower snake case, e.g. {@code
   * config/rate_limit_policy/free}.
   */
  ByteSequence config(ResourceKey key) {
    return bytes(configPrefix + segment(key.kind()) + "/" + key.name());
  }

  /**
   * The history entry of the commit validated against {@code parentVersion}.
   *
   * <p>A commit's own version is its transaction's revision, which etcd assigns only when it
   * applies the transaction, so the entry cannot be keyed by it. The parent version is known
   * beforehand and is unique: the head compare lets exactly one commit succeed per parent. The
   * entry's {@code mod_revision} then <em>is</em> the commit's version.
   *
   * <p>The number is {@code Long.MAX_VALUE - parentVersion}, zero-padded, so keys sort newest
   * first: a page of history is one plain range read with a limit. (etcd 3.4 applies the limit of a
   * sorted range only after reading the whole range, so asking it to sort descending would read the
   * entire history for every page.)
   */
  ByteSequence history(long parentVersion) {
    return bytes(
        historyPrefix + String.format(Locale.ROOT, "%019d", Long.MAX_VALUE - parentVersion));
  }

  ByteSequence request(String requestId) {
    return bytes(requestsPrefix + requestId);
  }

  /** Where the replicas' fleet-status records live: live state, never config. */
  ByteSequence statusPrefix() {
    return bytes(statusPrefix);
  }

  /** {@code status/cp/<controlPlaneId>}: one replica's fleet-status record, on its lease. */
  ByteSequence status(String controlPlaneId) {
    return bytes(statusPrefix + controlPlaneId);
  }

  boolean isStatus(String key) {
    return key.startsWith(statusPrefix);
  }

  /** The replica a status key belongs to, or null for a key that is not one. */
  @Nullable String parseStatus(String key) {
    if (!isStatus(key) || key.length() == statusPrefix.length()) {
      return null;
    }
    String id = key.substring(statusPrefix.length());
    return id.indexOf('/') >= 0 ? null : id;
  }

  boolean isHead(String key) {
    return key.equals(headKey);
  }

  boolean isEpoch(String key) {
    return key.equals(epochKey);
  }

  boolean isConfig(String key) {
    return key.startsWith(configPrefix);
  }

  /** The resource a config key names, or null for a key no kind of this build knows. */
  @Nullable ResourceKey parseConfig(String key) {
    if (!isConfig(key)) {
      return null;
    }
    String rest = key.substring(configPrefix.length());
    int slash = rest.indexOf('/');
    if (slash <= 0 || slash == rest.length() - 1) {
      return null;
    }
    ResourceKind kind = KINDS_BY_SEGMENT.get(rest.substring(0, slash));
    return kind == null ? null : new ResourceKey(kind, rest.substring(slash + 1));
  }

  static ByteSequence bytes(String key) {
    return ByteSequence.from(key, UTF_8);
  }

  static String string(ByteSequence key) {
    return key.toString(UTF_8);
  }

  /** The smallest key greater than every key starting with {@code prefix}. */
  static ByteSequence prefixEnd(ByteSequence prefix) {
    return OptionsUtil.prefixEndOf(prefix);
  }

  /** The smallest key greater than {@code key}: where the next page starts. */
  static ByteSequence successor(ByteSequence key) {
    byte[] bytes = key.getBytes();
    return ByteSequence.from(Arrays.copyOf(bytes, bytes.length + 1));
  }

  private static String segment(ResourceKind kind) {
    return kind.name().substring("RESOURCE_KIND_".length()).toLowerCase(Locale.ROOT);
  }

  private static ImmutableMap<String, ResourceKind> kindsBySegment() {
    ImmutableMap.Builder<String, ResourceKind> kinds = ImmutableMap.builder();
    for (ResourceKind kind : ResourceKind.values()) {
      if (kind != ResourceKind.RESOURCE_KIND_UNSPECIFIED && kind != ResourceKind.UNRECOGNIZED) {
        kinds.put(segment(kind), kind);
      }
    }
    return kinds.buildOrThrow();
  }

  @Override
  public String toString() {
    return "KeyLayout{" + prefix + "}";
  }
}
