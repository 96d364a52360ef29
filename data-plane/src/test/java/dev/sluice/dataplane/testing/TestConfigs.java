package dev.sluice.dataplane.testing;

import com.google.common.hash.Hashing;
import com.google.protobuf.ByteString;
import com.google.protobuf.Timestamp;
import dev.sluice.config.v1.ApiKey;
import dev.sluice.config.v1.ApiKeyHash;
import dev.sluice.config.v1.ApiKeyHashAlgorithm;
import dev.sluice.config.v1.Backend;
import dev.sluice.config.v1.BackendKind;
import dev.sluice.config.v1.BackendTarget;
import dev.sluice.config.v1.ConfigSnapshot;
import dev.sluice.config.v1.Consumer;
import dev.sluice.config.v1.JwtIssuer;
import dev.sluice.config.v1.Model;
import dev.sluice.config.v1.ModelVersion;
import dev.sluice.config.v1.PromptTemplate;
import dev.sluice.config.v1.RateLimitPolicy;
import dev.sluice.config.v1.Resource;
import dev.sluice.config.v1.Route;
import dev.sluice.dataplane.config.RuntimeConfig;
import dev.sluice.dataplane.provider.ChatCall;
import dev.sluice.dataplane.provider.ChatStreamListener;
import dev.sluice.dataplane.provider.EmbedCall;
import dev.sluice.dataplane.provider.ProviderAdapter;
import dev.sluice.dataplane.provider.UpstreamStream;
import dev.sluice.dataplane.routing.ProviderLookup;
import dev.sluice.discovery.v1.ConfigSource;
import dev.sluice.inference.v1.ChatResponse;
import dev.sluice.inference.v1.EmbedResponse;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/** Builders of config resources and snapshots for tests. */
public final class TestConfigs {
  private TestConfigs() {}

  public static Backend backend(String name) {
    return Backend.newBuilder()
        .setName(name)
        .setKind(BackendKind.BACKEND_KIND_OPENAI_COMPATIBLE)
        .setBaseUrl("http://127.0.0.1:1/v1")
        .build();
  }

  /** A model with one version {@code v1} served by {@code backends} with equal weights. */
  public static Model model(String name, String... backends) {
    return Model.newBuilder().setName(name).addVersions(version("v1", backends)).build();
  }

  /** A version whose backends have equal weights and upstream model {@code up-<version>}. */
  public static ModelVersion version(String name, String... backends) {
    ModelVersion.Builder v = ModelVersion.newBuilder().setName(name).setUpstreamModel("up-" + name);
    for (String backend : backends) {
      v.addBackends(BackendTarget.newBuilder().setBackend(backend));
    }
    return v.build();
  }

  public static Consumer consumer(String name, String... models) {
    return Consumer.newBuilder().setName(name).addAllModels(Arrays.asList(models)).build();
  }

  /** An API key of {@code consumer} whose plain form is {@link #plainKey}(name, secret). */
  public static ApiKey apiKey(String name, String consumer, String secret) {
    byte[] salt = ("salt-of-" + name + "-0123456789").getBytes(StandardCharsets.UTF_8);
    byte[] digest =
        Hashing.sha256()
            .newHasher()
            .putBytes(salt)
            .putBytes(secret.getBytes(StandardCharsets.UTF_8))
            .hash()
            .asBytes();
    return ApiKey.newBuilder()
        .setName(name)
        .setConsumer(consumer)
        .setHash(
            ApiKeyHash.newBuilder()
                .setAlgorithm(ApiKeyHashAlgorithm.API_KEY_HASH_ALGORITHM_SHA256)
                .setSalt(ByteString.copyFrom(salt))
                .setDigest(ByteString.copyFrom(digest)))
        .build();
  }

  public static ApiKey expiring(ApiKey key, Instant when) {
    return key.toBuilder()
        .setExpireTime(
            Timestamp.newBuilder().setSeconds(when.getEpochSecond()).setNanos(when.getNano()))
        .build();
  }

  public static String plainKey(String name, String secret) {
    return "sk-sluice-" + name + "." + secret;
  }

  public static Resource resource(Object r) {
    Resource.Builder b = Resource.newBuilder();
    if (r instanceof Backend x) {
      b.setBackend(x);
    } else if (r instanceof Model x) {
      b.setModel(x);
    } else if (r instanceof Route x) {
      b.setRoute(x);
    } else if (r instanceof Consumer x) {
      b.setConsumer(x);
    } else if (r instanceof ApiKey x) {
      b.setApiKey(x);
    } else if (r instanceof PromptTemplate x) {
      b.setPromptTemplate(x);
    } else if (r instanceof RateLimitPolicy x) {
      b.setRateLimitPolicy(x);
    } else if (r instanceof JwtIssuer x) {
      b.setJwtIssuer(x);
    } else {
      throw new IllegalArgumentException("not a resource: " + r);
    }
    return b.build();
  }

  /** A snapshot of {@code resources} at {@code version}, with a digest over its content. */
  public static ConfigSnapshot snapshot(long version, Object... resources) {
    return snapshot(version, Arrays.asList(resources));
  }

  public static ConfigSnapshot snapshot(long version, List<?> resources) {
    ConfigSnapshot.Builder b = ConfigSnapshot.newBuilder().setVersion(version);
    for (Object r : resources) {
      b.addResources(r instanceof Resource res ? res : resource(r));
    }
    String digest = Hashing.sha256().hashBytes(b.build().toByteArray()).toString();
    return b.setDigest(digest).build();
  }

  /** {@code <epoch>.<version>} as the control plane writes it, with epoch {@code 1a}. */
  public static String versionInfo(long version) {
    return "1a." + version;
  }

  public static RuntimeConfig runtimeConfig(long version, Object... resources) {
    return RuntimeConfig.build(
        versionInfo(version),
        snapshot(version, resources),
        ConfigSource.CONFIG_SOURCE_CONTROL_PLANE,
        null,
        EVERY_KIND);
  }

  /**
   * A provider lookup with an adapter for every backend kind, for tests that build configs but make
   * no upstream calls: every call on its adapter fails.
   */
  public static final ProviderLookup EVERY_KIND = kind -> NoCalls.INSTANCE;

  /** A lookup with adapters for every backend kind except {@code missing}. */
  public static ProviderLookup everyKindExcept(BackendKind missing) {
    return kind -> kind == missing ? null : NoCalls.INSTANCE;
  }

  /** An adapter that is never meant to be called. */
  private enum NoCalls implements ProviderAdapter {
    INSTANCE;

    @Override
    public BackendKind kind() {
      throw new UnsupportedOperationException("this test makes no upstream calls");
    }

    @Override
    public CompletableFuture<ChatResponse> chat(ChatCall call) {
      throw new UnsupportedOperationException("this test makes no upstream calls");
    }

    @Override
    public UpstreamStream streamChat(ChatCall call, ChatStreamListener listener) {
      throw new UnsupportedOperationException("this test makes no upstream calls");
    }

    @Override
    public CompletableFuture<EmbedResponse> embed(EmbedCall call) {
      throw new UnsupportedOperationException("this test makes no upstream calls");
    }
  }
}
