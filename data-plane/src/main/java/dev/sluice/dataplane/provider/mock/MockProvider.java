package dev.sluice.dataplane.provider.mock;

import dev.sluice.dataplane.provider.ProviderAdapter;
import io.netty.channel.EventLoopGroup;

/** Creates the built-in mock model's adapter. */
public final class MockProvider {
  private MockProvider() {}

  /** The mock adapter, pacing its streams on {@code group}'s loops. */
  public static ProviderAdapter create(EventLoopGroup group) {
    return new MockAdapter(group);
  }
}
