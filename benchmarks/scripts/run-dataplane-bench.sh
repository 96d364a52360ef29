#!/usr/bin/env bash
# Data-plane benchmark (issue 4): the Sluice gateway beside the direct-to-upstream baseline, both
# driven by the same load generator against the same fake upstream, in the same run.
#
#   benchmarks/scripts/run-dataplane-bench.sh                 # full run, ~10 min, quiet machine only
#   SMOKE=1 benchmarks/scripts/run-dataplane-bench.sh         # harness check, ~1.5 min, figures meaningless
#
# Layout (2 cores): gateway (control plane + data plane in one JVM, dev.sluice.bench.gateway.BenchGateway)
# alone on GW_CPU; fake upstream and load generator on LOAD_CPU. Everything on 127.0.0.1.
# Phases (PHASES, default all):
#   sat    closed-loop unary chat saturation, for each of SAT_CONCURRENCY, gateway and direct
#   half   open loop at half the gateway's best saturation throughput (HALF_RATE overrides), gateway and direct
#   burst  1,000-token streams in one burst: one at a time (TTFT) and BURST_CONCURRENCY at once (tokens/s)
#   paced  PACED="streams:ms ..." concurrent streams of PACED_TOKENS tokens, one token every ms
#   open   OPEN_STREAMS streams held open (a token every OPEN_DELAY_MS): gateway RSS per open stream
#   mock   saturation against the gateway's built-in MOCK backend (gateway alone, no upstream hop)
#   wrk    (not in the default) cross-check of the load generator: wrk against the direct upstream,
#          same body and connection count as sat-c<N>.direct (needs wrk: apt-get install -y wrk)
# gRPC clients (LoadGen --client): unary phases (sat, half, mock) use GRPC_CLIENT, default raw: pre-encoded
# gRPC on Netty's HTTP/2 codec (RawGrpcTarget), paced by epoll timers on its event loop, a fraction of
# grpc-java's CPU per call. At ~10,000 calls/s the grpc-java client needs more than the core it shares with
# the fake upstream, and the half figure then measured the load generator's own queueing, not the gateway.
# The HTTP baseline client (HttpTarget) uses the same transport and pacing, so the gateway and the direct
# baseline are driven alike. Stream phases (burst, paced, open) use STREAM_CLIENT, default grpc-java.
# GRPC_CLIENT=grpc-java reproduces runs made before the raw client existed.
# CPU per call / per token comes from /proc/PID/stat of the gateway over each measurement window.
# Results: $OUT/results.jsonl (one JSON line per run), $OUT/summary.txt, logs; summary printed at the end.
# UNARY_UPSTREAM=nginx serves the unary phases (sat, half) from nginx answering every call with the fake
# upstream's own reply (model bench-static; needs apt-get install -y nginx): the fake upstream costs about
# as much CPU per call as the gateway, and at half the gateway's saturation it and the load generator leave
# their shared core no headroom, so the half figure measured their queueing. Stream phases always use the
# fake upstream.
# Prerequisites: JDK 17, taskset, curl; the benchmarks jar (mvn -B -ntp -pl benchmarks -am package -DskipTests).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

OUT=${OUT:-/tmp/sluice-bench/dataplane}
SMOKE=${SMOKE:-0}
if [[ $SMOKE == 1 ]]; then
  DUR=${DUR:-3}; WARM=${WARM:-2}; SAT_CONCURRENCY=${SAT_CONCURRENCY:-16}; BURST_CONCURRENCY=${BURST_CONCURRENCY:-4}
  PACED=${PACED:-"32:20"}; OPEN_STREAMS=${OPEN_STREAMS:-100}; GW_WARM=${GW_WARM:-3}
else
  DUR=${DUR:-20}; WARM=${WARM:-10}; SAT_CONCURRENCY=${SAT_CONCURRENCY:-"16 64 256"}; BURST_CONCURRENCY=${BURST_CONCURRENCY:-16}
  PACED=${PACED:-"256:20 1024:20 1024:5"}; OPEN_STREAMS=${OPEN_STREAMS:-1000}; GW_WARM=${GW_WARM:-20}
