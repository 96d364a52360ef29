package dev.sluice.dataplane.metrics;

import static java.util.Objects.requireNonNull;

import dev.sluice.inference.v1.Usage;
import io.grpc.Status;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;

/**
 * {@link GatewayMetrics} as Micrometer meters under the OpenTelemetry GenAI names, so Prometheus
 * sees the same series an OpenTelemetry SDK would export ({@code
 * gen_ai_client_operation_duration_seconds}, {@code gen_ai_client_token_usage}, ...), with the
 * buckets the conventions recommend. Gateway-specific meters live under {@code sluice.}.
 *
 * <p>Meters are cached per tag combination, so the request path does one map lookup per event.
 * Every meter of a name carries the same tag keys (Prometheus requires it); {@code error.type} is
 * empty on success.
 */
final class MicrometerGatewayMetrics implements GatewayMetrics {
  static final String OPERATION_DURATION = "gen_ai.client.operation.duration";
  static final String TOKEN_USAGE = "gen_ai.client.token.usage";
  static final String TIME_TO_FIRST_TOKEN = "gen_ai.server.time_to_first_token";
  static final String TIME_PER_OUTPUT_TOKEN = "gen_ai.server.time_per_output_token";
  static final String REQUESTS = "sluice.inference.requests";
  static final String UPSTREAM_ERRORS = "sluice.upstream.errors";
  static final String UPSTREAM_RETRIES = "sluice.upstream.retries";

  private static final Duration[] OPERATION_BUCKETS = doubling(0.01, 14);
  private static final Duration[] FIRST_TOKEN_BUCKETS =
      seconds(0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10);
  private static final Duration[] PER_TOKEN_BUCKETS =
      seconds(0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5);
  private static final double[] TOKEN_BUCKETS = powersOfFour(14);

  private record OperationKey(String operation, String provider, String model, String errorType) {}

  private record ModelKey(String operation, String provider, String model) {}

  private record TokenKey(String operation, String provider, String model, String type) {}

  private record RequestKey(String method, Status.Code code, String reason) {}

  private record BackendKey(String backend, String what) {}

  private final MeterRegistry registry;
  private final ConcurrentHashMap<OperationKey, Timer> durations = new ConcurrentHashMap<>();
  private final ConcurrentHashMap<TokenKey, DistributionSummary> tokens = new ConcurrentHashMap<>();
  private final ConcurrentHashMap<ModelKey, Timer> firstTokens = new ConcurrentHashMap<>();
  private final ConcurrentHashMap<ModelKey, Timer> perTokens = new ConcurrentHashMap<>();
  private final ConcurrentHashMap<RequestKey, Counter> requests = new ConcurrentHashMap<>();
  private final ConcurrentHashMap<BackendKey, Counter> errors = new ConcurrentHashMap<>();
  private final ConcurrentHashMap<BackendKey, Counter> retries = new ConcurrentHashMap<>();

  MicrometerGatewayMetrics(MeterRegistry registry) {
    this.registry = requireNonNull(registry, "registry");
  }

  @Override
  public void upstreamError(String backend, String failure) {
    errors
        .computeIfAbsent(
            new BackendKey(backend, failure),
            k ->
                Counter.builder(UPSTREAM_ERRORS)
                    .description("Failed upstream attempts, by backend and failure kind")
                    .tag("backend", k.backend())
                    .tag("failure", k.what())
                    .register(registry))
        .increment();
  }

  @Override
  public void attemptRepeated(String backend, AttemptKind kind) {
    retries
        .computeIfAbsent(
            new BackendKey(backend, kind.name().toLowerCase(Locale.ROOT)),
            k ->
                Counter.builder(UPSTREAM_RETRIES)
                    .description(
                        "Further attempts after a failure on a backend: retries on the same "
                            + "destination and fallbacks to the next")
                    .tag("backend", k.backend())
                    .tag("kind", k.what())
                    .register(registry))
        .increment();
  }

