package dev.sluice.dataplane.auth;

import com.google.common.cache.Cache;
import com.google.common.cache.CacheBuilder;
import dev.sluice.grpc.ApiException;
import io.grpc.Status;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;

/**
 * How many failed token verifications each client address may still cost this node: a token
 * bucket per address (per /64 for IPv6, which a single client commonly owns), holding {@code
 * burst} failures and refilled at {@code perSecond}.
 *
 * <p>Why: checking a JWT's signature costs up to a millisecond of CPU (ECDSA; see
 * docs/benchmarks.md), and a token that fails is never cached, so a client sending forged or
 * garbage tokens would make the node pay that for every request: a thousand requests a second
 * keep a core busy. What counts is a token whose signature was checked and that was then refused
 * (a bad signature, or claims that do not hold); refusals found before the signature (not a JWT,
 * an untrusted issuer, an unknown key id) cost microseconds and do not count, so a key rotation
 * that clients see before the node does is no reason to throttle them. Once an address has spent
 * its failures, its tokens that would need a signature check are refused before it, with
 * RESOURCE_EXHAUSTED and the time until the next attempt is allowed. Tokens verified before (the
 * verified-token cache) and API keys (a hash compare) are not affected, so a client with a good
 * token keeps working even behind an address whose other users are refused.
 *
 * <p>Thread-safe: each bucket is updated under its own lock, briefly; at most {@value
 * #MAX_ADDRESSES} addresses are tracked, each forgotten after ten minutes without a failure.
 */
final class FailedVerifications {
  static final String REASON = "TOO_MANY_FAILED_AUTHENTICATIONS";
  static final int MAX_ADDRESSES = 100_000;

  /** A node's limits: at most 4 signature checks a second (about 0.5 % of a core) per address. */
  static FailedVerifications withDefaults() {
    return new FailedVerifications(
        Authenticator.DEFAULT_FAILED_VERIFICATION_BURST,
        Authenticator.DEFAULT_FAILED_VERIFICATIONS_PER_SECOND,
        System::nanoTime);
  }

  private final double burst;
  private final double perNano;
  private final LongSupplier nanoTime;
  private final Cache<InetAddress, Bucket> buckets =
      CacheBuilder.newBuilder()
          .maximumSize(MAX_ADDRESSES)
          .expireAfterAccess(10, TimeUnit.MINUTES)
          .build();

  /**
   * @param burst failures an address may cause at once; 0 turns the limit off
   * @param perSecond failures an address regains per second
   */
  FailedVerifications(int burst, double perSecond, LongSupplier nanoTime) {
    if (burst < 0 || !(perSecond > 0)) {
      throw new IllegalArgumentException(
          "burst " + burst + " (expected: >= 0), perSecond " + perSecond + " (expected: > 0)");
    }
    this.burst = burst;
    this.perNano = perSecond / TimeUnit.SECONDS.toNanos(1);
    this.nanoTime = nanoTime;
  }

  /**
   * Refuses when {@code address} has no failed verification left.
   *
   * @throws ApiException RESOURCE_EXHAUSTED with the time until one is allowed again
   */
  void checkAllowed(InetAddress address) {
    if (burst == 0) {
      return;
    }
    Bucket bucket = buckets.getIfPresent(key(address));
    if (bucket == null) {
      return;
    }
    long wait = bucket.nanosUntilOne(nanoTime.getAsLong());
    if (wait > 0) {
      Duration retry = Duration.ofMillis(Math.max(1, TimeUnit.NANOSECONDS.toMillis(wait) + 1));
      throw ApiException.builder(Status.Code.RESOURCE_EXHAUSTED, REASON)
          .message("too many failed authentications from this address; retry in " + retry.toMillis() + " ms")
          .retryAfter(retry)
          .build();
    }
  }

  /** Counts a failed verification from {@code address}. */
  void failed(InetAddress address) {
    if (burst == 0) {
      return;
    }
    long now = nanoTime.getAsLong();
    try {
      buckets.get(key(address), () -> new Bucket(now)).spend(now);
    } catch (ExecutionException e) {
      throw new IllegalStateException(e.getCause());
    }
  }

  /** The address a client is counted under: itself, or its /64 for IPv6. */
  static InetAddress key(InetAddress address) {
    if (!(address instanceof Inet6Address)) {
      return address;
    }
    byte[] bytes = address.getAddress();
    Arrays.fill(bytes, 8, 16, (byte) 0);
    try {
      return InetAddress.getByAddress(bytes);
    } catch (UnknownHostException impossible) {
      throw new IllegalStateException(impossible);
    }
  }

  private final class Bucket {
    private double tokens = burst;
    private long lastNanos;

    Bucket(long now) {
      this.lastNanos = now;
    }

    private void refill(long now) {
      long elapsed = now - lastNanos;
      if (elapsed > 0) {
        tokens = Math.min(burst, tokens + elapsed * perNano);
        lastNanos = now;
      }
    }

    synchronized void spend(long now) {
      refill(now);
      tokens = Math.max(0, tokens - 1);
    }

    synchronized long nanosUntilOne(long now) {
      refill(now);
      return tokens >= 1 ? 0 : (long) Math.ceil((1 - tokens) / perNano);
    }
  }
}
