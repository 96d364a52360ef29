package dev.sluice.testing.fakes;

import static java.util.Objects.requireNonNull;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * What a fake answers to one embeddings request. By default every input gets a deterministic
 * vector derived from its text, of {@link #dimensions(int)} dimensions (or the request's {@code
 * dimensions}), returned as floats or base64 as the request's {@code encoding_format} asks.
 */
public final class EmbeddingsReply {
  int dimensions = 8;
  @Nullable List<float[]> vectors;
  @Nullable Integer promptTokens;
  @Nullable String model;
  int status = 200;
  @Nullable String errorType;
  @Nullable String errorMessage;
  final List<Map.Entry<String, String>> headers = new ArrayList<>();

  private EmbeddingsReply() {}

  /** Deterministic vectors of the default size (8, or the request's {@code dimensions}). */
  public static EmbeddingsReply deterministic() {
    return new EmbeddingsReply();
  }

  /** Exactly these vectors, one per input in order. */
  public static EmbeddingsReply vectors(List<float[]> vectors) {
    EmbeddingsReply r = new EmbeddingsReply();
    r.vectors = List.copyOf(vectors);
    return r;
  }

  /** An HTTP error with the provider's error body. */
  public static EmbeddingsReply error(int status, String type, String message) {
    EmbeddingsReply r = new EmbeddingsReply();
    r.status = status;
    r.errorType = requireNonNull(type, "type");
    r.errorMessage = requireNonNull(message, "message");
    return r;
  }

  /** Size of the deterministic vectors when the request does not ask for one. */
  public EmbeddingsReply dimensions(int dimensions) {
    this.dimensions = dimensions;
    return this;
  }

  /** Reported prompt tokens instead of the estimate. */
  public EmbeddingsReply promptTokens(int tokens) {
    this.promptTokens = tokens;
    return this;
  }

  /** The model reported; default the request's. */
  public EmbeddingsReply model(String model) {
    this.model = requireNonNull(model, "model");
    return this;
  }

  /** Adds a response header. */
  public EmbeddingsReply header(String name, String value) {
    headers.add(Map.entry(name, value));
    return this;
  }

  /** The deterministic vector of {@code text}: unit length, from a hash-seeded generator. */
  static float[] vectorOf(String text, int dimensions) {
    java.util.SplittableRandom random = new java.util.SplittableRandom(text.hashCode());
    float[] v = new float[dimensions];
    double norm = 0;
    for (int i = 0; i < dimensions; i++) {
      v[i] = (float) (random.nextDouble() * 2 - 1);
      norm += v[i] * v[i];
    }
    float scale = (float) (1 / Math.sqrt(norm == 0 ? 1 : norm));
    for (int i = 0; i < dimensions; i++) {
      v[i] *= scale;
    }
    return v;
  }
}