  @Override
  public void requestFinished(String method, Status.Code code, String reason) {
    requests
        .computeIfAbsent(
            new RequestKey(method, code, reason),
            k ->
                Counter.builder(REQUESTS)
                    .description(
                        "Inference RPCs, by method, final gRPC status and the ErrorInfo reason"
                            + " of a failure")
                    .tag("rpc.method", k.method())
                    .tag("rpc.grpc.status_code", k.code().name())
                    .tag("sluice.error.reason", k.reason())
                    .register(registry))
        .increment();
  }

  @Override
  public void operationFinished(
      String operation,
      String provider,
      String model,
      long durationNanos,
      @Nullable String errorType) {
    durations
        .computeIfAbsent(
            new OperationKey(operation, provider, model, errorType == null ? "" : errorType),
            k ->
                Timer.builder(OPERATION_DURATION)
                    .description("Duration of GenAI operations through the gateway")
                    .tags(
                        "gen_ai.operation.name", k.operation(),
                        "gen_ai.provider.name", k.provider(),
                        "gen_ai.request.model", k.model(),
                        "error.type", k.errorType())
                    .serviceLevelObjectives(OPERATION_BUCKETS)
                    .register(registry))
        .record(durationNanos, TimeUnit.NANOSECONDS);
  }

  @Override
  public void tokensUsed(String operation, String provider, String model, Usage usage) {
    tokenSummary(operation, provider, model, "input").record(usage.getInputTokens());
    if (!"embeddings".equals(operation)) {
      tokenSummary(operation, provider, model, "output").record(usage.getOutputTokens());
    }
  }

  private DistributionSummary tokenSummary(
      String operation, String provider, String model, String type) {
    return tokens.computeIfAbsent(
        new TokenKey(operation, provider, model, type),
        k ->
            DistributionSummary.builder(TOKEN_USAGE)
                .description("Tokens used per GenAI operation, by token type")
                .tags(
                    "gen_ai.operation.name", k.operation(),
                    "gen_ai.provider.name", k.provider(),
                    "gen_ai.request.model", k.model(),
                    "gen_ai.token.type", k.type())
                .serviceLevelObjectives(TOKEN_BUCKETS)
                .register(registry));
  }

  @Override
  public void timeToFirstToken(String operation, String provider, String model, long nanos) {
    modelTimer(
            firstTokens,
            TIME_TO_FIRST_TOKEN,
            "Time to the first output token",
            FIRST_TOKEN_BUCKETS,
            operation,
            provider,
            model)
        .record(nanos, TimeUnit.NANOSECONDS);
  }

  @Override
  public void timePerOutputToken(String operation, String provider, String model, long nanos) {
    modelTimer(
            perTokens,
            TIME_PER_OUTPUT_TOKEN,
            "Time per output token after the first",
            PER_TOKEN_BUCKETS,
            operation,
            provider,
            model)
        .record(nanos, TimeUnit.NANOSECONDS);
  }

  private Timer modelTimer(
      ConcurrentHashMap<ModelKey, Timer> cache,
      String name,
      String description,
      Duration[] buckets,
      String operation,
      String provider,
      String model) {
    return cache.computeIfAbsent(
        new ModelKey(operation, provider, model),
        k ->
            Timer.builder(name)
                .description(description)
                .tags(
                    "gen_ai.operation.name", k.operation(),
                    "gen_ai.provider.name", k.provider(),
                    "gen_ai.request.model", k.model())
                .serviceLevelObjectives(buckets)
                .register(registry));
  }

  private static Duration[] doubling(double firstSeconds, int count) {
    Duration[] buckets = new Duration[count];
    double s = firstSeconds;
    for (int i = 0; i < count; i++, s *= 2) {
      buckets[i] = Duration.ofNanos(Math.round(s * 1e9));
    }
    return buckets;
  }

  private static Duration[] seconds(double... values) {
    Duration[] buckets = new Duration[values.length];
    for (int i = 0; i < values.length; i++) {
      buckets[i] = Duration.ofNanos(Math.round(values[i] * 1e9));
    }
    return buckets;
  }

  private static double[] powersOfFour(int count) {
    double[] buckets = new double[count];
    double v = 1;
    for (int i = 0; i < count; i++, v *= 4) {
      buckets[i] = v;
    }
    return buckets;
  }
}
