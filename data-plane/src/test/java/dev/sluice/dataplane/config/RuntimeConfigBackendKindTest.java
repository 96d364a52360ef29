package dev.sluice.dataplane.config;

import static dev.sluice.dataplane.testing.TestConfigs.EVERY_KIND;
import static dev.sluice.dataplane.testing.TestConfigs.backend;
import static dev.sluice.dataplane.testing.TestConfigs.everyKindExcept;
import static dev.sluice.dataplane.testing.TestConfigs.model;
import static dev.sluice.dataplane.testing.TestConfigs.snapshot;
import static dev.sluice.dataplane.testing.TestConfigs.versionInfo;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.config.v1.Backend;
import dev.sluice.config.v1.BackendKind;
import dev.sluice.config.v1.ConfigSnapshot;
import dev.sluice.config.v1.SecretRef;
import dev.sluice.dataplane.routing.ProviderLookup;
import dev.sluice.discovery.v1.ConfigSource;
import org.junit.jupiter.api.Test;

/**
 * Which backend kinds a node accepts in config: only those its build can call. A control plane
 * newer than the node accepts kinds the node does not know (version skew during an upgrade); the
 * node must refuse such a snapshot (and NACK it) rather than serve it and fail those calls later.
 */
class RuntimeConfigBackendKindTest {
  private static final Backend GEMINI =
      Backend.newBuilder()
          .setName("gemini")
          .setKind(BackendKind.BACKEND_KIND_GEMINI)
          .setApiKey(SecretRef.newBuilder().setEnvVar("GEMINI_API_KEY"))
          .build();

  @Test
  void aSnapshotIsServedWhenTheNodeCanCallEveryBackendKindInIt() {
    RuntimeConfig config =
        build(snapshot(1, backend("b1"), GEMINI, model("m1", "gemini")), EVERY_KIND);

    assertThat(config.routes().model("m1")).isNotNull();
  }

  @Test
  void aBackendOfAKindThisBuildCannotCallMakesTheSnapshotUnservable() {
    ConfigSnapshot snapshot = snapshot(1, backend("b1"), GEMINI, model("m1", "gemini"));

    assertThatThrownBy(() -> build(snapshot, everyKindExcept(BackendKind.BACKEND_KIND_GEMINI)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage(
            "backend gemini: kind: BACKEND_KIND_GEMINI is not supported by this data plane build");
  }

  @Test
  void anUnusedBackendOfAnUnsupportedKindStillMakesTheSnapshotUnservable() {
    ConfigSnapshot snapshot = snapshot(1, backend("b1"), GEMINI, model("m1", "b1"));

    assertThatThrownBy(() -> build(snapshot, everyKindExcept(BackendKind.BACKEND_KIND_GEMINI)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("backend gemini: kind: BACKEND_KIND_GEMINI");
  }

  @Test
  void aKindNumberThisBuildDoesNotKnowIsNamedByItsNumber() {
    Backend fromTheFuture = GEMINI.toBuilder().setName("future").setKindValue(99).build();
    ConfigSnapshot snapshot = snapshot(1, backend("b1"), fromTheFuture, model("m1", "b1"));

    assertThatThrownBy(() -> build(snapshot, EVERY_KIND))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage(
            "backend future: kind: backend kind number 99 is not supported by this data plane"
                + " build");
  }

  @Test
  void everyUnsupportedBackendIsNamedNotJustTheFirst() {
    Backend other = GEMINI.toBuilder().setName("gemini-2").build();
    ConfigSnapshot snapshot = snapshot(1, backend("b1"), GEMINI, other, model("m1", "b1"));

    assertThatThrownBy(() -> build(snapshot, everyKindExcept(BackendKind.BACKEND_KIND_GEMINI)))
        .hasMessageContaining("backend gemini: kind")
        .hasMessageContaining("backend gemini-2: kind");
  }

  private static RuntimeConfig build(ConfigSnapshot snapshot, ProviderLookup providers) {
    return RuntimeConfig.build(
        versionInfo(snapshot.getVersion()),
        snapshot,
        ConfigSource.CONFIG_SOURCE_CONTROL_PLANE,
        null,
        providers);
  }
}
