package dev.sluice.dataplane;

import io.netty.util.ResourceLeakDetector;
import org.jspecify.annotations.Nullable;

/**
 * Process-wide Netty settings for a gateway process, applied by its {@code main} before any
 * channel exists. Only what a library must not decide for its host: the data plane as a component
 * leaves global state alone.
 *
 * <p><b>Leak detection off unless asked for.</b> Netty's default ({@code SIMPLE}) samples one
 * buffer in 128 and, for that, makes every channel pipeline "touch" each message it passes on:
 * a few virtual calls per handler per message. With one message per streamed token that was about
 * 6 % of the data plane's Java time at a thousand paced streams. Leaks are a development-time
 * concern, caught by the test suite, which runs with Netty's default; an operator who suspects
 * one sets {@code -Dio.netty.leakDetection.level=simple} (or {@code paranoid}), which this
 * respects. Bounds and reference-count checks stay on: the gateway parses untrusted input into
 * pooled, reused memory, and those checks are what keep a bug from reading another request's
 * bytes.
 */
public final class NettyProcessDefaults {
  static final String LEAK_DETECTION_PROPERTY = "io.netty.leakDetection.level";
  /** The name Netty read before 4.1; still honoured by it. */
  static final String LEGACY_LEAK_DETECTION_PROPERTY = "io.netty.leakDetectionLevel";

  private NettyProcessDefaults() {}

  /** Applies the defaults; call first thing in {@code main}. */
  public static void apply() {
    ResourceLeakDetector.Level level =
        leakDetectionLevel(
            System.getProperty(LEAK_DETECTION_PROPERTY),
            System.getProperty(LEGACY_LEAK_DETECTION_PROPERTY));
    if (level != null) {
      ResourceLeakDetector.setLevel(level);
    }
  }

  /**
   * The level to set given the two system properties, or null to leave Netty's own choice (the
   * operator set one).
   */
  static ResourceLeakDetector.@Nullable Level leakDetectionLevel(
      @Nullable String configured, @Nullable String legacy) {
    if (configured != null || legacy != null) {
      return null;
    }
    return ResourceLeakDetector.Level.DISABLED;
  }
}
