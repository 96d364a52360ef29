package dev.sluice.dataplane.provider.mock;

import com.google.protobuf.util.Durations;
import dev.sluice.config.v1.MockSettings;
import dev.sluice.dataplane.provider.ChatCall;
import dev.sluice.inference.v1.ChatRequest;
import java.util.concurrent.TimeUnit;

/**
 * What the mock generates for one call: how many tokens per choice, how fast, and with which seed;
 * derived from the backend's {@link MockSettings} and the request.
 */
record MockModel(
    int choices,
    int tokensPerChoice,
    boolean truncated,
    long nanosPerToken,
    long firstTokenNanos,
    long seed,
    int inputTokens) {
  static final int DEFAULT_TOKENS = 32;

  static MockModel of(ChatCall call) {
    MockSettings s = call.target().backend().getMock();
    ChatRequest r = call.request();
    int configured = s.getTokensPerResponse() > 0 ? s.getTokensPerResponse() : DEFAULT_TOKENS;
    int tokens = configured;
    boolean truncated = false;
    if (r.hasMaxOutputTokens() && r.getMaxOutputTokens() >= 0 && r.getMaxOutputTokens() < configured) {
      tokens = r.getMaxOutputTokens();
      truncated = true;
    }
    double rate = s.getTokensPerSecond();
    long nanosPerToken = rate > 0 ? (long) (TimeUnit.SECONDS.toNanos(1) / rate) : 0;
    long ttft = s.hasTimeToFirstToken() ? Math.max(0, Durations.toNanos(s.getTimeToFirstToken())) : 0;
    long seed = s.hasSeed() ? s.getSeed() : MockText.seedOf(r);
    if (r.hasSeed()) {
      seed ^= r.getSeed() * 0x9E3779B97F4A7C15L;
    }
    return new MockModel(
        Math.max(1, r.getCandidateCount()), tokens, truncated, nanosPerToken, ttft, seed,
        MockText.inputTokens(r));
  }

  /** How long a whole generation takes: the unary call answers after this. */
  long generationNanos() {
    return firstTokenNanos + Math.max(0, (long) tokensPerChoice - 1) * nanosPerToken;
  }
}
