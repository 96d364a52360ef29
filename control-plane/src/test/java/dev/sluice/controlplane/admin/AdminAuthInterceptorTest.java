package dev.sluice.controlplane.admin;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import dev.sluice.grpc.ApiException;
import io.grpc.Status;
import io.netty.pkitesting.CertificateBuilder;
import io.netty.pkitesting.X509Bundle;
import java.security.cert.X509Certificate;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Who an admin call is, from its authorization header and its verified client certificate, with
 * real certificates issued by a throwaway CA. (The TLS handshake that verifies them is covered by
 * {@code AdminMutualTlsTest}.)
 */
class AdminAuthInterceptorTest {
  private static final String TOKEN = "ops-admin-token-0123456789";
  private static final String OPS_URI = "spiffe://sluice.test/ops/deployer";

  private static X509Bundle ca;
  private static X509Certificate opsUri;
  private static X509Certificate opsDns;
  private static X509Certificate cnOnly;
  private static X509Certificate dataPlane;
  private static X509Certificate sanWithAdminCn;

  private final AdminAuthInterceptor interceptor =
      AdminAuthInterceptor.of(
          Map.of("ci-bot", TOKEN),
          Map.of(
              OPS_URI, "deployer",
              "admin.ops.sluice.test", "ops-host",
              "break-glass", "oncall"));

  @BeforeAll
  static void issueCertificates() throws Exception {
    ca =
        new CertificateBuilder()
            .subject("CN=sluice-test-ca")
            .setIsCertificateAuthority(true)
            .ecp256()
            .buildSelfSigned();
    opsUri = issue(new CertificateBuilder().subject("CN=deployer").addSanUriName(OPS_URI));
    opsDns = issue(new CertificateBuilder().subject("CN=ops").addSanDnsName("Admin.Ops.Sluice.Test"));
    cnOnly = issue(new CertificateBuilder().subject("O=Sluice, CN=break-glass"));
    dataPlane = issue(new CertificateBuilder().subject("CN=dp-1"));
    sanWithAdminCn =
        issue(new CertificateBuilder().subject("CN=break-glass").addSanDnsName("dp-2.sluice.test"));
  }

  @Test
  void aListedUriSanIsTheCertificatesPrincipal() {
    assertThat(interceptor.authenticate(null, opsUri)).isEqualTo("deployer");
  }

  @Test
  void aListedDnsSanMatchesIgnoringCase() {
    assertThat(interceptor.authenticate(null, opsDns)).isEqualTo("ops-host");
  }

  @Test
  void theCommonNameCountsOnlyForACertificateWithoutSans() {
    assertThat(interceptor.authenticate(null, cnOnly)).isEqualTo("oncall");
    assertThat(refusal(null, sanWithAdminCn).reason()).isEqualTo("INVALID_CREDENTIAL");
  }

  @Test
  void aDataPlaneCertificateFromTheSameCaIsNotAnAdminCredential() {
    ApiException refused = refusal(null, dataPlane);

    assertThat(refused.code()).isEqualTo(Status.Code.UNAUTHENTICATED);
    assertThat(refused.reason()).isEqualTo("INVALID_CREDENTIAL");
    assertThat(refused.getMessage())
        .contains("not trusted for admin")
        .contains("inference API keys are not admin credentials");
  }

  @Test
  void aTokenStillWorksWithOrWithoutACertificate() {
    assertThat(interceptor.authenticate("Bearer " + TOKEN, null)).isEqualTo("ci-bot");
    assertThat(interceptor.authenticate("Bearer " + TOKEN, dataPlane)).isEqualTo("ci-bot");
  }

  @Test
  void aSentTokenDecidesEvenOnAConnectionWithAnAdminCertificate() {
    assertThat(interceptor.authenticate("Bearer " + TOKEN, opsUri)).isEqualTo("ci-bot");

    ApiException wrong = refusal("Bearer wrong-token-0123456789", opsUri);
    assertThat(wrong.reason()).isEqualTo("INVALID_CREDENTIAL");
    assertThat(wrong.getMessage()).doesNotContain("wrong-token");
  }

  @Test
  void withNeitherCredentialTheRefusalNamesBothKinds() {
    ApiException refused = refusal(null, null);

    assertThat(refused.code()).isEqualTo(Status.Code.UNAUTHENTICATED);
    assertThat(refused.reason()).isEqualTo("MISSING_CREDENTIAL");
    assertThat(refused.getMessage()).contains("Bearer <admin token>").contains("client certificate");
  }

  @Test
  void anInferenceApiKeyIsStillNoAdminCredential() {
    ApiException refused =
        refusal("Bearer sk-sluice-k1.abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", opsUri);

    assertThat(refused.getMessage()).contains("not admin credentials");
  }

  @Test
  void certificatesAloneAreEnoughButSomeCredentialIsRequired() {
    AdminAuthInterceptor certificatesOnly =
        AdminAuthInterceptor.of(Map.of(), Map.of(OPS_URI, "deployer"));

    assertThat(certificatesOnly.authenticate(null, opsUri)).isEqualTo("deployer");
    assertThat(
            catchThrowableOfType(
                    ApiException.class,
                    () -> certificatesOnly.authenticate("Bearer " + TOKEN, opsUri))
                .reason())
        .isEqualTo("INVALID_CREDENTIAL");
    assertThatThrownBy(() -> AdminAuthInterceptor.of(Map.of(), Map.of()))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("no admin credential");
  }

  @Test
  void namesThatDifferOnlyInCaseOrAreBlankAreRefused() {
    assertThatThrownBy(
            () ->
                AdminAuthInterceptor.of(
                    Map.of(), Map.of("ops.sluice.test", "a", "OPS.sluice.test", "b")))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("differing only in case");
    assertThatThrownBy(() -> AdminAuthInterceptor.of(Map.of(), Map.of(" ", "a")))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> AdminAuthInterceptor.of(Map.of(), Map.of("ops", " ")))
        .isInstanceOf(IllegalArgumentException.class);
  }

  private ApiException refusal(String authorization, X509Certificate certificate) {
    return catchThrowableOfType(
        ApiException.class, () -> interceptor.authenticate(authorization, certificate));
  }

  private static X509Certificate issue(CertificateBuilder builder) throws Exception {
    return builder.ecp256().buildIssuedBy(ca).getCertificate();
  }
}
