package dev.sluice.bench.ratelimit;

import static com.google.common.base.Preconditions.checkArgument;
import static java.util.Objects.requireNonNull;

import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.LongAdder;

/**
 * What each data plane did with the calls sent to it, per second of the run: admitted (OK),
 * refused ({@code RESOURCE_EXHAUSTED}) and failed otherwise, plus the tokens the admitted calls
 * reported. A call is counted in the second it was sent, whenever it completes. Thread-safe: calls
 * complete on the gRPC event loop while the driver sends on its own thread.
 */
final class AdmissionLog {
  private final List<String> nodes;
  private final int seconds;
  private final AtomicLongArray sent;
  private final AtomicLongArray admitted;
  private final AtomicLongArray admittedTokens;
  private final AtomicLongArray refused;
  private final AtomicLongArray failed;
  private final Map<String, LongAdder> failures = new ConcurrentHashMap<>();
  private final LongAdder completed = new LongAdder();

  AdmissionLog(List<String> nodes, int seconds) {
    checkArgument(!nodes.isEmpty(), "nodes: empty (expected: at least one)");
    checkArgument(seconds > 0, "seconds: %s (expected: > 0)", seconds);
    this.nodes = List.copyOf(nodes);
    this.seconds = seconds;
    int cells = nodes.size() * seconds;
    this.sent = new AtomicLongArray(cells);
    this.admitted = new AtomicLongArray(cells);
    this.admittedTokens = new AtomicLongArray(cells);
    this.refused = new AtomicLongArray(cells);
    this.failed = new AtomicLongArray(cells);
  }

  List<String> nodes() {
    return nodes;
  }

  /** Length of the run in whole seconds. */
  int seconds() {
    return seconds;
  }

  void recordSent(int node, int second) {
    sent.incrementAndGet(cell(node, second));
  }

  void recordAdmitted(int node, int second, long tokens) {
    admitted.incrementAndGet(cell(node, second));
    admittedTokens.addAndGet(cell(node, second), tokens);
    completed.increment();
  }

  void recordRefused(int node, int second) {
    refused.incrementAndGet(cell(node, second));
    completed.increment();
  }

  /** A call that ended with neither OK nor RESOURCE_EXHAUSTED; {@code code} names the status. */
  void recordFailed(int node, int second, String code) {
    failed.incrementAndGet(cell(node, second));
    failures.computeIfAbsent(requireNonNull(code, "code"), k -> new LongAdder()).increment();
    completed.increment();
  }

  long sent(int node, int second) {
    return sent.get(cell(node, second));
  }

  long admitted(int node, int second) {
    return admitted.get(cell(node, second));
  }

  long admittedTokens(int node, int second) {
    return admittedTokens.get(cell(node, second));
  }

  long refused(int node, int second) {
    return refused.get(cell(node, second));
  }

  long failed(int node, int second) {
    return failed.get(cell(node, second));
  }

  long sentTotal(int node) {
    return sum(sent, node);
  }

  long admittedTotal(int node) {
    return sum(admitted, node);
  }

  long admittedTokensTotal(int node) {
    return sum(admittedTokens, node);
  }

  long refusedTotal(int node) {
    return sum(refused, node);
  }

  long failedTotal(int node) {
    return sum(failed, node);
  }

  /** Calls that have completed, whatever their outcome. */
  long completed() {
    return completed.sum();
  }

  /** Failures other than refusals, by status code. */
  Map<String, Long> failuresByCode() {
    Map<String, Long> out = new TreeMap<>();
    failures.forEach((code, n) -> out.put(code, n.sum()));
    return out;
  }

  private long sum(AtomicLongArray array, int node) {
    long total = 0;
    for (int s = 0; s < seconds; s++) {
      total += array.get(cell(node, s));
    }
    return total;
  }

  private int cell(int node, int second) {
    if (node < 0 || node >= nodes.size() || second < 0 || second >= seconds) {
      throw new IndexOutOfBoundsException(
          "node " + node + ", second " + second + " (expected: < " + nodes.size() + ", < "
              + seconds + ")");
    }
    return node * seconds + second;
  }
}
