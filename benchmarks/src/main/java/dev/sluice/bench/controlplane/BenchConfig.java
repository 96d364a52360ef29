package dev.sluice.bench.controlplane;

import dev.sluice.admin.v1.ApplyChangesRequest;
import dev.sluice.admin.v1.Change;
import dev.sluice.config.v1.Backend;
import dev.sluice.config.v1.BackendKind;
import dev.sluice.config.v1.BackendTarget;
import dev.sluice.config.v1.MockSettings;
import dev.sluice.config.v1.Model;
import dev.sluice.config.v1.ModelVersion;
import dev.sluice.config.v1.Resource;
import dev.sluice.config.v1.Route;
import dev.sluice.config.v1.RouteDestination;
import dev.sluice.config.v1.RouteMatch;
import java.util.ArrayList;
import java.util.List;

/**
 * The benchmark's config: a valid, realistic-looking set of resources of a given size, and the
 * small change applied on every iteration.
 *
 * <p>Shape: 2 % MOCK backends (no network), the rest split evenly between models (one version on
 * one backend, with labels and a description like an operator would write) and routes (one per
 * model). Every reference resolves, so the control plane validates the whole graph on each apply,
 * as it would in production.
 */
final class BenchConfig {
  /** Most changes one ApplyChanges may carry. */
  static final int MAX_CHANGES_PER_APPLY = 100;

  private BenchConfig() {}

  /** {@code total} resources (at least 3). */
  static List<Resource> resources(int total) {
    if (total < 3) {
      throw new IllegalArgumentException("total: " + total + " (expected: >= 3)");
    }
    int backends = Math.max(1, total / 50);
    int models = (total - backends + 1) / 2;
    int routes = total - backends - models;
    List<Resource> out = new ArrayList<>(total);
    for (int b = 0; b < backends; b++) {
      out.add(
          Resource.newBuilder()
              .setBackend(
                  Backend.newBuilder()
                      .setName(backendName(b))
                      .setDescription("Benchmark backend " + b)
                      .putLabels("team", "bench")
                      .setKind(BackendKind.BACKEND_KIND_MOCK)
                      .setMock(MockSettings.newBuilder().setTokensPerResponse(16)))
              .build());
    }
    for (int m = 0; m < models; m++) {
      out.add(model(m, backends, "Benchmark model " + m));
    }
    for (int r = 0; r < routes; r++) {
      String model = modelName(r % models);
      out.add(
          Resource.newBuilder()
              .setRoute(
                  Route.newBuilder()
                      .setName("route-" + r)
                      .setDescription("Route for " + model)
                      .putLabels("team", "bench")
                      .setMatch(RouteMatch.newBuilder().addModels(model))
                      .addDestinations(
                          RouteDestination.newBuilder().setModel(model).setWeight(100)))
              .build());
    }
    return out;
  }

  /** The change of iteration {@code i}: model-0's description, so exactly one resource changes. */
  static ApplyChangesRequest change(int i, int totalResources) {
    int backends = Math.max(1, totalResources / 50);
    return ApplyChangesRequest.newBuilder()
        .addChanges(
            Change.newBuilder().setUpsert(model(0, backends, "Benchmark model 0, revision " + i)))
        .setAuthor("sluice-bench")
        .setReason("fan-out benchmark iteration " + i)
        .build();
  }

  /** The initial load, in as few ApplyChanges as the per-request limit allows. */
  static List<ApplyChangesRequest> load(List<Resource> resources) {
    List<ApplyChangesRequest> out = new ArrayList<>();
    for (int i = 0; i < resources.size(); i += MAX_CHANGES_PER_APPLY) {
      ApplyChangesRequest.Builder req =
          ApplyChangesRequest.newBuilder()
              .setAuthor("sluice-bench")
              .setReason("benchmark config load");
      // Backends come first and models before routes, so every batch references only resources
      // that exist already or are in the same batch.
      for (Resource r :
          resources.subList(i, Math.min(resources.size(), i + MAX_CHANGES_PER_APPLY))) {
        req.addChanges(Change.newBuilder().setUpsert(r));
      }
      out.add(req.build());
    }
    return out;
  }

  private static Resource model(int m, int backends, String description) {
    return Resource.newBuilder()
        .setModel(
            Model.newBuilder()
                .setName(modelName(m))
                .setDescription(description)
                .putLabels("team", "bench")
                .putLabels("tier", m % 2 == 0 ? "standard" : "premium")
                .addVersions(
                    ModelVersion.newBuilder()
                        .setName("v1")
                        .setUpstreamModel("mock-model-" + m)
                        .addBackends(
                            BackendTarget.newBuilder()
                                .setBackend(backendName(m % backends))
                                .setWeight(1)))
                .setDefaultVersion("v1")
                .setContextWindowTokens(128_000)
                .setMaxOutputTokens(4_096))
        .build();
  }

  private static String backendName(int b) {
    return "backend-" + b;
  }

  private static String modelName(int m) {
    return "model-" + m;
  }
}
