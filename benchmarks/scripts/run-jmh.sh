#!/usr/bin/env bash
# JMH microbenchmarks of this module (classes named *Benchmark, e.g. AuthAndLimitBenchmark, the
# per-request auth + limit check cost of issue 5), pinned to one core (GW_CPU; JMH's forked JVMs
# inherit the pinning). Arguments go to JMH: a benchmark regex, -f/-wi/-i, -prof gc, ...
#
#   benchmarks/scripts/run-jmh.sh                        # every benchmark
#   benchmarks/scripts/run-jmh.sh RecordingOverhead      # one class
#   benchmarks/scripts/run-jmh.sh AuthAndLimit -f 1 -wi 5 -i 5
#   benchmarks/scripts/run-jmh.sh -l                     # list them
# Results: $OUT/jmh.json (JMH JSON) and $OUT/jmh.txt.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
OUT=${OUT:-/tmp/sluice-bench/jmh}
bench_init
: > "$OUT/jmh.txt"
run_fg "$OUT/jmh.txt" taskset -c "$GW_CPU" java -cp "$BENCH_JAR" org.openjdk.jmh.Main -rf json -rff "$OUT/jmh.json" "$@"
log "done; results in $OUT"
