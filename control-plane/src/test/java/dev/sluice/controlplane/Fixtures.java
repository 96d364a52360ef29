package dev.sluice.controlplane;

import dev.sluice.config.v1.Backend;
import dev.sluice.config.v1.BackendKind;
import dev.sluice.config.v1.BackendTarget;
import dev.sluice.config.v1.Consumer;
import dev.sluice.config.v1.MockSettings;
import dev.sluice.config.v1.Model;
import dev.sluice.config.v1.ModelVersion;
import dev.sluice.config.v1.Resource;
import dev.sluice.config.v1.ResourceKind;
import dev.sluice.config.v1.ResourceRef;
import dev.sluice.type.v1.ModelCapability;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/** Small valid resources and helpers shared by the control plane's tests. */
public final class Fixtures {
  public static final Duration TIMEOUT = Duration.ofSeconds(10);

  private Fixtures() {}

  /** A MOCK backend. */
  public static Resource mockBackend(String name) {
    return Resource.newBuilder()
        .setBackend(
            Backend.newBuilder()
                .setName(name)
                .setKind(BackendKind.BACKEND_KIND_MOCK)
                .setMock(MockSettings.newBuilder().setTokensPerResponse(8)))
        .build();
  }

  /** A MOCK backend with a description, to make a different revision of the same resource. */
  public static Resource mockBackend(String name, String description) {
    Resource r = mockBackend(name);
    return r.toBuilder().setBackend(r.getBackend().toBuilder().setDescription(description)).build();
  }

  /** A chat model with one version {@code v1} on {@code backend}. */
  public static Resource model(String name, String backend) {
    return Resource.newBuilder()
        .setModel(
            Model.newBuilder()
                .setName(name)
                .addCapabilities(ModelCapability.MODEL_CAPABILITY_CHAT)
                .addVersions(
                    ModelVersion.newBuilder()
                        .setName("v1")
                        .setUpstreamModel("mock-1")
                        .addBackends(BackendTarget.newBuilder().setBackend(backend))))
        .build();
  }

  /** A consumer granted every model. */
  public static Resource consumer(String name) {
    return Resource.newBuilder()
        .setConsumer(Consumer.newBuilder().setName(name).addModels("*"))
        .build();
  }

  public static ResourceRef ref(ResourceKind kind, String name) {
    return ResourceRef.newBuilder().setKind(kind).setName(name).build();
  }

  /** Waits a bounded time for {@code future}; unwraps its failure. */
  public static <T> T await(CompletableFuture<T> future) {
    try {
      return future.get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
    } catch (ExecutionException e) {
      if (e.getCause() instanceof RuntimeException re) {
        throw re;
      }
      throw new IllegalStateException(e.getCause());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    } catch (TimeoutException e) {
      throw new AssertionError("no result within " + TIMEOUT, e);
    }
  }
}
