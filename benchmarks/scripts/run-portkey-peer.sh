#!/usr/bin/env bash
# Peer run: the Portkey AI gateway (npm @portkey-ai/gateway, Node) on the same fake upstream, with
# the same load generator, layout and phases as run-dataplane-bench.sh, beside the direct baseline
# of the same run. Portkey is installed into a scratch directory (PORTKEY_DIR), never into the repo.
#
#   benchmarks/scripts/run-portkey-peer.sh                  # full run, quiet machine only
#   SMOKE=1 benchmarks/scripts/run-portkey-peer.sh          # harness check
#
# Portkey needs two preloads kept with the shared peer harness (PEERS_DIR, default ../shared/peers
# next to this repository): bind-loopback.cjs (Portkey listens on all interfaces otherwise) and
# portkey-fetch-headers-fix.cjs (Portkey 1.15.2 on Node 20 fails SSE and embeddings pass-through
# with "TypeError: immutable", Portkey-AI/gateway#1389). This script refuses to run without them.
# Portkey is single-threaded (one process = one core), pinned to GW_CPU like the Sluice gateway.
# Results: $OUT/results.jsonl, $OUT/summary.txt (labels *.portkey and *.direct).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

OUT=${OUT:-/tmp/sluice-bench/portkey}
PORTKEY_VERSION=${PORTKEY_VERSION:-1.15.2}
PORTKEY_DIR=${PORTKEY_DIR:-/tmp/sluice-portkey-$PORTKEY_VERSION}
PEERS_DIR=${PEERS_DIR:-$REPO_ROOT/../shared/peers}
PORTKEY_PORT=${PORTKEY_PORT:-18787}
SMOKE=${SMOKE:-0}
if [[ $SMOKE == 1 ]]; then
  DUR=${DUR:-3}; WARM=${WARM:-2}; SAT_CONCURRENCY=${SAT_CONCURRENCY:-16}; BURST_CONCURRENCY=${BURST_CONCURRENCY:-4}
  PACED=${PACED:-"32:20"}; OPEN_STREAMS=${OPEN_STREAMS:-100}; GW_WARM=${GW_WARM:-3}
else
  DUR=${DUR:-20}; WARM=${WARM:-15}; SAT_CONCURRENCY=${SAT_CONCURRENCY:-"16 64"}; BURST_CONCURRENCY=${BURST_CONCURRENCY:-16}
  PACED=${PACED:-"256:20"}; OPEN_STREAMS=${OPEN_STREAMS:-1000}; GW_WARM=${GW_WARM:-15}
fi
PHASES=${PHASES:-"sat half burst paced open"}
BURST_TOKENS=${BURST_TOKENS:-1000}
PACED_TOKENS=${PACED_TOKENS:-100}
OPEN_DELAY_MS=${OPEN_DELAY_MS:-200}
HALF_RATE=${HALF_RATE:-}

has() { [[ " $PHASES " == *" $1 "* ]]; }

for f in bind-loopback.cjs portkey-fetch-headers-fix.cjs; do
  [[ -f "$PEERS_DIR/$f" ]] || die "$PEERS_DIR/$f not found. This script needs the shared peer harness
  (set PEERS_DIR to the folder holding bind-loopback.cjs and portkey-fetch-headers-fix.cjs)."
done
PEERS_DIR=$(cd "$PEERS_DIR" && pwd)
require_cmd node "apt-get install -y nodejs (Node 20)"
require_cmd npm "apt-get install -y npm"
bench_init
[[ -f "$OUT/results.jsonl" ]] && mv "$OUT/results.jsonl" "$OUT/results.jsonl.prev"

ENTRY="$PORTKEY_DIR/node_modules/@portkey-ai/gateway/build/start-server.js"
if [[ ! -f $ENTRY ]]; then
  log "installing @portkey-ai/gateway@$PORTKEY_VERSION into $PORTKEY_DIR"
  mkdir -p "$PORTKEY_DIR"
  (cd "$PORTKEY_DIR" && { [[ -f package.json ]] || npm init -y >/dev/null; } \
    && npm install --no-audit --no-fund "@portkey-ai/gateway@$PORTKEY_VERSION" >> "$OUT/npm.log" 2>&1) \
    || die "npm install failed; see $OUT/npm.log"
fi
{ echo "node: $(node -v)"; echo "portkey: $(node -p "require('$PORTKEY_DIR/node_modules/@portkey-ai/gateway/package.json').version")"
  echo "durations: warm-up ${WARM}s, measured ${DUR}s"; } >> "$OUT/env.txt"

start_upstream
(cd "$PORTKEY_DIR" && exec taskset -c "$GW_CPU" node --require "$PEERS_DIR/bind-loopback.cjs" \
   --require "$PEERS_DIR/portkey-fetch-headers-fix.cjs" "$ENTRY" --port="$PORTKEY_PORT" --headless) \
   > "$OUT/portkey.log" 2>&1 &
GW_PID=$!
BENCH_PIDS+=("$GW_PID")
for _ in $(seq 100); do
  curl -s -o /dev/null "http://127.0.0.1:$PORTKEY_PORT/" && break
  kill -0 "$GW_PID" 2>/dev/null || die "Portkey exited; see $OUT/portkey.log"
  sleep 0.2
