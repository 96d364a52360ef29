package dev.sluice.grpc;

import io.grpc.ServerBuilder;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.protobuf.services.HealthStatusManager;
import io.grpc.protobuf.services.ProtoReflectionService;
import io.grpc.protobuf.services.ProtoReflectionServiceV1;

/**
 * Adds the services every Sluice server exposes so that grpcurl, Postman and Kubernetes probes
 * work without our protos: {@code grpc.health.v1} and server reflection (v1, plus v1alpha for older
 * tools).
 */
public final class StandardServices {
  private final HealthStatusManager health = new HealthStatusManager();

  private StandardServices() {}

  /** Registers health and reflection on {@code builder}; health starts NOT_SERVING. */
  public static StandardServices addTo(ServerBuilder<?> builder) {
    StandardServices services = new StandardServices();
    services.health.setStatus("", ServingStatus.NOT_SERVING);
    builder.addService(services.health.getHealthService());
    builder.addService(ProtoReflectionServiceV1.newInstance());
    @SuppressWarnings("deprecation")
    var legacyReflection = ProtoReflectionService.newInstance();
    builder.addService(legacyReflection);
    return services;
  }

  /** Sets the health of {@code service} ({@code ""} is the whole server). */
  public void setServing(String service, boolean serving) {
    health.setStatus(service, serving ? ServingStatus.SERVING : ServingStatus.NOT_SERVING);
  }

  /** Marks every service NOT_SERVING for good; call first when draining for shutdown. */
  public void enterTerminalState() {
    health.enterTerminalState();
  }
}
