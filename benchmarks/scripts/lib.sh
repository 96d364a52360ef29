#!/usr/bin/env bash
# Shared helpers of the Sluice benchmark scripts. Source it; do not run it.
#
# Every process a script starts goes through start_bg, which records its PID; the EXIT/INT/TERM
# trap set by bench_init stops them all (SIGTERM, then SIGKILL after 5 s), newest first.
# Servers bind 127.0.0.1 only and every load run is bounded by --duration.

BENCH_SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$BENCH_SCRIPTS/../.." && pwd)"
BENCH_JAR="$REPO_ROOT/benchmarks/target/sluice-benchmarks.jar"

# Pinning (2-core layout): system under test alone on GW_CPU; fake upstream and load generator
# together on LOAD_CPU.
GW_CPU=${GW_CPU:-1}
LOAD_CPU=${LOAD_CPU:-0}
UPSTREAM_CPU=${UPSTREAM_CPU:-$LOAD_CPU}
LOAD_JVM_OPTS=${LOAD_JVM_OPTS:-"-Xms512m -Xmx2g -XX:+UseParallelGC"}
UPSTREAM_JVM_OPTS=${UPSTREAM_JVM_OPTS:-"-Xms256m -Xmx1g -XX:+UseParallelGC"}

BENCH_PIDS=()

log() { echo "[$(date +%T)] $*" | tee -a "$OUT/run.log" >&2; }
die() { echo "error: $*" >&2; exit 1; }

require_cmd() { # cmd "how to install"
  command -v "$1" >/dev/null 2>&1 || die "'$1' is required: $2"
}

require_jar() {
  [[ -f "$BENCH_JAR" ]] || die "$BENCH_JAR is missing: build it with
  mvn -B -ntp -pl benchmarks -am package -DskipTests        (from $REPO_ROOT)"
}