done
GW="http://127.0.0.1:$PORTKEY_PORT/v1"
log "portkey pid $GW_PID at $GW (cpu $GW_CPU)"
sleep 1
record_rss rss-start.portkey "$GW_PID"

# Portkey routes by headers: provider openai, custom host = the upstream path (with /d/<ms> for paced).
H=(--header "x-portkey-provider: openai" --header "x-portkey-custom-host: $UPSTREAM/v1")
W=(--warmup "${WARM}s" --duration "${DUR}s")
WATCH_GW=(--watch "gateway=$GW_PID" --watch "upstream=$UPSTREAM_PID")
WATCH_UP=(--watch "upstream=$UPSTREAM_PID")

log "warm-up of Portkey, ${GW_WARM}s (not recorded)"
: > "$OUT/warmup.log"
# shellcheck disable=SC2086
run_fg "$OUT/warmup.log" taskset -c "$LOAD_CPU" java $LOAD_JVM_OPTS -cp "$BENCH_JAR" dev.sluice.bench.load.LoadGen \
  --url "$GW" "${H[@]}" --mode closed --concurrency 32 --warmup 0s --duration "${GW_WARM}s" --label warm || true

best=0
if has sat; then
  for c in $SAT_CONCURRENCY; do
    log "saturation, unary chat, $c workers"
    loadgen --label "sat-c$c.portkey" --url "$GW" "${H[@]}" --mode closed --concurrency "$c" --deadline 30s "${W[@]}" "${WATCH_GW[@]}"
    loadgen --label "sat-c$c.direct" --url "$UPSTREAM/v1" --mode closed --concurrency "$c" "${W[@]}" "${WATCH_UP[@]}"
    t=$(throughput_of "sat-c$c.portkey"); (( t > best )) && best=$t
  done
fi

if has half; then
  rate=${HALF_RATE:-$((best / 2))}
  (( rate > 0 )) || die "half: no saturation figure (run PHASES with sat, or set HALF_RATE)"
  log "added latency: open loop at $rate/s (half of $best/s)"
  loadgen --label half.portkey --url "$GW" "${H[@]}" --mode open --rate "$rate" "${W[@]}" "${WATCH_GW[@]}"
  loadgen --label half.direct --url "$UPSTREAM/v1" --mode open --rate "$rate" "${W[@]}" "${WATCH_UP[@]}"
fi

if has burst; then
  log "streaming: $BURST_TOKENS-token bursts, one at a time, then $BURST_CONCURRENCY at once"
  loadgen --label burst-seq.portkey --url "$GW" "${H[@]}" --call stream --max-tokens "$BURST_TOKENS" --mode closed --concurrency 1 "${W[@]}" "${WATCH_GW[@]}"
  loadgen --label burst-seq.direct --url "$UPSTREAM/v1" --call stream --max-tokens "$BURST_TOKENS" --mode closed --concurrency 1 "${W[@]}" "${WATCH_UP[@]}"
  loadgen --label "burst-c$BURST_CONCURRENCY.portkey" --url "$GW" "${H[@]}" --call stream --max-tokens "$BURST_TOKENS" --mode closed --concurrency "$BURST_CONCURRENCY" "${W[@]}" "${WATCH_GW[@]}"
  loadgen --label "burst-c$BURST_CONCURRENCY.direct" --url "$UPSTREAM/v1" --call stream --max-tokens "$BURST_TOKENS" --mode closed --concurrency "$BURST_CONCURRENCY" "${W[@]}" "${WATCH_UP[@]}"
fi

if has paced; then
  for spec in $PACED; do
    s=${spec%%:*}; d=${spec#*:}
    ramp=$(( d * PACED_TOKENS ))ms
    log "streaming: $s streams x $PACED_TOKENS tokens, one token every ${d} ms"
    loadgen --label "paced-s$s-d$d.portkey" --url "$GW" --header "x-portkey-provider: openai" \
      --header "x-portkey-custom-host: $UPSTREAM/d/$d/v1" --call stream --max-tokens "$PACED_TOKENS" \
      --mode closed --concurrency "$s" --ramp "$ramp" "${W[@]}" "${WATCH_GW[@]}"
    loadgen --label "paced-s$s-d$d.direct" --url "$UPSTREAM/d/$d/v1" --call stream --max-tokens "$PACED_TOKENS" \
      --mode closed --concurrency "$s" --ramp "$ramp" "${W[@]}" "${WATCH_UP[@]}"
  done
fi

if has open; then
  sleep 3
  record_rss rss-idle.portkey "$GW_PID"
  tokens=$(( (WARM + DUR + 15) * 1000 / OPEN_DELAY_MS ))
  log "memory: $OPEN_STREAMS open streams (a token every ${OPEN_DELAY_MS} ms)"
  loadgen --label "open-streams-$OPEN_STREAMS.portkey" --url "$GW" --header "x-portkey-provider: openai" \
    --header "x-portkey-custom-host: $UPSTREAM/d/$OPEN_DELAY_MS/v1" --call stream --max-tokens "$tokens" \
    --mode closed --concurrency "$OPEN_STREAMS" --ramp "$(( WARM * 500 ))ms" --drain 0s "${W[@]}" "${WATCH_GW[@]}"
fi

log "done; results in $OUT"
summary portkey
