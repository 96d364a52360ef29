package dev.sluice.bench.ratelimit;

import static com.google.common.base.Preconditions.checkArgument;
import static java.util.Objects.requireNonNull;

import dev.sluice.inference.v1.ChatRequest;
import dev.sluice.inference.v1.ChatResponse;
import dev.sluice.inference.v1.InferenceServiceGrpc;
import io.grpc.CallOptions;
import io.grpc.ClientCall;
import io.grpc.ConnectivityState;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioSocketChannel;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import org.jspecify.annotations.Nullable;

/**
 * An open-loop gRPC client for several data planes at once: each node gets calls at its own rate
 * (Poisson arrivals, or evenly spaced), on a schedule fixed in advance, whatever the answers, so
 * a refusing node keeps being asked as a real overloaded client would. Each call is a unary
 * {@code Chat} with the consumer's API key; its outcome is counted in the {@link AdmissionLog} in
 * the second it was sent: OK (admitted, with the total tokens the response reports),
 * RESOURCE_EXHAUSTED (refused) or any other status (failed).
 *
 * <p>One thread sends; calls complete on one Netty event loop ({@code directExecutor}), so the
 * client stays cheap beside what it measures.
 */
final class OpenLoopDriver implements AutoCloseable {
  /** How calls are spread in time. */
  enum Arrivals {
    /** Exponential gaps: independent callers, as in the allocator's simulation. */
    POISSON,
    /** Equal gaps, from a random phase: the least noisy demand. */
    UNIFORM
  }

  /** Calls open at once beyond which a slot is counted as failed ({@code CLIENT_BACKLOG}). */
  private static final int MAX_IN_FLIGHT = 10_000;

  private static final Duration CALL_DEADLINE = Duration.ofSeconds(30);

  private final EventLoopGroup group;
  private final List<ManagedChannel> channels = new ArrayList<>();
  private final Metadata headers = new Metadata();
  private final AtomicInteger inFlight = new AtomicInteger();

  OpenLoopDriver(List<InetSocketAddress> targets, String apiKey) {
    checkArgument(!targets.isEmpty(), "targets: empty (expected: at least one)");
    requireNonNull(apiKey, "apiKey");
    headers.put(
        Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + apiKey);
    group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
    for (InetSocketAddress target : targets) {
      channels.add(
          NettyChannelBuilder.forAddress(target)
              .usePlaintext()
              .directExecutor()
              .eventLoopGroup(group)
              .channelType(NioSocketChannel.class)
              .build());
    }
    connectAll();
  }

