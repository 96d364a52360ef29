package dev.sluice.bench.load;

import dev.sluice.bench.internal.DurationConverter;
import dev.sluice.bench.internal.Json;
import dev.sluice.bench.internal.LatencySummary;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import org.HdrHistogram.Histogram;
import org.jspecify.annotations.Nullable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The load generator's command line. One invocation is one bounded run against one endpoint:
 *
 * <pre>
 * # saturation of the gateway: 64 workers in closed loop, unary chat
 * java -cp benchmarks/target/sluice-benchmarks.jar dev.sluice.bench.load.LoadGen \
 *     --url grpc://127.0.0.1:7443 --call chat --mode closed --concurrency 64 \
 *     --warmup 10s --duration 20s
 * # added latency: the same open-loop rate at the gateway and straight at the upstream
 * ... --url grpc://127.0.0.1:7443 --client raw --mode open --rate 5000
 * ... --url http://127.0.0.1:9001/v1 --mode open --rate 5000
 * </pre>
 *
 * <p>Two gRPC clients: {@code grpc-java} ({@link GrpcTarget}, the default: a real gRPC stack, the
 * reference for correctness) and {@code raw} ({@link RawGrpcTarget}: pre-encoded requests on
 * Netty's HTTP/2 codec, responses judged by their {@code grpc-status} trailer). The raw client
 * costs a fraction of grpc-java's CPU per call, so on a core shared with the fake upstream it can
 * offer ~10,000 calls/s open loop and still measure the gateway rather than its own queueing: use
 * it for the added-latency and saturation figures of unary calls.
 *
 * <p>Prints a text summary and, with {@code --json FILE}, appends the {@link LoadReport} as one
 * JSON line. Exits non-zero when nothing worked (no call succeeded and no token arrived). Only
 * loopback addresses are accepted: these are benchmarks of a machine against itself, not load tests
 * of someone else's service.
 */
@Command(
    name = "loadgen",
    mixinStandardHelpOptions = true,
    description =
        "Open- or closed-loop load against Sluice gRPC or an OpenAI-compatible HTTP endpoint.")
public final class LoadGen implements Callable<Integer> {
  @Option(
      names = "--url",
      required = true,
      description =
          "grpc://127.0.0.1:PORT for the gateway, or http://127.0.0.1:PORT/v1 for an"
              + " OpenAI-compatible server (the path is the API base; /chat/completions or"
              + " /embeddings is appended).")
  String url = "";

  @Option(names = "--call", description = "chat | stream | embed (default: ${DEFAULT-VALUE}).")
  String call = "chat";

  @Option(
      names = "--mode",
      description = "open (fixed rate) | closed (N workers) (default: ${DEFAULT-VALUE}).")
  String mode = "closed";

  @Option(
      names = "--client",
      description =
          "gRPC client: grpc-java (grpc-java stubs, the reference) | raw (pre-encoded gRPC on"
              + " Netty's HTTP/2 codec, epoll where available: a third or less of grpc-java's CPU"
              + " per call; use it for unary latency and saturation at high rates). Outcomes are"
              + " the same status code names; raw also reports calls that waited for a stream"
              + " slot (MAX_CONCURRENT_STREAMS) as client-queued. With epoll and"
              + " --client-threads 1, raw and the HTTP client pace the open loop with their event"
              + " loop's timers. Ignored for http:// URLs (default: ${DEFAULT-VALUE}).")
  String client = "grpc-java";

  @Option(names = "--rate", description = "Open loop: calls per second.")
  double rate = 1000;

  @Option(
      names = "--concurrency",
      description = "Closed loop: number of workers (default: ${DEFAULT-VALUE}).")
  int concurrency = 16;

  @Option(
      names = "--connections",
      description =
          "gRPC channels or HTTP connections. 0 = auto: gRPC one channel per 100 concurrent calls"
              + " (at least 2), HTTP one connection per worker (closed) or 64 (open).")
  int connections = 0;

  @Option(
      names = "--duration",
      converter = DurationConverter.class,
      description = "Measurement window (default: 10s).")
  Duration duration = Duration.ofSeconds(10);

  @Option(
      names = "--warmup",
      converter = DurationConverter.class,
      description = "Unmeasured warm-up before the window (default: 5s).")
  Duration warmup = Duration.ofSeconds(5);

  @Option(
      names = "--drain",
      converter = DurationConverter.class,
      description = "How long to wait for calls in flight after the window (default: 5s).")
  Duration drain = Duration.ofSeconds(5);

  @Option(
      names = "--ramp",
      converter = DurationConverter.class,
      description = "Closed loop: spread worker starts over this time (default: 0s).")
  Duration ramp = Duration.ZERO;

  @Option(
      names = "--deadline",
      converter = DurationConverter.class,
      description = "gRPC deadline per call (default: 120s).")
  Duration deadline = Duration.ofSeconds(120);

  @Option(
      names = "--max-in-flight",
      description =
          "Open loop: slots finding this many calls open are not sent (default: ${DEFAULT-VALUE}).")
  int maxInFlight = 20_000;

  @Option(names = "--model", description = "Model name (default: ${DEFAULT-VALUE}).")
  String model = "bench";

  @Option(
      names = "--max-tokens",
      description = "Tokens asked for per call (default: ${DEFAULT-VALUE}).")
  int maxTokens = 16;

  @Option(
      names = "--api-key",
      description =
          "Sent as 'authorization: Bearer KEY' (HTTP default: sk-bench; gRPC default: none).")
  @Nullable String apiKey;

  @Option(
      names = "--header",
      description = "Extra header or gRPC metadata, 'name: value'. Repeatable.")
  List<String> headers = new ArrayList<>();

  @Option(
      names = "--client-threads",
      description = "Client event-loop threads (default: ${DEFAULT-VALUE}).")
  int clientThreads = 1;

  @Option(
      names = "--watch",
      description =
          "Process to sample over the window, NAME=PID (CPU, RSS). Repeatable; this client is"
              + " always sampled.")
  Map<String, Long> watch = new LinkedHashMap<>();

  @Option(names = "--label", description = "Label of this run in the output.")
  String label = "";

  @Option(names = "--json", description = "Append the result as one JSON line to this file.")
  @Nullable Path json;

  @Option(
      names = "--timeline",
      description =
          "Write the measured calls per 100 ms of scheduled start here (CSV: slot start in ms,"
              + " calls, calls over 1 ms, largest latency in us), to tell stalls from a spread"
              + " tail.")
  @Nullable Path timeline;

  public static void main(String[] args) {
    System.exit(new CommandLine(new LoadGen()).execute(args));
  }

  static void writeTimeline(Path file, Measurement m) throws IOException {
    StringBuilder csv = new StringBuilder("slot_ms,calls,calls_over_1ms,max_latency_us\n");
    for (int i = 0; i < m.slotCalls.length(); i++) {
      csv.append(i * Measurement.SLOT_NANOS / 1_000_000)
          .append(',')
          .append(m.slotCalls.get(i))
          .append(',')
          .append(m.slotSlowCalls.get(i))
          .append(',')
          .append(m.slotMaxNanos.get(i) / 1_000)
          .append('\n');
    }
    Files.writeString(file, csv, StandardCharsets.US_ASCII);
  }

  @Override
  public Integer call() throws Exception {
    CallKind kind = CallKind.valueOf(call.toUpperCase(Locale.ROOT));
    boolean open =
        switch (mode) {
          case "open" -> true;
          case "closed" -> false;
          default ->
              throw new CommandLine.ParameterException(
                  new CommandLine(this), "--mode: " + mode + " (expected: open or closed)");
        };
    if (open && !(rate > 0)) {
      throw new IllegalArgumentException("--rate: " + rate + " (expected: > 0)");
    }
    if (!open && concurrency < 1) {
      throw new IllegalArgumentException("--concurrency: " + concurrency + " (expected: >= 1)");
    }
    URI uri = URI.create(url);
    InetSocketAddress address = loopback(uri);
    Map<String, String> hdrs = parseHeaders();
    if (apiKey != null) {
      hdrs.put("authorization", "Bearer " + apiKey);
    }
    boolean grpc = "grpc".equals(uri.getScheme());
    int conns = connections > 0 ? connections : autoConnections(grpc, open);
    boolean raw =
        switch (client) {
          case "grpc-java" -> false;
          case "raw" -> true;
          default ->
              throw new CommandLine.ParameterException(
                  new CommandLine(this), "--client: " + client + " (expected: grpc-java or raw)");
        };
    String clientName = !grpc ? "http" : raw ? "raw" : "grpc-java";
    LoadTarget target =
        grpc && raw
            ? new RawGrpcTarget(
                address, conns, clientThreads, kind, model, maxTokens, hdrs, deadline)
            : grpc
                ? new GrpcTarget(
                    address, conns, clientThreads, kind, model, maxTokens, hdrs, deadline)
                : new HttpTarget(
                    address,
                    uri.getRawPath() == null || uri.getRawPath().isEmpty()
                        ? "/v1"
                        : uri.getRawPath(),
                    conns,
                    clientThreads,
                    kind,
                    model,
                    maxTokens,
                    hdrs);
    LoadRun.Plan plan =
        new LoadRun.Plan(open, rate, concurrency, warmup, duration, drain, ramp, maxInFlight);
    long start = System.nanoTime() + 20_000_000L;
    long windowStart = start + warmup.toNanos();
    ProcessWatch watcher = ProcessWatch.start(watch, windowStart, windowStart + duration.toNanos());
    LoadRun.Outcome outcome = LoadRun.run(plan, target, start);
    long queued = target instanceof RawGrpcTarget r ? r.queuedCalls() : 0;
    LoadReport report = report(kind, open, conns, clientName, queued, outcome, watcher.finish());
    System.out.print(report.text());
    if (json != null) {
      Json.appendLine(json, report);
    }
    if (timeline != null) {
      writeTimeline(timeline, outcome.measurement());
    }
    // Failure means nothing worked: no call succeeded and, for streams held open past the window
    // on purpose, no token arrived either.
    boolean worked =
        report.outcomes().getOrDefault(LoadTarget.CallSink.OK, 0L) > 0
            || (report.stream() != null && report.stream().tokensInWindow() > 0);
    return worked ? 0 : 1;
  }

  private int autoConnections(boolean grpc, boolean open) {
    if (grpc) {
      return Math.max(2, open ? 4 : (concurrency + 99) / 100);
    }
    return open ? 64 : concurrency;
  }

  private LoadReport report(
      CallKind kind,
      boolean open,
      int conns,
      String clientName,
      long queued,
      LoadRun.Outcome o,
      List<ProcessWatch.Figures> procs) {
    Measurement m = o.measurement();
    double window = m.windowSeconds();
    long ok = m.okInWindow.sum();
    long tokens = m.tokensInWindow.sum();
    Map<String, Long> outcomes = m.outcomes();
    long errors =
        outcomes.entrySet().stream()
            .filter(e -> !e.getKey().equals(LoadTarget.CallSink.OK))
            .mapToLong(Map.Entry::getValue)
            .sum();
    LoadReport.StreamFigures stream = null;
    if (kind.streaming()) {
      Histogram perStream = Measurement.snapshot(m.streamTokensPerSecond);
      stream =
          new LoadReport.StreamFigures(
              tokens,
              round1(tokens / window),
              LatencySummary.ofNanos(Measurement.snapshot(m.ttft)),
              LatencySummary.ofNanos(Measurement.snapshot(m.interTokenGap)),
              LatencySummary.ofNanos(Measurement.snapshot(m.streamDuration)),
              perStream.getTotalCount() == 0 ? 0 : perStream.getValueAtPercentile(50),
              perStream.getTotalCount() == 0 ? 0 : perStream.getValueAtPercentile(10));
    }
    List<LoadReport.Derived> derived = new ArrayList<>();
    for (ProcessWatch.Figures p : procs) {
      double cpuMicros = p.cpuSeconds() * 1e6;
      derived.add(
          new LoadReport.Derived(
              p.name(),
              ok == 0 ? 0 : round2(cpuMicros / ok),
              tokens == 0 ? 0 : round2(cpuMicros / tokens)));
    }
    return new LoadReport(
        label.isEmpty() ? kind.name().toLowerCase(Locale.ROOT) : label,
        url,
        kind.name().toLowerCase(Locale.ROOT),
        open ? "open" : "closed",
        open ? rate : 0,
        open ? 0 : concurrency,
        conns,
        clientName,
        queued,
        o.pacing(),
        warmup.toMillis() / 1000.0,
        duration.toMillis() / 1000.0,
        model,
        maxTokens,
        m.started.sum(),
        m.measured.sum(),
        outcomes,
        errors,
        o.unfinished(),
        m.maxInFlight.get(),
        round1(ok / window),
        LatencySummary.ofNanos(Measurement.snapshot(m.latency)),
        LatencySummary.ofNanos(Measurement.snapshot(m.serviceTime)),
        stream,
        procs,
        derived);
  }

  private Map<String, String> parseHeaders() {
    Map<String, String> out = new LinkedHashMap<>();
    for (String h : headers) {
      int colon = h.indexOf(':');
      if (colon <= 0) {
        throw new IllegalArgumentException("--header: " + h + " (expected: 'name: value')");
      }
      out.put(h.substring(0, colon).trim().toLowerCase(Locale.ROOT), h.substring(colon + 1).trim());
    }
    return out;
  }

  /** The socket address of {@code uri}, which must be a loopback address. */
  static InetSocketAddress loopback(URI uri) throws UnknownHostException {
    String scheme = uri.getScheme();
    if (!"grpc".equals(scheme) && !"http".equals(scheme)) {
      throw new IllegalArgumentException(
          "--url: " + uri + " (expected: grpc://HOST:PORT or http://HOST:PORT/PATH)");
    }
    if (uri.getHost() == null || uri.getPort() <= 0) {
      throw new IllegalArgumentException(
          "--url: " + uri + " (expected: an explicit host and port)");
    }
    InetAddress a = InetAddress.getByName(uri.getHost());
    if (!a.isLoopbackAddress()) {
      throw new IllegalArgumentException(
          "--url: "
              + uri
              + " (expected: a loopback address such as 127.0.0.1; benchmarks never load other"
              + " hosts)");
    }
    return new InetSocketAddress(a, uri.getPort());
  }

  private static double round1(double v) {
    return Math.round(v * 10) / 10.0;
  }

  private static double round2(double v) {
    return Math.round(v * 100) / 100.0;
  }
}
