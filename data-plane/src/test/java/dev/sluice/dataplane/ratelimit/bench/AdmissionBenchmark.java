package dev.sluice.dataplane.ratelimit.bench;

import com.google.protobuf.util.Durations;
import dev.sluice.config.v1.RateLimit;
import dev.sluice.config.v1.RateLimitDimension;
import dev.sluice.config.v1.RateLimitMetric;
import dev.sluice.config.v1.RateLimitPolicy;
import dev.sluice.dataplane.ratelimit.Admission;
import dev.sluice.dataplane.ratelimit.RateLimitTable;
import dev.sluice.dataplane.ratelimit.RateLimiter;
import dev.sluice.dataplane.ratelimit.RequestQuotaContext;
import dev.sluice.dataplane.ratelimit.Reservation;
import dev.sluice.dataplane.ratelimit.TokenEstimator;
import dev.sluice.inference.v1.ChatMessage;
import dev.sluice.inference.v1.ChatRequest;
import dev.sluice.inference.v1.ContentPart;
import dev.sluice.inference.v1.Role;
import dev.sluice.inference.v1.Usage;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Cost of the rate-limit check on the request path: admit a request against its buckets and
 * settle it, as the gateway does once per call.
 *
 * <p>Run: {@code mvn -pl data-plane test-compile}, then {@code java -cp
 * "data-plane/target/test-classes:data-plane/target/classes:$(cat cp.txt)" org.openjdk.jmh.Main
 * AdmissionBenchmark} with the test classpath from {@code mvn -pl data-plane
 * dependency:build-classpath -Dmdep.includeScope=test -Dmdep.outputFile=cp.txt}.
 *
 * <p>The typical request draws from 6 buckets: a route policy per model (requests per second), a
 * consumer policy per consumer and model (requests and tokens per minute, tokens per day) and a
 * per-key policy (requests per second). Limits are high enough never to refuse, except in {@link
 * #refuse}, which measures the refusal path (its exception and details included).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class AdmissionBenchmark {
  private RateLimiter limiter;
  private RequestQuotaContext request;
  private RequestQuotaContext overLimit;
  private Usage usage;
  private TokenEstimator estimator;
  private ChatRequest chat;

  @Setup
  public void setUp() {
    RateLimitTable table =
        RateLimitTable.compile(
            List.of(
                policy(
                    "per-model",
                    List.of(RateLimitDimension.RATE_LIMIT_DIMENSION_MODEL),
                    limit(RateLimitMetric.RATE_LIMIT_METRIC_REQUESTS, Long.MAX_VALUE / 4, Duration.ofSeconds(1))),
                policy(
                    "gold",
                    List.of(
                        RateLimitDimension.RATE_LIMIT_DIMENSION_CONSUMER,
                        RateLimitDimension.RATE_LIMIT_DIMENSION_MODEL),
                    limit(RateLimitMetric.RATE_LIMIT_METRIC_REQUESTS, Long.MAX_VALUE / 4, Duration.ofMinutes(1)),
                    limit(RateLimitMetric.RATE_LIMIT_METRIC_TOTAL_TOKENS, Long.MAX_VALUE / 4, Duration.ofMinutes(1)),
                    limit(RateLimitMetric.RATE_LIMIT_METRIC_TOTAL_TOKENS, Long.MAX_VALUE / 4, Duration.ofDays(1))),
                policy(
                    "per-key",
                    List.of(RateLimitDimension.RATE_LIMIT_DIMENSION_API_KEY),
                    limit(RateLimitMetric.RATE_LIMIT_METRIC_REQUESTS, Long.MAX_VALUE / 4, Duration.ofSeconds(1))),
                policy(
                    "tiny",
                    List.of(),
                    limit(RateLimitMetric.RATE_LIMIT_METRIC_REQUESTS, 1, Duration.ofDays(1)))));
    limiter = RateLimiter.create(() -> table, RateLimiter.Options.defaults());
    request =
        RequestQuotaContext.builder()
            .apiKey("k-3f9a1c")
            .consumer("acme-web")
            .tenant("acme")
            .model("gpt-4o")
            .addPolicies("per-model", "gold", "per-key")
            .estimatedInputTokens(800)
            .maxOutputTokens(1_000)
            .build();
    overLimit = RequestQuotaContext.builder().consumer("acme-web").addPolicies("tiny").build();
    limiter.admit(overLimit);
    usage = Usage.newBuilder().setInputTokens(812).setOutputTokens(240).setTotalTokens(1_052).build();
    estimator = TokenEstimator.cl100k();
    chat =
        ChatRequest.newBuilder()
            .setModel("gpt-4o")
            .addInstructions(ContentPart.newBuilder().setText("You are a concise assistant."))
            .addMessages(
                ChatMessage.newBuilder()
                    .setRole(Role.ROLE_USER)
                    .addParts(
                        ContentPart.newBuilder()
                            .setText("Summarize the following text in three bullet points. ".repeat(20))))
            .build();
  }

  @Benchmark
  public Reservation admitAndSettle() {
    Reservation reservation = limiter.admit(request).orThrow();
    reservation.settle(usage);
    return reservation;
  }

  /** Four threads on the same six buckets: the per-bucket critical sections contend. */
  @Benchmark
  @Threads(4)
  public Reservation admitAndSettleContended() {
    Reservation reservation = limiter.admit(request).orThrow();
    reservation.settle(usage);
    return reservation;
  }

  @Benchmark
  public Admission refuse() {
    return limiter.admit(overLimit);
  }

  /** A 1,100-character prompt counted with cl100k: the estimate admission needs. */
  @Benchmark
  public long estimatePromptTokens() {
    return estimator.estimateInputTokens(chat);
  }

  private static RateLimitPolicy policy(
      String name, List<RateLimitDimension> dimensions, RateLimit... limits) {
    return RateLimitPolicy.newBuilder()
        .setName(name)
        .addAllDimensions(dimensions)
        .addAllLimits(List.of(limits))
        .build();
  }

  private static RateLimit limit(RateLimitMetric metric, long amount, Duration window) {
    return RateLimit.newBuilder()
        .setMetric(metric)
        .setAmount(amount)
        .setWindow(Durations.fromNanos(window.toNanos()))
        .build();
  }
}
