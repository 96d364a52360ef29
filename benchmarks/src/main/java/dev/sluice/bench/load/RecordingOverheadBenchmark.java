package dev.sluice.bench.load;

import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * JMH: what the load generator's own bookkeeping costs per call and per token (timestamps,
 * HdrHistogram recording, counters), to show it is small next to the microseconds it measures. Run
 * with {@code benchmarks/scripts/run-jmh.sh RecordingOverhead}.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@org.openjdk.jmh.annotations.Measurement(iterations = 5, time = 1)
@Fork(1)
public class RecordingOverheadBenchmark {
  private Measurement measurement = new Measurement(0, 0);
  private CallRecord stream = new CallRecord(measurement, 0, null);

  @Setup
  public void setup() {
    long now = System.nanoTime();
    measurement = new Measurement(now - 1_000_000_000L, now + TimeUnit.HOURS.toNanos(1));
    stream = new CallRecord(measurement, now, null);
  }

  /** One measured unary call: start, sent, closed OK. */
  @Benchmark
  public void unaryCall() {
    long t = System.nanoTime();
    CallRecord r = new CallRecord(measurement, t, null);
    measurement.callStarted();
    r.onSent(t);
    r.onClose(System.nanoTime(), LoadTarget.CallSink.OK);
  }

  /** One token of a measured stream: gap histogram and window counter. */
  @Benchmark
  public void streamToken() {
    stream.onToken(System.nanoTime());
  }
}
