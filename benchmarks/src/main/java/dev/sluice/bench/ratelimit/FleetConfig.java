package dev.sluice.bench.ratelimit;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.util.Durations;
import dev.sluice.admin.v1.ApplyChangesRequest;
import dev.sluice.admin.v1.Change;
import dev.sluice.admin.v1.CreateApiKeyRequest;
import dev.sluice.admin.v1.CreateApiKeyResponse;
import dev.sluice.admin.v1.WaitForFleetVersionRequest;
import dev.sluice.admin.v1.WaitForFleetVersionResponse;
import dev.sluice.bench.internal.LoopbackAdmin;
import dev.sluice.config.v1.Backend;
import dev.sluice.config.v1.BackendKind;
import dev.sluice.config.v1.BackendTarget;
import dev.sluice.config.v1.Consumer;
import dev.sluice.config.v1.Model;
import dev.sluice.config.v1.ModelVersion;
import dev.sluice.config.v1.RateLimit;
import dev.sluice.config.v1.RateLimitDimension;
import dev.sluice.config.v1.RateLimitMetric;
import dev.sluice.config.v1.RateLimitMode;
import dev.sluice.config.v1.RateLimitPolicy;
import dev.sluice.config.v1.Resource;
import dev.sluice.config.v1.Route;
import dev.sluice.config.v1.RouteMatch;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;

/**
 * The benchmark's config, applied through the admin API as an operator would: a backend on the
 * fake upstream, a model on it, a route for the model that names the fleet-wide policy, the policy
 * (per consumer and model: {@code requestsPerMinute} requests and {@code tokensPerMinute} total
 * tokens per 60 s window), and a consumer allowed the model, with an API key from {@code
 * CreateApiKey}. Every request of the benchmark therefore draws from the same two buckets, whose
 * shares the control plane's allocator divides among the data planes.
 */
final class FleetConfig {
  static final String MODEL = "ratelimit-bench";
  static final String POLICY = "fleet-limit";
  static final String CONSUMER = "ratelimit-bench";
  private static final Duration CALL_TIMEOUT = Duration.ofSeconds(30);

  private FleetConfig() {}

  /**
   * Applies the config, creates the API key, waits until every data plane of {@code fleet}
   * serves the resulting version, and returns the key.
   *
   * @param upstreamBaseUrl the fake upstream's OpenAI base URL, ending in {@code /v1}
   */
  static String apply(
      GatewayFleet fleet,
      String upstreamBaseUrl,
      long requestsPerMinute,
      long tokensPerMinute,
      double burstPercent)
      throws InterruptedException {
    requireNonNull(upstreamBaseUrl, "upstreamBaseUrl");
    InetSocketAddress cp = fleet.controlPlaneAddress();
    try (LoopbackAdmin admin = LoopbackAdmin.connect(cp.getPort(), fleet.adminToken())) {
      ApplyChangesRequest.Builder request =
          ApplyChangesRequest.newBuilder()
              .setAuthor("ratelimit-bench")
              .setReason("rate-limit accuracy benchmark");
      for (Resource resource :
          resources(upstreamBaseUrl, requestsPerMinute, tokensPerMinute, burstPercent)) {
        request.addChanges(Change.newBuilder().setUpsert(resource));
      }
      admin.within(CALL_TIMEOUT).applyChanges(request.build());
      CreateApiKeyResponse created =
          admin
              .within(CALL_TIMEOUT)
              .createApiKey(
                  CreateApiKeyRequest.newBuilder()
                      .setConsumer(CONSUMER)
                      .setName("ratelimit-bench-key")
                      .setAuthor("ratelimit-bench")
                      .build());
      WaitForFleetVersionResponse waited =
          admin
              .within(CALL_TIMEOUT.plusSeconds(10))
              .waitForFleetVersion(
                  WaitForFleetVersionRequest.newBuilder()
                      .setConfigVersion(created.getConfigVersion())
                      .setTimeout(Durations.fromMillis(CALL_TIMEOUT.toMillis()))
                      .build());
      int expected = fleet.dataPlanes().size();
      if (!waited.getConverged() || waited.getConvergedNodeCount() != expected) {
        throw new IllegalStateException(
            "config version " + created.getConfigVersion() + " reached "
                + waited.getConvergedNodeCount() + " of " + waited.getSelectedNodeCount()
                + " connected data planes (expected: " + expected + "); lagging: "
                + waited.getLaggingNodesList());
      }
      return created.getKey();
    }
  }

  /**
   * The benchmark's fleet-wide limit, per consumer and model; paced with a burst of {@code
   * burstPercent} of each amount ({@code RateLimit.burst}), or not paced at 0.
   */
  static RateLimitPolicy policy(long requestsPerMinute, long tokensPerMinute, double burstPercent) {
    com.google.protobuf.Duration minute = Durations.fromSeconds(60);
    return RateLimitPolicy.newBuilder()
        .setName(POLICY)
        .setDescription("The benchmark's fleet-wide limit, per consumer and model.")
        .addDimensions(RateLimitDimension.RATE_LIMIT_DIMENSION_CONSUMER)
        .addDimensions(RateLimitDimension.RATE_LIMIT_DIMENSION_MODEL)
        .addLimits(
            RateLimit.newBuilder()
                .setMetric(RateLimitMetric.RATE_LIMIT_METRIC_REQUESTS)
                .setAmount(requestsPerMinute)
                .setBurst(Math.round(requestsPerMinute * burstPercent / 100))
                .setWindow(minute))
        .addLimits(
            RateLimit.newBuilder()
                .setMetric(RateLimitMetric.RATE_LIMIT_METRIC_TOTAL_TOKENS)
                .setAmount(tokensPerMinute)
                .setBurst(Math.round(tokensPerMinute * burstPercent / 100))
                .setWindow(minute))
        .setMode(RateLimitMode.RATE_LIMIT_MODE_ENFORCE)
        .build();
  }

  /** The resources, in an order the validator accepts within one change set. */
  static List<Resource> resources(
      String upstreamBaseUrl, long requestsPerMinute, long tokensPerMinute, double burstPercent) {
    Backend backend =
        Backend.newBuilder()
            .setName("fake-upstream")
            .setKind(BackendKind.BACKEND_KIND_OPENAI_COMPATIBLE)
            .setBaseUrl(upstreamBaseUrl)
            .build();
    Model model =
        Model.newBuilder()
            .setName(MODEL)
            .addVersions(
                ModelVersion.newBuilder()
                    .setName("v1")
                    .setUpstreamModel("mock-model")
                    .addBackends(BackendTarget.newBuilder().setBackend(backend.getName())))
            .setDefaultVersion("v1")
            .build();
    RateLimitPolicy policy = policy(requestsPerMinute, tokensPerMinute, burstPercent);
    Route route =
        Route.newBuilder()
            .setName(MODEL)
            .setDescription("Requests for the benchmark model draw from the fleet-wide limit.")
            .setMatch(RouteMatch.newBuilder().addModels(MODEL))
            .addRateLimitPolicies(POLICY)
            .build();
    Consumer consumer = Consumer.newBuilder().setName(CONSUMER).addModels(MODEL).build();
    return List.of(
        Resource.newBuilder().setBackend(backend).build(),
        Resource.newBuilder().setModel(model).build(),
        Resource.newBuilder().setRateLimitPolicy(policy).build(),
        Resource.newBuilder().setRoute(route).build(),
        Resource.newBuilder().setConsumer(consumer).build());
  }
}