bench_cleanup() {
  local i pid
  for ((i = ${#BENCH_PIDS[@]} - 1; i >= 0; i--)); do
    pid=${BENCH_PIDS[i]}
    kill -TERM "$pid" 2>/dev/null || true
  done
  for ((i = ${#BENCH_PIDS[@]} - 1; i >= 0; i--)); do
    pid=${BENCH_PIDS[i]}
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  BENCH_PIDS=()
}

bench_init() { # creates $OUT, records the machine, sets the trap
  mkdir -p "$OUT"
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
  require_cmd taskset "apt-get install -y util-linux"
  require_cmd java "install a JDK 17"
  require_cmd curl "apt-get install -y curl"
  require_jar
  [[ $(nproc) -ge 2 ]] || log "warning: $(nproc) CPU(s); the layout assumes 2 (GW_CPU=$GW_CPU, LOAD_CPU=$LOAD_CPU)"
  {
    echo "date: $(date -u +%FT%TZ)"
    echo "host: $(uname -srm)"
    echo "cpus: $(nproc) ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'))"
    echo "memory: $(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
    echo "java: $(java -version 2>&1 | head -1)"
    echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "pinning: system under test on cpu $GW_CPU; upstream on cpu $UPSTREAM_CPU; load generator on cpu $LOAD_CPU"
    echo "git: $(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$REPO_ROOT" diff --quiet 2>/dev/null || echo ' (dirty)')"
  } > "$OUT/env.txt"
  cat "$OUT/env.txt" >&2
}

start_bg() { # name cpu cmd... ; sets LAST_PID
  local name=$1 cpu=$2; shift 2
  taskset -c "$cpu" "$@" > "$OUT/$name.log" 2>&1 &
  LAST_PID=$!
  BENCH_PIDS+=("$LAST_PID")
}

stop_pid() { # pid
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  for i in "${!BENCH_PIDS[@]}"; do [[ ${BENCH_PIDS[i]} == "$pid" ]] && unset 'BENCH_PIDS[i]'; done
  BENCH_PIDS=("${BENCH_PIDS[@]}")
}

wait_file() { # file pid seconds
  local f=$1 pid=$2 secs=${3:-60}
  for _ in $(seq $((secs * 10))); do
    [[ -s "$f" ]] && return 0
    kill -0 "$pid" 2>/dev/null || die "process $pid exited before writing $f (see $OUT/*.log)"
    sleep 0.1
  done
  die "$f not written within ${secs}s"
}

rss_mib() { awk '/^VmRSS/{printf "%.1f", $2/1024}' "/proc/$1/status"; }

record_rss() { # label pid → a JSON line in results.jsonl
  local r; r=$(rss_mib "$2")
  echo "{\"label\":\"$1\",\"rssMiB\":$r}" >> "$OUT/results.jsonl"
  log "$1: RSS $r MiB"
}

start_upstream() { # sets UPSTREAM_PID, UPSTREAM_PORT
  rm -f "$OUT/upstream.port"
  # shellcheck disable=SC2086
  start_bg upstream "$UPSTREAM_CPU" java $UPSTREAM_JVM_OPTS -cp "$BENCH_JAR" dev.sluice.bench.upstream.FakeUpstream \
    --port 0 --port-file "$OUT/upstream.port" --max-time 3h
  UPSTREAM_PID=$LAST_PID
  wait_file "$OUT/upstream.port" "$UPSTREAM_PID" 30
  UPSTREAM_PORT=$(cat "$OUT/upstream.port")
  UPSTREAM="http://127.0.0.1:$UPSTREAM_PORT"
  log "fake upstream pid $UPSTREAM_PID at $UPSTREAM"
}

start_static_upstream() { # sets STATIC_UPSTREAM, STATIC_PID: nginx answering every POST with the
  # fake upstream's own unary reply (captured from it, byte for byte), one worker on UPSTREAM_CPU.
  require_cmd nginx "apt-get install -y nginx"
  local body port
  body=$(curl -sf -X POST -H 'content-type: application/json' \
    -d '{"model":"bench","messages":[{"role":"user","content":"Hello"}],"max_tokens":16}' \
    "$UPSTREAM/v1/chat/completions") || die "could not capture the fake upstream's reply"
  [[ $body != *"'"* ]] || die "the captured reply has a single quote; nginx's return cannot hold it"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  mkdir -p "$OUT/nginx"
  cat > "$OUT/nginx/nginx.conf" <<NGINX
daemon off;
master_process off;
worker_processes 1;
pid $OUT/nginx/nginx.pid;
error_log $OUT/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $OUT/nginx/body;
  proxy_temp_path $OUT/nginx/proxy;
  fastcgi_temp_path $OUT/nginx/fastcgi;
  uwsgi_temp_path $OUT/nginx/uwsgi;
  scgi_temp_path $OUT/nginx/scgi;
  keepalive_requests 100000000;
  keepalive_timeout 600s;
  server {
    listen 127.0.0.1:$port;
    location / {
      default_type application/json;
      return 200 '$body';
    }
  }
}
NGINX
  start_bg nginx "$UPSTREAM_CPU" nginx -p "$OUT/nginx" -c "$OUT/nginx/nginx.conf"
  STATIC_PID=$LAST_PID
  STATIC_UPSTREAM="http://127.0.0.1:$port"
  local i
  for i in $(seq 50); do
    curl -sf -X POST -d '{}' "$STATIC_UPSTREAM/v1/chat/completions" > /dev/null && break
    sleep 0.1
  done
  log "static upstream (nginx) pid $STATIC_PID at $STATIC_UPSTREAM"
}

run_fg() { # logfile cmd... : runs cmd in the background and waits for it, so that the trap can
  # stop it on INT/TERM (bash runs traps only between foreground commands); output appended to logfile
  # and shown on stderr. Returns the command's exit status.
  local logfile=$1; shift
  "$@" >> "$logfile" 2>&1 &
  local pid=$! rc=0 tailpid
  BENCH_PIDS+=("$pid")
  tail -n +1 -f --pid="$pid" "$logfile" 2>/dev/null | sed -u 's/^/  /' >&2 &
  tailpid=$!
  wait "$pid" || rc=$?
  wait "$tailpid" 2>/dev/null || true
  local i
  for i in "${!BENCH_PIDS[@]}"; do [[ ${BENCH_PIDS[i]} == "$pid" ]] && unset 'BENCH_PIDS[i]'; done
  BENCH_PIDS=("${BENCH_PIDS[@]}")
  return "$rc"
}

loadgen() { # args... (runs pinned to LOAD_CPU, appends to results.jsonl; a failed run is logged, not fatal)
  local rc=0
  : > "$OUT/loadgen.last.log"
  # shellcheck disable=SC2086
  run_fg "$OUT/loadgen.last.log" taskset -c "$LOAD_CPU" java $LOAD_JVM_OPTS -cp "$BENCH_JAR" \
    dev.sluice.bench.load.LoadGen --json "$OUT/results.jsonl" "$@" || rc=$?
  cat "$OUT/loadgen.last.log" >> "$OUT/loadgen.log"
  (( rc == 0 )) || log "warning: load run failed (exit $rc, no successful call?): $*"
  return 0
}

# Reads the throughput of the newest run with this label from results.jsonl (integer req/s).
throughput_of() { # label
  grep -F "\"label\":\"$1\"" "$OUT/results.jsonl" | tail -1 \
    | sed -E 's/.*"throughputPerSecond":([0-9.]+).*/\1/' | cut -d. -f1
}

summary() { # gateway-target-name
  java -cp "$BENCH_JAR" dev.sluice.bench.report.Summary --gateway "$1" "$OUT/results.jsonl" | tee "$OUT/summary.txt"
}