fi
PHASES=${PHASES:-"sat half burst paced open mock"}
BURST_TOKENS=${BURST_TOKENS:-1000}
PACED_TOKENS=${PACED_TOKENS:-100}
OPEN_DELAY_MS=${OPEN_DELAY_MS:-200}
HALF_RATE=${HALF_RATE:-}
GRPC_CLIENT=${GRPC_CLIENT:-raw}          # raw | grpc-java: the gRPC client of the unary phases (sat, half, mock)
STREAM_CLIENT=${STREAM_CLIENT:-grpc-java} # raw | grpc-java: the gRPC client of the stream phases
AUTH=${AUTH:-none}                       # none | api-key (adds the auth + access checks to every call)
GW_JVM_OPTS=${GW_JVM_OPTS:-"-Xms256m -Xmx1g"}
UNARY_UPSTREAM=${UNARY_UPSTREAM:-fake}   # fake | nginx: the upstream of the unary phases (sat, half)
GW_TRANSPORT=${GW_TRANSPORT:-}           # NIO | EPOLL: the gateway's socket I/O (default: epoll)
GW_MAX_CALLS=${GW_MAX_CALLS:-}           # the data plane's --max-calls-in-flight (default: no bound)
UPSTREAM_H2C=${UPSTREAM_H2C:-0}          # 1: the gateway reaches the fake upstream over h2c (one multiplexed connection)

has() { [[ " $PHASES " == *" $1 "* ]]; }

bench_init
[[ -f "$OUT/results.jsonl" ]] && mv "$OUT/results.jsonl" "$OUT/results.jsonl.prev"
{ echo "gateway jvm: $GW_JVM_OPTS"; echo "auth: $AUTH"; echo "durations: warm-up ${WARM}s, measured ${DUR}s"
  echo "grpc clients: unary $GRPC_CLIENT, streams $STREAM_CLIENT"; } >> "$OUT/env.txt"

start_upstream
GW_EXTRA_ARGS=()
UNARY_MODEL=bench
UNARY_DIRECT="$UPSTREAM/v1"
UNARY_UP_PID=$UPSTREAM_PID
if [[ $UNARY_UPSTREAM == nginx ]]; then
  # The fake upstream costs about as much per call as the gateway; at half the gateway's saturation
  # it and the load generator together need most of their core, and the half figure then measures
  # their queueing. nginx serving the same reply costs a fraction of that.
  start_static_upstream
  GW_EXTRA_ARGS+=(--static-upstream "$STATIC_UPSTREAM")
  UNARY_MODEL=bench-static
  UNARY_DIRECT="$STATIC_UPSTREAM/v1"
  UNARY_UP_PID=$STATIC_PID
fi
echo "unary upstream: $UNARY_UPSTREAM ($UNARY_DIRECT)" >> "$OUT/env.txt"
if [[ -n ${GW_MAX_CALLS:-} ]]; then
  GW_EXTRA_ARGS+=(--max-calls-in-flight "$GW_MAX_CALLS")
fi
echo "gateway calls in flight: ${GW_MAX_CALLS:-no bound}" >> "$OUT/env.txt"
if [[ -n $GW_TRANSPORT ]]; then
  GW_EXTRA_ARGS+=(--transport "$GW_TRANSPORT")
fi
echo "gateway transport: ${GW_TRANSPORT:-default (epoll where it loads)}" >> "$OUT/env.txt"
if [[ $UPSTREAM_H2C == 1 ]]; then
  GW_EXTRA_ARGS+=(--upstream-h2c)
fi
echo "gateway to fake upstream: $([[ $UPSTREAM_H2C == 1 ]] && echo 'HTTP/2 (h2c)' || echo 'HTTP/1.1')" >> "$OUT/env.txt"

# Paced models the gateway must know: every delay used by the paced and open phases.
delays=$(for spec in $PACED; do echo "${spec#*:}"; done; echo "$OPEN_DELAY_MS")
delays=$(echo "$delays" | sort -un | paste -sd, -)
rm -f "$OUT/gateway.port" "$OUT/gateway.key"
# shellcheck disable=SC2086
start_bg gateway "$GW_CPU" java $GW_JVM_OPTS -cp "$BENCH_JAR" dev.sluice.bench.gateway.BenchGateway \
  --upstream "$UPSTREAM" --port-file "$OUT/gateway.port" --paced-delays "$delays" \
  --auth "$AUTH" --api-key-file "$OUT/gateway.key" --max-time 3h "${GW_EXTRA_ARGS[@]}"
