package dev.sluice.dataplane.server;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.config.v1.Consumer;
import dev.sluice.dataplane.auth.Caller;
import org.junit.jupiter.api.Test;

class QuotaGateCredentialTest {
  private static final Consumer ACME = Consumer.newBuilder().setName("acme").build();

  @Test
  void anApiKeyCallerIsCountedByItsKeyName() {
    assertThat(QuotaGate.credential(Caller.of(ACME, "ci-key"))).isEqualTo("ci-key");
  }

  @Test
  void jwtCallersAreCountedApartByPrincipalWithBucketSeparatorsEncoded() {
    String alice = QuotaGate.credential(Caller.ofToken(ACME, "https://idp.example/a=1,b#alice"));
    String bob = QuotaGate.credential(Caller.ofToken(ACME, "https://idp.example/a=1,b#bob"));

    assertThat(alice).isEqualTo("https://idp.example/a%3D1%2Cb#alice");
    assertThat(alice).isNotEqualTo(bob).doesNotContain(",").doesNotContain("=");
  }
}
