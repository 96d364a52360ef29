package dev.sluice.dataplane;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.util.ResourceLeakDetector;
import org.junit.jupiter.api.Test;

class NettyProcessDefaultsTest {
  @Test
  void leakDetectionIsTurnedOffWhenTheOperatorChoseNothing() {
    assertThat(NettyProcessDefaults.leakDetectionLevel(null, null))
        .isEqualTo(ResourceLeakDetector.Level.DISABLED);
  }

  @Test
  void anExplicitLeakDetectionLevelIsLeftToNetty() {
    assertThat(NettyProcessDefaults.leakDetectionLevel("paranoid", null)).isNull();
    assertThat(NettyProcessDefaults.leakDetectionLevel(null, "simple")).isNull();
  }
}
