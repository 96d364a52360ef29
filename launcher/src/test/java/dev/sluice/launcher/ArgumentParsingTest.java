package dev.sluice.launcher;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.config.v1.ResourceKind;
import java.net.InetSocketAddress;
import java.time.Duration;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;
import picocli.CommandLine.TypeConversionException;

/** The small parsers behind the command-line options. */
class ArgumentParsingTest {
  @ParameterizedTest
  @CsvSource({"500ms,PT0.5S", "30s,PT30S", "10m,PT10M", "2h,PT2H", "PT1M30S,PT1M30S"})
  void durationsAreReadAsOperatorsWriteThem(String text, String expected) {
    assertThat(new DurationConverter().convert(text)).isEqualTo(Duration.parse(expected));
  }

  @Test
  void aBadDurationSaysWhatIsExpected() {
    assertThatThrownBy(() -> new DurationConverter().convert("soon"))
        .isInstanceOf(TypeConversionException.class)
        .hasMessageContaining("expected: e.g. 500ms, 30s");
  }

  @Test
  void listenAddressesTakeAHostOrAllInterfaces() {
    assertThat(ListenAddress.parse("127.0.0.1:50051"))
        .isEqualTo(new InetSocketAddress("127.0.0.1", 50051));
    assertThat(ListenAddress.parse(":50052").getAddress().isAnyLocalAddress()).isTrue();
    assertThat(ListenAddress.parse("[::1]:0").getAddress().isLoopbackAddress()).isTrue();
  }

  @ParameterizedTest
  @ValueSource(strings = {"50051", "host:port", "host:70000"})
  void badListenAddressesAreRejected(String text) {
    assertThatThrownBy(() -> ListenAddress.parse(text)).isInstanceOf(TypeConversionException.class);
  }

  @Test
  void theWildcardAddressIsDialedOnLoopback() {
    assertThat(ListenAddress.dialable(ListenAddress.parse(":0"), 4242)).isEqualTo("127.0.0.1:4242");
  }

  @ParameterizedTest
  @CsvSource({
    "localhost:50051,true",
    "127.0.0.1:50051,true",
    "127.1.2.3:1,true",
    "[::1]:50051,true",
    "dns:///localhost:50051,true",
    "gateway.example.com:443,false",
    "10.0.0.5:50051,false"
  })
  void onlyLoopbackServersDefaultToPlaintext(String target, boolean plaintext) {
    assertThat(new TransportOptions().usePlaintext(target)).isEqualTo(plaintext);
  }

  @Test
  void tlsWinsOverTheLoopbackDefault() {
    TransportOptions options = new TransportOptions();
    options.tls = true;

    assertThat(options.usePlaintext("127.0.0.1:50051")).isFalse();
  }

  @ParameterizedTest
  @CsvSource({
    "model,RESOURCE_KIND_MODEL",
    "models,RESOURCE_KIND_MODEL",
    "rate-limit-policy,RESOURCE_KIND_RATE_LIMIT_POLICY",
    "rateLimitPolicies,RESOURCE_KIND_RATE_LIMIT_POLICY",
    "api_keys,RESOURCE_KIND_API_KEY",
    "RESOURCE_KIND_BACKEND,RESOURCE_KIND_BACKEND"
  })
  void resourceKindsAreReadInAnySpelling(String text, ResourceKind kind) {
    assertThat(ResourceNames.parseKind(text)).isEqualTo(kind);
  }

  @Test
  void anUnknownKindListsTheKnownOnes() {
    assertThatThrownBy(() -> ResourceNames.parseKind("gizmo"))
        .hasMessageContaining("unknown resource kind 'gizmo'")
        .hasMessageContaining("backend, model, route");
  }
}
