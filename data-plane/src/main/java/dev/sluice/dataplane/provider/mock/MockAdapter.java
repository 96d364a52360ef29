package dev.sluice.dataplane.provider.mock;

import com.google.protobuf.ByteString;
import dev.sluice.config.v1.BackendKind;
import dev.sluice.dataplane.provider.ChatCall;
import dev.sluice.dataplane.provider.ChatStreamListener;
import dev.sluice.dataplane.provider.EmbedCall;
import dev.sluice.dataplane.provider.ProviderAdapter;
import dev.sluice.dataplane.provider.UpstreamException;
import dev.sluice.dataplane.provider.UpstreamFailure;
import dev.sluice.dataplane.provider.UpstreamStream;
import dev.sluice.inference.v1.ChatMessage;
import dev.sluice.inference.v1.ChatResponse;
import dev.sluice.inference.v1.Choice;
import dev.sluice.inference.v1.ContentPart;
import dev.sluice.inference.v1.EmbedRequest;
import dev.sluice.inference.v1.EmbedResponse;
import dev.sluice.inference.v1.Embedding;
import dev.sluice.inference.v1.EmbeddingEncoding;
import dev.sluice.inference.v1.FinishReason;
import dev.sluice.inference.v1.Role;
import dev.sluice.inference.v1.Usage;
import io.grpc.Deadline;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.util.concurrent.EventExecutor;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.jspecify.annotations.Nullable;

/**
 * The {@link ProviderAdapter} of the built-in mock model.
 *
 * <p>Deterministic: the text depends only on the request content (or {@code MockSettings.seed},
 * combined with the request's own seed when it sets one). Honest: usage counts input as one token
 * per four characters of input text and output as exactly the tokens sent. Timed like a model:
 * the first token after {@code time_to_first_token}, then {@code tokens_per_second}; a unary call
 * answers when the whole generation would have finished.
 */
final class MockAdapter implements ProviderAdapter {
  static final String PROVIDER = "mock";
  static final int DEFAULT_DIMENSIONS = 16;

  private final EventLoop[] loops;
  private final AtomicLong next = new AtomicLong();
  private final AtomicLong ids = new AtomicLong();

  MockAdapter(EventLoopGroup group) {
    List<EventLoop> list = new ArrayList<>();
    for (EventExecutor e : group) {
      list.add((EventLoop) e);
    }
    this.loops = list.toArray(new EventLoop[0]);
  }

  @Override
  public BackendKind kind() {
    return BackendKind.BACKEND_KIND_MOCK;
  }

  @Override
  public CompletableFuture<ChatResponse> chat(ChatCall call) {
    MockModel model = MockModel.of(call);
    String backend = call.target().backend().getName();
    CompletableFuture<ChatResponse> future = new CompletableFuture<>();
    long delay = model.generationNanos();
    Deadline deadline = call.deadline();
    EventLoop loop = loop();
    if (deadline != null && deadline.timeRemaining(TimeUnit.NANOSECONDS) < delay) {
      long remaining = Math.max(0, deadline.timeRemaining(TimeUnit.NANOSECONDS));
      loop.schedule(
          () ->
              future.completeExceptionally(
                  new UpstreamException(
                      UpstreamFailure.TIMEOUT, backend, 0, null,
                      "the mock model exceeded the deadline", null)),
          remaining, TimeUnit.NANOSECONDS);
      return future;
    }
    Runnable answer = () -> future.complete(response(call, model, backend));
    if (delay == 0) {
      answer.run();
    } else {
      var timer = loop.schedule(answer, delay, TimeUnit.NANOSECONDS);
      future.whenComplete((r, t) -> timer.cancel(false));
    }
    return future;
  }

