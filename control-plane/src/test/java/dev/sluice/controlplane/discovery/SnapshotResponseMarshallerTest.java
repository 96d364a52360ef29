package dev.sluice.controlplane.discovery;

import static dev.sluice.controlplane.Fixtures.mockBackend;
import static dev.sluice.controlplane.Fixtures.model;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.common.collect.ImmutableSortedMap;
import dev.sluice.config.v1.Resource;
import dev.sluice.controlplane.snapshot.Snapshot;
import dev.sluice.controlplane.snapshot.SnapshotSource;
import dev.sluice.controlplane.store.ResourceKey;
import dev.sluice.controlplane.store.StoredConfig;
import dev.sluice.discovery.v1.StreamConfigResponse;
import io.grpc.Drainable;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.time.Instant;
import java.util.function.Consumer;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.Test;

class SnapshotResponseMarshallerTest {
  private final Snapshot snapshot = snapshot(7);
  private final SnapshotResponseMarshaller marshaller =
      new SnapshotResponseMarshaller(new FixedSource(snapshot));

  @Test
  void aResponseWithTheCachedSnapshotEncodesExactlyAsProtobufWould() throws Exception {
    StreamConfigResponse response = response(snapshot);

    InputStream stream = marshaller.stream(response);

    assertThat(response.getSnapshot()).isSameAs(snapshot.proto());
    assertThat(stream.getClass().getName()).endsWith("$BytesStream");
    assertThat(stream).isInstanceOf(Drainable.class);
    ByteArrayOutputStream drained = new ByteArrayOutputStream();
    ((Drainable) stream).drainTo(drained);
    assertThat(drained.toByteArray()).isEqualTo(response.toByteArray());
    assertThat(StreamConfigResponse.parseFrom(drained.toByteArray())).isEqualTo(response);
  }

  @Test
  void theStreamCanAlsoBeReadByteByByte() throws Exception {
    StreamConfigResponse response = response(snapshot);

    byte[] read = marshaller.stream(response).readAllBytes();

    assertThat(read).isEqualTo(response.toByteArray());
  }

  @Test
  void otherResponsesAreEncodedTheOrdinaryWay() throws Exception {
    StreamConfigResponse withOtherSnapshot = response(snapshot(8));
    StreamConfigResponse withoutSnapshot =
        StreamConfigResponse.newBuilder().setVersionInfo("1.7").setNonce("2").build();

    assertThat(marshaller.parse(marshaller.stream(withOtherSnapshot))).isEqualTo(withOtherSnapshot);
    assertThat(marshaller.parse(marshaller.stream(withoutSnapshot))).isEqualTo(withoutSnapshot);
  }

  private static StreamConfigResponse response(Snapshot snapshot) {
    return StreamConfigResponse.newBuilder()
        .setVersionInfo(snapshot.versionInfo())
        .setNonce("42")
        .setControlPlaneId("cp-1")
        .setSnapshot(snapshot.proto())
        .build();
  }

  private static Snapshot snapshot(long version) {
    ImmutableSortedMap.Builder<ResourceKey, Resource> resources = ImmutableSortedMap.naturalOrder();
    for (Resource r : new Resource[] {mockBackend("mock"), model("chat", "mock")}) {
      resources.put(ResourceKey.of(r), r);
    }
    return Snapshot.of(new StoredConfig(0xabcL, version, resources.build()), Instant.EPOCH);
  }

  private record FixedSource(Snapshot snapshot) implements SnapshotSource {
    @Override
    public @Nullable Snapshot current() {
      return snapshot;
    }

    @Override
    public Registration addListener(Consumer<Snapshot> listener) {
      return () -> {};
    }
  }
}
