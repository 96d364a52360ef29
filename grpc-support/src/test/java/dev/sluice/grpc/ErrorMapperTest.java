package dev.sluice.grpc;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.rpc.BadRequest;
import com.google.rpc.ErrorInfo;
import com.google.rpc.RetryInfo;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.StatusProto;
import java.time.Duration;
import java.util.concurrent.CompletionException;
import org.junit.jupiter.api.Test;

class ErrorMapperTest {
  @Test
  void apiExceptionKeepsItsCodeAndGainsErrorInfoInTheSluiceDomain() throws Exception {
    StatusRuntimeException sre =
        ErrorMapper.toStatusRuntimeException(
            ApiException.builder(Status.Code.NOT_FOUND, "MODEL_NOT_FOUND")
                .message("model not found: gpt-9")
                .metadata("model", "gpt-9")
                .build());

    com.google.rpc.Status status = StatusProto.fromThrowable(sre);
    assertThat(sre.getStatus().getCode()).isEqualTo(Status.Code.NOT_FOUND);
    assertThat(status.getMessage()).isEqualTo("model not found: gpt-9");
    ErrorInfo info = status.getDetails(0).unpack(ErrorInfo.class);
    assertThat(info.getDomain()).isEqualTo("sluice.dev");
    assertThat(info.getReason()).isEqualTo("MODEL_NOT_FOUND");
    assertThat(info.getMetadataMap()).containsEntry("model", "gpt-9");
  }

  @Test
  void theExceptionRidesAlongAsTheStatusCauseWhichGrpcNeverSends() {
    ApiException refused = ApiException.builder(Status.Code.RESOURCE_EXHAUSTED, "RATE_LIMITED").build();

    StatusRuntimeException sre = ErrorMapper.toStatusRuntimeException(refused);

    assertThat(sre.getStatus().getCause()).isSameAs(refused);
    assertThat(Status.fromThrowable(sre).getCause())
        .as("what ServerCalls closes the call with after onError")
        .isSameAs(refused);
  }

  @Test
  void invalidArgumentCarriesTheFieldPathAsABadRequestViolation() throws Exception {
    StatusRuntimeException sre =
        ErrorMapper.toStatusRuntimeException(
            ApiException.invalidArgument("chat.messages[1].role", "must be set"));

    com.google.rpc.Status status = StatusProto.fromThrowable(sre);
    assertThat(sre.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
    assertThat(status.getDetails(0).unpack(ErrorInfo.class).getReason())
        .isEqualTo("INVALID_REQUEST");
    BadRequest badRequest = status.getDetails(1).unpack(BadRequest.class);
    assertThat(badRequest.getFieldViolations(0).getField()).isEqualTo("chat.messages[1].role");
    assertThat(badRequest.getFieldViolations(0).getDescription()).isEqualTo("must be set");
  }

  @Test
  void retryDelayTravelsAsRetryInfoAndAsThePushbackTrailer() throws Exception {
    StatusRuntimeException sre =
        ErrorMapper.toStatusRuntimeException(
            ApiException.builder(Status.Code.RESOURCE_EXHAUSTED, "RATE_LIMITED")
                .retryAfter(Duration.ofMillis(1500))
                .build());

    RetryInfo retry = StatusProto.fromThrowable(sre).getDetails(1).unpack(RetryInfo.class);
    assertThat(retry.getRetryDelay().getSeconds()).isEqualTo(1);
    assertThat(retry.getRetryDelay().getNanos()).isEqualTo(500_000_000);
    assertThat(sre.getTrailers().get(ErrorMapper.RETRY_PUSHBACK_MS)).isEqualTo("1500");
  }

  @Test
  void wrappedApiExceptionsAreUnwrapped() {
    StatusRuntimeException sre =
        ErrorMapper.toStatusRuntimeException(
            new CompletionException(
                ApiException.builder(Status.Code.ABORTED, "VERSION_CONFLICT").build()));

    assertThat(sre.getStatus().getCode()).isEqualTo(Status.Code.ABORTED);
  }

  @Test
  void unexpectedExceptionsBecomeInternalWithoutLeakingTheirMessage() throws Exception {
    StatusRuntimeException sre =
        ErrorMapper.toStatusRuntimeException(new IllegalStateException("secret=hunter2"));

    assertThat(sre.getStatus().getCode()).isEqualTo(Status.Code.INTERNAL);
    assertThat(sre.getMessage()).doesNotContain("hunter2");
    assertThat(StatusProto.fromThrowable(sre).getDetails(0).unpack(ErrorInfo.class).getReason())
        .isEqualTo("INTERNAL");
  }

  @Test
  void statusExceptionsPassThroughUntouched() {
    StatusRuntimeException cancelled = Status.CANCELLED.withDescription("client gone").asRuntimeException();

    assertThat(ErrorMapper.toStatusRuntimeException(cancelled)).isSameAs(cancelled);
  }
}
