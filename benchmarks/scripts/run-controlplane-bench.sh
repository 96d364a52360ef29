#!/usr/bin/env bash
# Control-plane fan-out benchmark (issue 3): admin apply latency, and time from apply to every
# data-plane stream ACKed, for 10 / 100 / 1000 simulated data-plane streams over 1,000 resources;
# control-plane heap (after GC) and RSS per stream.
#
#   benchmarks/scripts/run-controlplane-bench.sh                       # embedded store, then etcd
#   STORES=embedded SMOKE=1 benchmarks/scripts/run-controlplane-bench.sh   # harness check, ~30 s
#   DEBOUNCE=10ms,1s ...                                                  # with a shorter debounce
#
# Layout: the control plane (a child JVM, dev.sluice.bench.controlplane.ControlPlaneHost) and etcd
# on GW_CPU; the driver with all simulated data planes (dev.sluice.bench.controlplane.ControlPlaneBench)
# on LOAD_CPU. The driver starts and stops both children (etcd on free loopback ports in a temp dir).
# Results: $OUT/results.jsonl, $OUT/table-<store>.txt, logs.
# Prerequisites: JDK 17, taskset; etcd for STORES=etcd (apt-get install -y etcd-server, or ETCD=/path/to/etcd).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

OUT=${OUT:-/tmp/sluice-bench/controlplane}
SMOKE=${SMOKE:-0}
STORES=${STORES:-"embedded etcd"}
ETCD=${ETCD:-etcd}
if [[ $SMOKE == 1 ]]; then
  STREAMS=${STREAMS:-"10,100"}; ITERATIONS=${ITERATIONS:-10}; WARMUP_ITERATIONS=${WARMUP_ITERATIONS:-3}; DUR=${DUR:-10}
else
  STREAMS=${STREAMS:-"10,100,1000"}; ITERATIONS=${ITERATIONS:-100}; WARMUP_ITERATIONS=${WARMUP_ITERATIONS:-20}; DUR=${DUR:-60}
fi
RESOURCES=${RESOURCES:-1000}
CP_JVM_OPTS=${CP_JVM_OPTS:-"-Xms256m -Xmx2g"}
DEBOUNCE=${DEBOUNCE:-}        # QUIET,MAX to override the control plane's debounce (default: its own, 100ms,1s)

bench_init
[[ -f "$OUT/results.jsonl" ]] && mv "$OUT/results.jsonl" "$OUT/results.jsonl.prev"
rm -f "$OUT"/table-*.txt
echo "control-plane jvm: $CP_JVM_OPTS; debounce: ${DEBOUNCE:-default}" >> "$OUT/env.txt"
EXTRA=()
[[ -n $DEBOUNCE ]] && EXTRA=(--debounce "$DEBOUNCE")
for store in $STORES; do
  if [[ $store == etcd ]]; then
    require_cmd "$ETCD" "apt-get install -y etcd-server (or set ETCD=/path/to/etcd)"
  fi
  log "store $store: streams $STREAMS, $RESOURCES resources, $ITERATIONS applies per stream count (at most ${DUR}s)"
  # The driver starts and stops its own children (control-plane JVM, etcd); this script stops the
  # driver by PID if interrupted (its shutdown hooks then stop the children).
  : > "$OUT/controlplane-$store.log"
  rc=0
  # shellcheck disable=SC2086
  run_fg "$OUT/controlplane-$store.log" taskset -c "$LOAD_CPU" java $LOAD_JVM_OPTS -cp "$BENCH_JAR" \
    dev.sluice.bench.controlplane.ControlPlaneBench \
    --store "$store" --etcd-binary "$ETCD" --server-cpus "$GW_CPU" --server-jvm-opts "$CP_JVM_OPTS" \
    --streams "$STREAMS" --resources "$RESOURCES" --iterations "$ITERATIONS" --warmup-iterations "$WARMUP_ITERATIONS" \
    --duration "${DUR}s" --json "$OUT/results.jsonl" --table "$OUT/table-$store.txt" "${EXTRA[@]}" || rc=$?
  (( rc == 0 )) || log "warning: $store run exited with $rc (timeouts or failure; see $OUT/controlplane-$store.log)"
done
log "done; results in $OUT"
cat "$OUT"/table-*.txt 2>/dev/null || true