  private ChatResponse response(ChatCall call, MockModel model, String backend) {
    ChatResponse.Builder r =
        ChatResponse.newBuilder()
            .setId(newId())
            .setRequestId(call.requestId())
            .setProvider(PROVIDER)
            .setBackend(backend)
            .setProviderModel(call.target().upstreamModel());
    int total = model.tokensPerChoice();
    for (int c = 0; c < model.choices(); c++) {
      MockText.Generator g = new MockText.Generator(model.seed(), c);
      StringBuilder text = new StringBuilder(total * 7);
      for (int i = 0; i < total; i++) {
        text.append(g.next(total));
      }
      ChatMessage.Builder message = ChatMessage.newBuilder().setRole(Role.ROLE_ASSISTANT);
      if (total > 0) {
        message.addParts(ContentPart.newBuilder().setText(text.toString()));
      }
      r.addChoices(
          Choice.newBuilder()
              .setIndex(c)
              .setMessage(message)
              .setFinishReason(
                  model.truncated() ? FinishReason.FINISH_REASON_LENGTH : FinishReason.FINISH_REASON_STOP)
              .setRawFinishReason(model.truncated() ? "length" : "stop"));
    }
    int output = total * model.choices();
    return r.setUsage(
            Usage.newBuilder()
                .setInputTokens(model.inputTokens())
                .setOutputTokens(output)
                .setTotalTokens(model.inputTokens() + output))
        .build();
  }

  @Override
  public UpstreamStream streamChat(ChatCall call, ChatStreamListener listener) {
    MockModel model = MockModel.of(call);
    Deadline deadline = call.deadline();
    long now = System.nanoTime();
    MockChatStream stream =
        new MockChatStream(
            loop(), model, listener, newId(), call.requestId(),
            call.target().backend().getName(), call.target().upstreamModel(),
            deadline == null ? 0 : now + deadline.timeRemaining(TimeUnit.NANOSECONDS),
            deadline != null);
    stream.start();
    return stream;
  }

  @Override
  public CompletableFuture<EmbedResponse> embed(EmbedCall call) {
    EmbedRequest r = call.request();
    int configured = call.target().backend().getMock().getEmbeddingDimensions();
    int dimensions =
        r.getDimensions() > 0 ? r.getDimensions() : configured > 0 ? configured : DEFAULT_DIMENSIONS;
    var settings = call.target().backend().getMock();
    @Nullable Long seed = settings.hasSeed() ? settings.getSeed() : null;
    boolean base64 = r.getEncoding() == EmbeddingEncoding.EMBEDDING_ENCODING_BASE64;
    EmbedResponse.Builder response =
        EmbedResponse.newBuilder()
            .setRequestId(call.requestId())
            .setProvider(PROVIDER)
            .setBackend(call.target().backend().getName())
            .setProviderModel(call.target().upstreamModel());
    int tokens = 0;
    for (int i = 0; i < r.getInputsCount(); i++) {
      String input = r.getInputs(i);
      tokens += MockText.tokensOf(input);
      float[] v = unitVector(MockText.seedOf(input) ^ (seed == null ? 0 : seed), dimensions);
      Embedding.Builder e = Embedding.newBuilder().setIndex(i);
      if (base64) {
        ByteBuffer bytes = ByteBuffer.allocate(dimensions * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float f : v) {
          bytes.putFloat(f);
        }
        bytes.flip();
        e.setData(ByteString.copyFrom(bytes));
      } else {
        for (float f : v) {
          e.addValues(f);
        }
      }
      response.addEmbeddings(e);
    }
    response.setUsage(Usage.newBuilder().setInputTokens(tokens).setTotalTokens(tokens));
    return CompletableFuture.completedFuture(response.build());
  }

  /** A deterministic unit vector: normally distributed components, normalized. */
  static float[] unitVector(long seed, int dimensions) {
    SplittableRandom random = new SplittableRandom(seed);
    double[] values = new double[dimensions];
    double norm = 0;
    for (int i = 0; i < dimensions; i++) {
      // Box-Muller: normal components make the direction uniform on the sphere.
      double u1 = 1 - random.nextDouble();
      double u2 = random.nextDouble();
      values[i] = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
      norm += values[i] * values[i];
    }
    norm = Math.sqrt(norm);
    float[] v = new float[dimensions];
    for (int i = 0; i < dimensions; i++) {
      v[i] = (float) (values[i] / norm);
    }
    return v;
  }

  private String newId() {
    return "mock-" + Long.toHexString(ids.incrementAndGet());
  }

  private EventLoop loop() {
    for (EventLoop l : loops) {
      if (l.inEventLoop()) {
        return l;
      }
    }
    return loops[(int) Math.floorMod(next.getAndIncrement(), (long) loops.length)];
  }
}
