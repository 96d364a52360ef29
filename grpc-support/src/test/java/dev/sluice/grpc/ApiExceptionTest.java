package dev.sluice.grpc;

import static org.assertj.core.api.Assertions.assertThat;

import io.grpc.Status;
import org.junit.jupiter.api.Test;

class ApiExceptionTest {
  @Test
  void anExpectedOutcomeCarriesNoStackTrace() {
    ApiException refused =
        ApiException.builder(Status.Code.RESOURCE_EXHAUSTED, "RATE_LIMITED").message("no").build();

    assertThat(refused.getStackTrace()).isEmpty();
  }

  @Test
  void anInternalErrorKeepsItsStackTraceAndCause() {
    IllegalStateException bug = new IllegalStateException("bug");
    ApiException internal =
        ApiException.builder(Status.Code.INTERNAL, "INTERNAL").message("oops").cause(bug).build();

    assertThat(internal.getStackTrace()).isNotEmpty();
    assertThat(internal.getCause()).isSameAs(bug);
  }
}
