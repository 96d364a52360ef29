package dev.sluice.dataplane.routing;

import static dev.sluice.dataplane.testing.TestConfigs.backend;
import static dev.sluice.dataplane.testing.TestConfigs.model;
import static dev.sluice.dataplane.testing.TestConfigs.resource;
import static dev.sluice.dataplane.testing.TestConfigs.version;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.config.v1.BackendKind;
import dev.sluice.config.v1.HeaderMatch;
import dev.sluice.config.v1.Model;
import dev.sluice.config.v1.ModelVersion;
import dev.sluice.config.v1.Resource;
import dev.sluice.config.v1.Route;
import dev.sluice.config.v1.RouteDestination;
import dev.sluice.config.v1.RouteMatch;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

class RouteTableTest {
  private static List<Resource> resources(Object... rs) {
    return Arrays.stream(rs).map(r -> resource(r)).toList();
  }

  @Test
  void findsModelsByNameAndAliasAndListsThemInNameOrder() {
    RouteTable table =
        RouteTable.build(
            resources(
                backend("b1"),
                model("zeta", "b1"),
                model("alpha", "b1").toBuilder().addAliases("Alpha/Latest:1").build()),
            null);

    assertThat(table.model("Alpha/Latest:1").name()).isEqualTo("alpha");
    assertThat(table.model("nope")).isNull();
    assertThat(table.models()).extracting(ModelEntry::name).containsExactly("alpha", "zeta");
    assertThat(table.model("alpha").info().getAliasesList()).containsExactly("Alpha/Latest:1");
  }

  @Test
  void carriesLoadRecordsOverToTheNextTable() {
    RouteTable first = RouteTable.build(resources(backend("b1"), model("m", "b1")), null);
    first.backend("b1").load().tryAcquire(0);

    RouteTable second =
        RouteTable.build(resources(backend("b1"), backend("b2"), model("m", "b1", "b2")), first);

    assertThat(second.backend("b1").load()).isSameAs(first.backend("b1").load());
    assertThat(second.backend("b1").load().inFlight()).isEqualTo(1);
    assertThat(second.backend("b2").load().inFlight()).isZero();
  }

  @Test
  void rejectsAVersionNamingAMissingBackend() {
    assertThatThrownBy(() -> RouteTable.build(resources(backend("b1"), model("m", "b2")), null))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("model m: versions[0].backends[0].backend: b2 does not exist");
  }

  @Test
  void rejectsAnAliasThatIsAlreadyTaken() {
    assertThatThrownBy(
            () ->
                RouteTable.build(
                    resources(
                        backend("b1"),
                        model("a", "b1"),
                        model("b", "b1").toBuilder().addAliases("a").build()),
                    null))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("model b: aliases: a");
  }

  @Test
  void rejectsAMissingUpstreamModelExceptForMockBackends() {
    ModelVersion bare = version("v1", "b1").toBuilder().clearUpstreamModel().build();
    Model model = Model.newBuilder().setName("m").addVersions(bare).build();

    assertThatThrownBy(() -> RouteTable.build(resources(backend("b1"), model), null))
        .hasMessageContaining("upstream_model");
    RouteTable mock =
        RouteTable.build(
            resources(
                backend("b1").toBuilder().setKind(BackendKind.BACKEND_KIND_MOCK).build(), model),
            null);
    assertThat(mock.model("m")).isNotNull();
  }

  @Test
  void rejectsAnUnknownDefaultVersion() {
    Model model = model("m", "b1").toBuilder().setDefaultVersion("v9").build();

    assertThatThrownBy(() -> RouteTable.build(resources(backend("b1"), model), null))
        .hasMessage("model m: default_version: v9 is not a version");
  }

  @Test
  void rejectsARouteToAMissingVersion() {
    Route route =
        Route.newBuilder()
            .setName("r")
            .setMatch(RouteMatch.newBuilder().addModels("m"))
            .addFallbacks(RouteDestination.newBuilder().setModelVersion("v9"))
            .build();

    assertThatThrownBy(
            () -> RouteTable.build(resources(backend("b1"), model("m", "b1"), route), null))
        .hasMessage("route r: fallbacks[0].model_version: v9 is not a version of m");
  }

  @Test
  void rejectsAnInvalidHeaderRegex() {
    Route route =
        Route.newBuilder()
            .setName("r")
            .setMatch(
                RouteMatch.newBuilder()
                    .addHeaders(HeaderMatch.newBuilder().setName("x").setRegex("(")))
            .build();

    assertThatThrownBy(
            () -> RouteTable.build(resources(backend("b1"), model("m", "b1"), route), null))
        .hasMessageStartingWith("route r: match.headers[0].regex");
  }

  @Test
  void rejectsABackendWithoutKind() {
    assertThatThrownBy(
            () ->
                RouteTable.build(
                    resources(
                        backend("b1").toBuilder()
                            .setKind(BackendKind.BACKEND_KIND_UNSPECIFIED)
                            .build()),
                    null))
        .hasMessage("backend b1: kind: unspecified or unknown");
  }
}
