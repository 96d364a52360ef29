package dev.sluice.bench.load;

import dev.sluice.inference.v1.ChatMessage;
import dev.sluice.inference.v1.ChatRequest;
import dev.sluice.inference.v1.ContentPart;
import dev.sluice.inference.v1.EmbedRequest;
import dev.sluice.inference.v1.InferenceServiceGrpc;
import dev.sluice.inference.v1.Role;
import dev.sluice.inference.v1.StreamChatRequest;
import dev.sluice.inference.v1.StreamChatResponse;
import io.grpc.CallOptions;
import io.grpc.ClientCall;
import io.grpc.ConnectivityState;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioSocketChannel;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * Sends calls to Sluice's {@code InferenceService} over plaintext gRPC (grpc-netty), spread
 * round-robin over several channels, each its own HTTP/2 connection.
 *
 * <p>Calls run on the channels' event loop ({@code directExecutor}): the client does no thread
 * hand-offs, which keeps it cheap next to the servers it measures. Streams request one message at a
 * time, like a {@code StreamObserver} client, so gRPC flow control is exercised end to end.
 */
final class GrpcTarget implements LoadTarget {
  private final EventLoopGroup group;
  private final List<ManagedChannel> channels = new ArrayList<>();
  private final AtomicInteger next = new AtomicInteger();
  private final CallKind kind;
  private final Metadata headers;
  private final Duration deadline;
  private final ChatRequest chat;
  private final StreamChatRequest stream;
  private final EmbedRequest embed;

  /** Errors are counted by code; the first few are also printed whole, to say what went wrong. */
  private final AtomicInteger errorSamples = new AtomicInteger();

  GrpcTarget(
      InetSocketAddress address,
      int connections,
      int eventLoopThreads,
      CallKind kind,
      String model,
      int maxTokens,
      Map<String, String> headers,
      Duration deadline) {
    this.kind = kind;
    this.deadline = deadline;
    this.group = new MultiThreadIoEventLoopGroup(eventLoopThreads, NioIoHandler.newFactory());
    this.headers = new Metadata();
    headers.forEach(
        (k, v) -> this.headers.put(Metadata.Key.of(k, Metadata.ASCII_STRING_MARSHALLER), v));
    this.chat = chatRequest(model, maxTokens);
    this.stream = StreamChatRequest.newBuilder().setChat(chat).build();
    this.embed =
        EmbedRequest.newBuilder()
            .setModel(model)
            .addInputs("The quick brown fox jumps over the lazy dog.")
            .build();
    for (int i = 0; i < connections; i++) {
      channels.add(
          NettyChannelBuilder.forAddress(address)
              .usePlaintext()
              .directExecutor()
              .eventLoopGroup(group)
              .channelType(NioSocketChannel.class)
              .maxInboundMessageSize(64 << 20)
              .build());
    }
    connectAll(address);
  }

  /**
   * Connects every channel before the run, so that neither connection set-up nor the first class
   * loading falls into the schedule.
   */
  private void connectAll(InetSocketAddress address) {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    for (ManagedChannel c : channels) {
      ConnectivityState state;
      while ((state = c.getState(true)) != ConnectivityState.READY) {
        if (System.nanoTime() > deadline) {
          close();
          throw new IllegalStateException(
              "cannot connect to " + address + " (channel " + state + ")");
        }
        LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(5));
      }
    }
  }

  /** The same small chat request the HTTP target sends, as a Sluice ChatRequest. */
  static ChatRequest chatRequest(String model, int maxTokens) {
    return ChatRequest.newBuilder()
        .setModel(model)
        .addInstructions(ContentPart.newBuilder().setText("You are a helpful assistant."))
        .addMessages(
            ChatMessage.newBuilder()
                .setRole(Role.ROLE_USER)
                .addParts(ContentPart.newBuilder().setText("Say hello in sixteen tokens.")))
        .setMaxOutputTokens(maxTokens)
        .build();
  }

  @Override
  public void start(CallSink sink) {
    ManagedChannel channel = channels.get(Math.floorMod(next.getAndIncrement(), channels.size()));
    CallOptions options =
        CallOptions.DEFAULT.withDeadlineAfter(deadline.toNanos(), TimeUnit.NANOSECONDS);
    switch (kind) {
      case CHAT ->
          unary(channel.newCall(InferenceServiceGrpc.getChatMethod(), options), chat, sink);
      case EMBED ->
          unary(channel.newCall(InferenceServiceGrpc.getEmbedMethod(), options), embed, sink);
      case STREAM ->
          stream(channel.newCall(InferenceServiceGrpc.getStreamChatMethod(), options), sink);
    }
  }

  private <Q, R> void unary(ClientCall<Q, R> call, Q request, CallSink sink) {
    call.start(
        new ClientCall.Listener<R>() {
          @Override
          public void onClose(Status status, Metadata trailers) {
            sink.onClose(System.nanoTime(), outcome(status));
          }
        },
        headers());
    call.request(2);
    call.sendMessage(request);
    call.halfClose();
    sink.onSent(System.nanoTime());
  }

  private void stream(ClientCall<StreamChatRequest, StreamChatResponse> call, CallSink sink) {
    call.start(
        new ClientCall.Listener<StreamChatResponse>() {
          @Override
          public void onMessage(StreamChatResponse message) {
            if (message.getEventCase() == StreamChatResponse.EventCase.CONTENT_DELTA
                && isToken(message)) {
              sink.onToken(System.nanoTime());
            }
            call.request(1);
          }

          @Override
          public void onClose(Status status, Metadata trailers) {
            sink.onClose(System.nanoTime(), outcome(status));
          }
        },
        headers());
    call.request(1);
    call.sendMessage(stream);
    call.halfClose();
    sink.onSent(System.nanoTime());
  }

  private static boolean isToken(StreamChatResponse message) {
    var delta = message.getContentDelta();
    return switch (delta.getDeltaCase()) {
      case TEXT -> !delta.getText().isEmpty();
      case REASONING_TEXT -> !delta.getReasoningText().isEmpty();
      case REFUSAL -> !delta.getRefusal().isEmpty();
      default -> false;
    };
  }

  private Metadata headers() {
    // grpc-java adds its own keys to the headers it is given, so every call needs its own copy.
    Metadata md = new Metadata();
    md.merge(headers);
    return md;
  }

  private String outcome(Status status) {
    if (status.isOk()) {
      return CallSink.OK;
    }
    if (errorSamples.getAndIncrement() < MAX_ERROR_SAMPLES) {
      System.err.println("sample error: " + status.getCode() + ": " + status.getDescription());
    }
    return status.getCode().name();
  }

  private static final int MAX_ERROR_SAMPLES = 3;

  @Override
  public void close() {
    for (ManagedChannel c : channels) {
      c.shutdownNow();
    }
    for (ManagedChannel c : channels) {
      try {
        c.awaitTermination(5, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        break;
      }
    }
    group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
  }
}
