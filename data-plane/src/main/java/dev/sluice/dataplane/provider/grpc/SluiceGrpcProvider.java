package dev.sluice.dataplane.provider.grpc;

import dev.sluice.dataplane.provider.ProviderAdapter;
import dev.sluice.dataplane.provider.SecretResolver;
import io.netty.channel.Channel;
import io.netty.channel.EventLoopGroup;

/** Creates the adapter for upstream Sluice InferenceServices over gRPC. */
public final class SluiceGrpcProvider {
  private SluiceGrpcProvider() {}

  /**
   * The adapter for {@code BACKEND_KIND_SLUICE_GRPC}. Its channels run on {@code group}; close the
   * returned adapter (it is {@link AutoCloseable}) to shut them down.
   */
  public static ProviderAdapter create(
      EventLoopGroup group, Class<? extends Channel> channelType, SecretResolver secrets) {
    return new SluiceGrpcAdapter(new GrpcChannels(group, channelType, secrets), secrets, group);
  }
}