  private void connectAll() {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    for (ManagedChannel channel : channels) {
      ConnectivityState state;
      while ((state = channel.getState(true)) != ConnectivityState.READY) {
        if (System.nanoTime() - deadline > 0) {
          close();
          throw new IllegalStateException("cannot connect: " + channel + " is " + state);
        }
        LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(5));
      }
    }
  }

  /**
   * Sends {@code request} to node {@code i} at {@code ratesPerSecond[i]} for {@code duration},
   * then waits up to {@code drain} for the calls still open, and returns what happened.
   *
   * @param progress where a line per 10 s of run goes, or null for none
   */
  AdmissionLog run(
      List<String> nodeIds,
      ChatRequest request,
      double[] ratesPerSecond,
      Duration duration,
      Arrivals arrivals,
      long seed,
      Duration drain,
      @Nullable PrintStream progress)
      throws InterruptedException {
    int n = channels.size();
    checkArgument(
        nodeIds.size() == n && ratesPerSecond.length == n,
        "nodeIds, ratesPerSecond: %s, %s (expected: %s each)",
        nodeIds.size(),
        ratesPerSecond.length,
        n);
    int seconds = (int) Math.max(1, (duration.toNanos() + 999_999_999L) / 1_000_000_000L);
    AdmissionLog log = new AdmissionLog(nodeIds, seconds);
    long end = duration.toNanos();
    SplittableRandom[] random = new SplittableRandom[n];
    long[] next = new long[n];
    for (int i = 0; i < n; i++) {
      if (!(ratesPerSecond[i] >= 0)) {
        throw new IllegalArgumentException(
            "ratesPerSecond[" + i + "]: " + ratesPerSecond[i] + " (expected: >= 0)");
      }
      random[i] = new SplittableRandom(seed + 31L * i);
      next[i] =
          ratesPerSecond[i] == 0
              ? Long.MAX_VALUE
              : arrivals == Arrivals.UNIFORM
                  ? (long) (random[i].nextDouble() * 1e9 / ratesPerSecond[i])
                  : gap(arrivals, random[i], ratesPerSecond[i]);
    }
    long start = System.nanoTime();
    int reported = 0;
    while (true) {
      int i = 0;
      for (int k = 1; k < n; k++) {
        if (next[k] < next[i]) {
          i = k;
        }
      }
      if (next[i] >= end) {
        break;
      }
      long at = start + next[i];
      long wait;
      while ((wait = at - System.nanoTime()) > 0) {
        LockSupport.parkNanos(wait);
        if (Thread.interrupted()) {
          throw new InterruptedException("interrupted during the run");
        }
      }
      int second = (int) Math.min(seconds - 1, (System.nanoTime() - start) / 1_000_000_000L);
      send(log, i, second, request);
      next[i] += gap(arrivals, random[i], ratesPerSecond[i]);
      if (progress != null && second / 10 > reported) {
        // The calls of the last second or so may still be open: a progress line, not a figure.
        progress.println(progressLine(log, reported * 10, second / 10 * 10));
        reported = second / 10;
      }
    }
    long drainEnd = System.nanoTime() + drain.toNanos();
    while (inFlight.get() > 0 && System.nanoTime() - drainEnd < 0) {
      Thread.sleep(10);
    }
    if (progress != null && reported * 10 < seconds) {
      progress.println(progressLine(log, reported * 10, seconds));
    }
    return log;
  }

  /** Calls still open: after {@link #run}, those the drain did not wait out. */
  int inFlight() {
    return inFlight.get();
  }

  /**
   * The send times {@link #run} plans for the same rates, duration, arrivals and seed, as offsets
   * in nanoseconds from its start, all nodes together, in order.
   */
  static long[] plannedSends(double[] ratesPerSecond, Duration duration, Arrivals arrivals, long seed) {
    long end = duration.toNanos();
    List<Long> sends = new ArrayList<>();
    for (int i = 0; i < ratesPerSecond.length; i++) {
      if (!(ratesPerSecond[i] > 0)) {
        continue;
      }
      // As in run(): one generator per node, seeded alike, drawn in the same order.
      SplittableRandom random = new SplittableRandom(seed + 31L * i);
      long next =
          arrivals == Arrivals.UNIFORM
              ? (long) (random.nextDouble() * 1e9 / ratesPerSecond[i])
              : gap(arrivals, random, ratesPerSecond[i]);
      while (next < end) {
        sends.add(next);
        next += gap(arrivals, random, ratesPerSecond[i]);
      }
    }
    return sends.stream().mapToLong(Long::longValue).sorted().toArray();
  }

  private static long gap(Arrivals arrivals, SplittableRandom random, double rate) {
    double mean = 1e9 / rate;
    return arrivals == Arrivals.UNIFORM
        ? Math.max(1, Math.round(mean))
        : Math.max(1, Math.round(-Math.log(1 - random.nextDouble()) * mean));
  }

  private void send(AdmissionLog log, int node, int second, ChatRequest request) {
    log.recordSent(node, second);
    if (inFlight.get() >= MAX_IN_FLIGHT) {
      log.recordFailed(node, second, "CLIENT_BACKLOG");
      return;
    }
    inFlight.incrementAndGet();
    ClientCall<ChatRequest, ChatResponse> call =
        channels
            .get(node)
            .newCall(
                InferenceServiceGrpc.getChatMethod(),
                CallOptions.DEFAULT.withDeadlineAfter(
                    CALL_DEADLINE.toNanos(), TimeUnit.NANOSECONDS));
    call.start(
        new ClientCall.Listener<>() {
          private long tokens = -1;

          @Override
          public void onMessage(ChatResponse response) {
            tokens = response.hasUsage() ? response.getUsage().getTotalTokens() : 0;
          }

          @Override
          public void onClose(Status status, Metadata trailers) {
            if (status.isOk()) {
              log.recordAdmitted(node, second, Math.max(0, tokens));
            } else if (status.getCode() == Status.Code.RESOURCE_EXHAUSTED) {
              log.recordRefused(node, second);
            } else {
              log.recordFailed(node, second, status.getCode().name());
            }
            inFlight.decrementAndGet();
          }
        },
        copyOfHeaders());
    call.request(2);
    call.sendMessage(request);
    call.halfClose();
  }

  private Metadata copyOfHeaders() {
    // grpc-java adds its own keys to the headers it is given, so every call needs its own copy.
    Metadata md = new Metadata();
    md.merge(headers);
    return md;
  }

  private static String progressLine(AdmissionLog log, int from, int to) {
    StringBuilder line =
        new StringBuilder(String.format(Locale.ROOT, "  %4d-%4d s:", from, to));
    for (int node = 0; node < log.nodes().size(); node++) {
      long admitted = 0;
      long refused = 0;
      long failed = 0;
      for (int s = Math.max(0, from); s < Math.min(to, log.seconds()); s++) {
        admitted += log.admitted(node, s);
        refused += log.refused(node, s);
        failed += log.failed(node, s);
      }
      line.append(
          String.format(
              Locale.ROOT,
              " %s %d ok / %d refused%s;",
              log.nodes().get(node),
              admitted,
              refused,
              failed > 0 ? " / " + failed + " failed" : ""));
    }
    return line.toString();
  }

  @Override
  public void close() {
    for (ManagedChannel channel : channels) {
      channel.shutdownNow();
    }
    for (ManagedChannel channel : channels) {
      try {
        channel.awaitTermination(5, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        break;
      }
    }
    group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
  }
}
