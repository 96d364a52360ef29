package dev.sluice.bench.controlplane;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.config.v1.ConfigSnapshot;
import dev.sluice.discovery.v1.StreamConfigResponse;
import java.io.ByteArrayInputStream;
import org.junit.jupiter.api.Test;

class ConfigPushTest {
  @Test
  void readsVersionNonceAndDigestAndSkipsResources() {
    ConfigSnapshot snapshot =
        ConfigSnapshot.newBuilder()
            .setVersion(42)
            .addAllResources(BenchConfig.resources(50))
            .setDigest("sha256:abc")
            .build();
    StreamConfigResponse response =
        StreamConfigResponse.newBuilder()
            .setVersionInfo("1f.42")
            .setNonce("n-7")
            .setControlPlaneId("cp-1")
            .setSnapshot(snapshot)
            .build();
    ConfigPush push = ConfigPush.MARSHALLER.parse(new ByteArrayInputStream(response.toByteArray()));
    assertThat(push)
        .isEqualTo(
            new ConfigPush("1f.42", "n-7", true, "sha256:abc", snapshot.getSerializedSize()));
    assertThat(push.version()).isEqualTo(42);
  }

  @Test
  void aResponseWithoutSnapshotHasNone() {
    StreamConfigResponse response =
        StreamConfigResponse.newBuilder().setVersionInfo("a.3").setNonce("x").build();
    ConfigPush push = ConfigPush.MARSHALLER.parse(new ByteArrayInputStream(response.toByteArray()));
    assertThat(push.hasSnapshot()).isFalse();
    assertThat(push.version()).isEqualTo(3);
  }
}
