#!/usr/bin/env bash
# Rate-limit accuracy benchmark (issue 5): 3 data planes, one receiving 80 % of the traffic, against
# a 600 requests/minute and a 60,000 tokens/minute fleet-wide limit, with demand twice the request
# limit (1,200 calls/min) for the whole run. Two scenarios, each on a fresh fleet:
#   requests  16 output tokens per call (38 tokens in all): the request limit binds
#   tokens    200 output tokens per call (222 in all; ~266,000 tokens/min offered): the token limit binds
#
#   benchmarks/scripts/run-ratelimit-accuracy.sh              # both scenarios, 10 s warm-up + 300 s each, ~12 min
#   SMOKE=1 benchmarks/scripts/run-ratelimit-accuracy.sh      # harness check, ~3 min, figures meaningless
#
# Layout (2 cores): control plane and the three data planes (separate processes of
# launcher/target/sluice.jar, started by the driver) on GW_CPU; the driver
# (dev.sluice.bench.ratelimit.RateLimitAccuracyBench: open-loop gRPC client + the fake upstream in
# one JVM) on LOAD_CPU. Everything on 127.0.0.1. The driver stops its children at the end, on
# failure, and when this script stops it (its shutdown hook kills them).
# Results in $OUT: <scenario>.txt and .json (admitted / limit per sliding 60 s window and per whole
# minute after the warm-up, min / max / mean, for requests and tokens; the warm-up; per node),
# <scenario>-per-second.csv, one log per process; summary.txt.
# Prerequisites: JDK 17, taskset; the jars:
#   mvn -B -ntp -pl launcher,benchmarks -am package -DskipTests
set -euo pipefail
source "$(dirname "$0")/lib.sh"

OUT=${OUT:-/tmp/sluice-bench/ratelimit}
SMOKE=${SMOKE:-0}
if [[ $SMOKE == 1 ]]; then
  DUR=${DUR:-60}
else
  DUR=${DUR:-300}
fi
WARM=${WARM:-10}                       # one lease duration
SCENARIOS=${SCENARIOS:-"requests tokens"}
RATE=${RATE:-20}                       # calls/s offered to the fleet: 1,200/min
SPLIT=${SPLIT:-80,10,10}
ARRIVALS=${ARRIVALS:-poisson}
BURST_PERCENT=${BURST_PERCENT:-0}      # RateLimit.burst as % of each amount; 0 = not paced (BURST_PERCENT=2: paced)
GW_JVM_OPTS=${GW_JVM_OPTS:-"-Xms64m -Xmx512m"}
SLUICE_JAR="$REPO_ROOT/launcher/target/sluice.jar"

bench_init
[[ -f "$SLUICE_JAR" ]] || die "$SLUICE_JAR is missing: build it with
  mvn -B -ntp -pl launcher,benchmarks -am package -DskipTests        (from $REPO_ROOT)"
{
  echo "gateway jvm: $GW_JVM_OPTS (control plane and each data plane)"
  echo "load: $RATE calls/s split $SPLIT, $ARRIVALS arrivals; warm-up ${WARM}s, measured ${DUR}s per scenario"
  echo "limits: burst $BURST_PERCENT % of each amount (0: not paced)"
} >> "$OUT/env.txt"
rm -f "$OUT/summary.txt"

for scenario in $SCENARIOS; do
  log "scenario $scenario: $RATE calls/s split $SPLIT for ${WARM}s + ${DUR}s"
  : > "$OUT/driver-$scenario.log"
  rc=0
  # shellcheck disable=SC2086
  run_fg "$OUT/driver-$scenario.log" taskset -c "$LOAD_CPU" java $LOAD_JVM_OPTS -cp "$BENCH_JAR" \
    dev.sluice.bench.ratelimit.RateLimitAccuracyBench \
    --scenario "$scenario" --sluice-jar "$SLUICE_JAR" --out "$OUT" \
    --gateway-cpus "$GW_CPU" --gateway-jvm-opts "$GW_JVM_OPTS" \
    --rate "$RATE" --split "$SPLIT" --arrivals "$ARRIVALS" --burst-percent "$BURST_PERCENT" \
    --warmup "${WARM}s" --duration "${DUR}s" || rc=$?
  (( rc == 0 )) || log "warning: scenario $scenario exited with $rc (see $OUT/driver-$scenario.log)"
  [[ -f "$OUT/$scenario.txt" ]] && { cat "$OUT/$scenario.txt"; echo; } >> "$OUT/summary.txt"
done
log "done; results in $OUT"
cat "$OUT/summary.txt" 2>/dev/null || true
