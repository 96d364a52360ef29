package dev.sluice.bench.auth;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.grpc.ApiException;
import io.grpc.Status;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Each benchmark method does the work it claims to measure, once, outside JMH. */
class AuthAndLimitBenchmarkTest {
  private final AuthAndLimitBenchmark bench = new AuthAndLimitBenchmark();

  @BeforeEach
  void setUp() throws Exception {
    bench.setUp();
  }

  @AfterEach
  void tearDown() throws Exception {
    bench.tearDown();
  }

  @Test
  void everyCredentialKindIsAuthenticatedAndAdmittedByTheNodesOwnGate() {
    assertThat(bench.apiKey()).isNotNull();
    assertThat(bench.jwtRs256()).isNotNull();
    assertThat(bench.jwtEs256()).isNotNull();
    assertThat(bench.jwtEdDsa()).isNotNull();
    assertThat(bench.jwtEs256FirstUse()).isNotNull();
    assertThat(bench.limitsOnly()).isNotNull();
    assertThat(bench.apiKeyLongPrompt()).isNotNull();
  }

  @Test
  void theBreakdownsMeasureWhatTheySay() {
    assertThat(bench.apiKeyAuthenticationOnly().consumer()).isEqualTo("acme-web");
    assertThat(bench.promptCountOnly()).isPositive();
    assertThat(AuthAndLimitBenchmark.longPrompt(AuthAndLimitBenchmark.LONG_PROMPT_CHARS))
        .hasSize(4000);
    // The long prompt is counted, by the approximation, close to (and not under) the exact count.
    assertThat(bench.promptCountOnlyLongPrompt())
        .isGreaterThan(bench.promptCountOnly() + 800)
        .isBetween(
            bench.promptCountExactCl100kLongPrompt(),
            bench.promptCountExactCl100kLongPrompt() * 13 / 10);
    assertThat(bench.promptCountExactCl100k()).isPositive();
    assertThat(bench.wrongApiKeyRefused())
        .isInstanceOfSatisfying(
            ApiException.class, e -> assertThat(e.code()).isEqualTo(Status.Code.UNAUTHENTICATED));
  }
}