GW_PID=$LAST_PID
wait_file "$OUT/gateway.port" "$GW_PID" 90
GW="grpc://127.0.0.1:$(cat "$OUT/gateway.port")"
KEY=()
[[ $AUTH == api-key ]] && KEY=(--api-key "$(cat "$OUT/gateway.key")")
log "gateway pid $GW_PID at $GW (cpu $GW_CPU)"
sleep 1
record_rss rss-start.sluice "$GW_PID"

W=(--warmup "${WARM}s" --duration "${DUR}s")
UNARY=(--client "$GRPC_CLIENT")
STREAMS=(--client "$STREAM_CLIENT")
WATCH_GW=(--watch "gateway=$GW_PID" --watch "upstream=$UPSTREAM_PID")
WATCH_UP=(--watch "upstream=$UPSTREAM_PID")
UNARY_GW=(--model "$UNARY_MODEL" --watch "gateway=$GW_PID" --watch "upstream=$UNARY_UP_PID")
UNARY_UP=(--watch "upstream=$UNARY_UP_PID")

log "JIT warm-up of the gateway: unary and streams, ${GW_WARM}s each (not recorded)"
: > "$OUT/warmup.log"
# shellcheck disable=SC2086
run_fg "$OUT/warmup.log" taskset -c "$LOAD_CPU" java $LOAD_JVM_OPTS -cp "$BENCH_JAR" dev.sluice.bench.load.LoadGen \
  --url "$GW" "${KEY[@]}" "${UNARY[@]}" --model "$UNARY_MODEL" --mode closed --concurrency 32 --warmup 0s --duration "${GW_WARM}s" --label warm-unary || true
# shellcheck disable=SC2086
run_fg "$OUT/warmup.log" taskset -c "$LOAD_CPU" java $LOAD_JVM_OPTS -cp "$BENCH_JAR" dev.sluice.bench.load.LoadGen \
  --url "$GW" "${KEY[@]}" "${STREAMS[@]}" --call stream --max-tokens 200 --mode closed --concurrency 16 --warmup 0s \
  --duration "${GW_WARM}s" --label warm-stream || true

best=0
if has sat; then
  for c in $SAT_CONCURRENCY; do
    log "saturation, unary chat, $c workers"
    loadgen --label "sat-c$c.sluice" --url "$GW" "${KEY[@]}" "${UNARY[@]}" --mode closed --concurrency "$c" "${W[@]}" "${UNARY_GW[@]}"
    loadgen --label "sat-c$c.direct" --url "$UNARY_DIRECT" --mode closed --concurrency "$c" "${W[@]}" "${UNARY_UP[@]}"
    t=$(throughput_of "sat-c$c.sluice"); (( t > best )) && best=$t
  done
fi

if has half; then
  rate=${HALF_RATE:-$((best / 2))}
  (( rate > 0 )) || die "half: no saturation figure (run PHASES with sat, or set HALF_RATE)"
  # The closed-loop phases never exercise the unbatched, one-call-per-wake-up path an open loop
  # takes; on a gateway pinned to one core the JIT compiling it competes with the event loop, and a
  # backlog built then does not drain. Warm that path up at a quarter and at half the rate first.
  log "open-loop warm-up of the gateway at $((rate / 4))/s and $((rate / 2))/s (not recorded)"
  for warm_rate in $((rate / 4)) $((rate / 2)); do
    # shellcheck disable=SC2086
    run_fg "$OUT/warmup.log" taskset -c "$LOAD_CPU" java $LOAD_JVM_OPTS -cp "$BENCH_JAR" dev.sluice.bench.load.LoadGen \
      --url "$GW" "${KEY[@]}" "${UNARY[@]}" --model "$UNARY_MODEL" --mode open --rate "$warm_rate" --warmup 0s --duration "${GW_WARM}s" \
      --label "warm-open-$warm_rate" || true
  done
  log "added latency: open loop at $rate/s (half of $best/s)"
  loadgen --label half.sluice --url "$GW" "${KEY[@]}" "${UNARY[@]}" --mode open --rate "$rate" "${W[@]}" "${UNARY_GW[@]}" \
    --timeline "$OUT/half.sluice.timeline.csv"
  loadgen --label half.direct --url "$UNARY_DIRECT" --mode open --rate "$rate" "${W[@]}" "${UNARY_UP[@]}" \
    --timeline "$OUT/half.direct.timeline.csv"
