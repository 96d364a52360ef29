package dev.sluice.integration;

import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.reflection.v1.ServerReflectionGrpc;
import io.grpc.reflection.v1.ServerReflectionRequest;
import io.grpc.reflection.v1.ServerReflectionResponse;
import io.grpc.reflection.v1.ServiceResponse;
import io.grpc.stub.StreamObserver;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/** Asks a server what grpcurl and Kubernetes probes ask: its health, and its services by reflection. */
final class ServerProbe {
  private ServerProbe() {}

  static ServingStatus health(String target) throws InterruptedException {
    ManagedChannel channel = channel(target);
    try {
      return HealthGrpc.newBlockingStub(channel)
          .withDeadlineAfter(10, TimeUnit.SECONDS)
          .check(HealthCheckRequest.getDefaultInstance())
          .getStatus();
    } finally {
      close(channel);
    }
  }

  static List<String> reflectedServices(String target) throws Exception {
    ManagedChannel channel = channel(target);
    try {
      CompletableFuture<List<String>> services = new CompletableFuture<>();
      StreamObserver<ServerReflectionRequest> requests =
          ServerReflectionGrpc.newStub(channel)
              .withDeadlineAfter(10, TimeUnit.SECONDS)
              .serverReflectionInfo(
                  new StreamObserver<>() {
                    @Override
                    public void onNext(ServerReflectionResponse response) {
                      services.complete(
                          response.getListServicesResponse().getServiceList().stream()
                              .map(ServiceResponse::getName)
                              .toList());
                    }

                    @Override
                    public void onError(Throwable t) {
                      services.completeExceptionally(t);
                    }

                    @Override
                    public void onCompleted() {
                      services.completeExceptionally(new AssertionError("no reflection answer"));
                    }
                  });
      requests.onNext(ServerReflectionRequest.newBuilder().setListServices("").build());
      List<String> names = services.get(10, TimeUnit.SECONDS);
      requests.onCompleted();
      return names;
    } finally {
      close(channel);
    }
  }

  private static ManagedChannel channel(String target) {
    return Grpc.newChannelBuilder(target, InsecureChannelCredentials.create()).build();
  }

  private static void close(ManagedChannel channel) throws InterruptedException {
    channel.shutdownNow();
    channel.awaitTermination(10, TimeUnit.SECONDS);
  }
}