fi

if has burst; then
  log "streaming: $BURST_TOKENS-token bursts, one stream at a time"
  loadgen --label burst-seq.sluice --url "$GW" "${KEY[@]}" "${STREAMS[@]}" --call stream --max-tokens "$BURST_TOKENS" --mode closed --concurrency 1 "${W[@]}" "${WATCH_GW[@]}"
  loadgen --label burst-seq.direct --url "$UPSTREAM/v1" --call stream --max-tokens "$BURST_TOKENS" --mode closed --concurrency 1 "${W[@]}" "${WATCH_UP[@]}"
  log "streaming: $BURST_TOKENS-token bursts, $BURST_CONCURRENCY at once"
  loadgen --label "burst-c$BURST_CONCURRENCY.sluice" --url "$GW" "${KEY[@]}" "${STREAMS[@]}" --call stream --max-tokens "$BURST_TOKENS" --mode closed --concurrency "$BURST_CONCURRENCY" "${W[@]}" "${WATCH_GW[@]}"
  loadgen --label "burst-c$BURST_CONCURRENCY.direct" --url "$UPSTREAM/v1" --call stream --max-tokens "$BURST_TOKENS" --mode closed --concurrency "$BURST_CONCURRENCY" "${W[@]}" "${WATCH_UP[@]}"
fi

if has paced; then
  for spec in $PACED; do
    s=${spec%%:*}; d=${spec#*:}
    # Spread stream starts over one stream's length so that tokens arrive evenly, not in waves.
    ramp=$(( d * PACED_TOKENS ))ms
    log "streaming: $s streams x $PACED_TOKENS tokens, one token every ${d} ms"
    loadgen --label "paced-s$s-d$d.sluice" --url "$GW" "${KEY[@]}" "${STREAMS[@]}" --model "bench-d$d" --call stream --max-tokens "$PACED_TOKENS" \
      --mode closed --concurrency "$s" --ramp "$ramp" "${W[@]}" "${WATCH_GW[@]}"
    loadgen --label "paced-s$s-d$d.direct" --url "$UPSTREAM/d/$d/v1" --call stream --max-tokens "$PACED_TOKENS" \
      --mode closed --concurrency "$s" --ramp "$ramp" "${W[@]}" "${WATCH_UP[@]}"
  done
fi

sleep 3
record_rss rss-idle.sluice "$GW_PID"

if has open; then
  # Long enough that no stream ends before the window does.
  tokens=$(( (WARM + DUR + 15) * 1000 / OPEN_DELAY_MS ))
  log "memory: $OPEN_STREAMS open streams (a token every ${OPEN_DELAY_MS} ms)"
  loadgen --label "open-streams-$OPEN_STREAMS.sluice" --url "$GW" "${KEY[@]}" "${STREAMS[@]}" --model "bench-d$OPEN_DELAY_MS" --call stream \
    --max-tokens "$tokens" --mode closed --concurrency "$OPEN_STREAMS" --ramp "$(( WARM * 500 ))ms" --drain 0s "${W[@]}" "${WATCH_GW[@]}"
fi

if has mock; then
  log "gateway alone: unary chat against the built-in MOCK backend, 64 workers"
  loadgen --label gwonly-c64.sluice --url "$GW" "${KEY[@]}" "${UNARY[@]}" --model bench-mock --mode closed --concurrency 64 "${W[@]}" "${WATCH_GW[@]}"
fi

if has wrk; then
  require_cmd wrk "apt-get install -y wrk"
  cat > "$OUT/wrk-post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-bench"
wrk.body = '{"model":"bench","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Say hello in sixteen tokens."}],"max_tokens":16}'
LUA
  for c in $SAT_CONCURRENCY; do
    log "cross-check: wrk, $c connections, direct upstream (compare with sat-c$c.direct)"
    : > "$OUT/wrk-c$c.txt"
    run_fg "$OUT/wrk-c$c.txt" taskset -c "$LOAD_CPU" wrk -t1 -c"$c" -d"$((WARM + DUR))s" --latency \
      -s "$OUT/wrk-post.lua" "$UPSTREAM/v1/chat/completions" || log "warning: wrk failed"
  done
fi

log "done; results in $OUT"
summary sluice
