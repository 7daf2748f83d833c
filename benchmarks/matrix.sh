#!/usr/bin/env bash
# The performance matrix of issue 7: smtp-sink direct (the limit), policy-relayd with the local
# and the Redis counter backend, a private Postfix and a private Haraka, each relaying to
# smtp-sink; for every message size (5 KiB, 100 KiB) and number of concurrent sessions (20,
# 200). Per line: msg/s (median of --runs), p50/p99 submission latency, delivered counts, peak
# memory and CPU. Writes the Markdown report and the JSON lines to benchmarks/results/.
# See benchmarks/README.md "matrix.sh".
set -euo pipefail

BENCH_LIB="$(dirname "${BASH_SOURCE[0]}")/lib"
# shellcheck source=lib/common.sh
source "$BENCH_LIB/common.sh"
# shellcheck source=lib/haraka.sh
source "$BENCH_LIB/haraka.sh"
# shellcheck source=lib/redis.sh
source "$BENCH_LIB/redis.sh"

RUNS=3
MESSAGES=5000
MESSAGES_LARGE=""
SIZES="5120 102400"
SESSION_COUNTS="20 200"
ONLY="direct,relayd-local,relayd-redis,postfix,haraka"
CONNECTIONS=4
HARAKA_NODES=1
SENDERS=one
LOADER=smtp-load
TIMEOUT=${BENCH_TIMEOUT:-300}
STAMP=$(date -u +%Y-%m-%dT%H%MZ)
RESULTS_OUT="$BENCH_DIR/results/matrix-$STAMP.jsonl"

usage() {
  cat <<EOF
usage: $0 [options]
  --runs N             runs per line, median reported (default $RUNS)
  --messages N         messages per run (default $MESSAGES)
  --messages-large N   messages per run for sizes over 64 KiB (default: --messages)
  --sizes "5120 102400"       message sizes in bytes (the load's -l; default "$SIZES")
  --sessions "20 200"         concurrent sessions (default "$SESSION_COUNTS")
  --only LIST          comma list of direct,relayd-local,relayd-redis,postfix,haraka (default all)
  --connections N      policy-relayd upstream connections (default $CONNECTIONS)
  --haraka-nodes N     Haraka smtp.ini nodes: 0 = one process, N = master + N workers
                       (default $HARAKA_NODES, Haraka's own default)
  --senders one|distinct
                       one: every message from bench@edomex.gob.mx (default, as issue 2's
                       load); distinct: benchN@edomex.gob.mx, a new sender per message
  --loader smtp-load|smtp-source
                       smtp-load (default, built beside policy-relayd): submission latency
                       per message; smtp-source: issue 2's load tool, no latency figures
  --relayd PATH        policy-relayd binary (default \$POLICY_RELAYD, build-e/, build*/)
  --results FILE       the JSON lines (default benchmarks/results/matrix-DATE.jsonl; the
                       Markdown report goes beside it, .md)
  --keep               keep the work directory (logs, spools, instances)
  --fs-image SIZE      spools and queues on a fresh journaled ext4 image (root; see README)
  --pause S            sleep S seconds before each run
  --nice N             renice the benchmark (every process it starts) to N (root)
Environment: BENCH_TIMEOUT (seconds per run, default 300), BENCH_TMPDIR (default /var/tmp),
HARAKA (the haraka command; default /opt/haraka/node_modules/.bin/haraka).
EOF
}

MATRIX_ARGS="$*"
RELAYD=""
PAUSE=0
while [ $# -gt 0 ]; do
  bench_parse_common "$@"
  if [ "$CONSUMED" -gt 0 ]; then shift "$CONSUMED"; continue; fi
  case $1 in
  --messages-large) MESSAGES_LARGE=$2; shift 2 ;;
  --sizes) SIZES=$2; shift 2 ;;
  --sessions) SESSION_COUNTS=$2; shift 2 ;;
  --haraka-nodes) HARAKA_NODES=$2; shift 2 ;;
  --loader) LOADER=$2; shift 2 ;;
  -h | --help) usage; exit 0 ;;
  *) usage >&2; exit 2 ;;
  esac
done
MESSAGES_LARGE=${MESSAGES_LARGE:-$MESSAGES}
case $SENDERS in one | distinct) ;; *) die "--senders: one or distinct" ;; esac

wants() { [[ ",$ONLY," == *",$1,"* ]]; }

# Why a row cannot run on this machine (empty: it can). Rows that cannot run appear in the
# table with the reason instead of figures.
declare -A UNAVAILABLE=()

command -v smtp-sink >/dev/null || die "smtp-sink not found: run scripts/install-deps.sh (package postfix)"
if [ -z "$RELAYD" ]; then RELAYD=$(find_relayd) || RELAYD=""; fi
[ -z "$RELAYD" ] || [ -x "$RELAYD" ] || die "$RELAYD is not executable"
LOAD_OPTION=()
case $LOADER in
smtp-load)
  LOAD_BIN=${RELAYD:+$(dirname "$RELAYD")/smtp-load}
  [ -n "$LOAD_BIN" ] && [ -x "$LOAD_BIN" ] ||
    die "smtp-load not built (cmake -S . -B build-e -G Ninja -DCMAKE_BUILD_TYPE=Release -DPOLICY_RELAY_TESTS=OFF && cmake --build build-e -j2)"
  LOAD_OPTION=(--load "$LOAD_BIN" --load-sender "$SENDERS")
  ;;
smtp-source)
  command -v smtp-source >/dev/null || die "smtp-source not found: run scripts/install-deps.sh"
  [ "$SENDERS" = one ] || die "--senders distinct needs --loader smtp-load"
  ;;
*) die "--loader: smtp-load or smtp-source" ;;
esac
if [ -z "$RELAYD" ]; then
  UNAVAILABLE[relayd-local]="not built"
  UNAVAILABLE[relayd-redis]="not built"
fi
command -v redis-server >/dev/null || UNAVAILABLE[relayd-redis]="redis-server not installed"
if ! command -v postfix >/dev/null; then
  UNAVAILABLE[postfix]="not installed"
elif [ "$(id -u)" -ne 0 ]; then
  UNAVAILABLE[postfix]="needs root (postfix start)"
fi
HARAKA_BIN=$(find_haraka) || UNAVAILABLE[haraka]="not installed (scripts/install-deps.sh)"

# 200 sessions through a relay take ~400 descriptors (client and upstream sides, spool files):
# every process started from here inherits the raised limit.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
bench_start
RESULTS="$WORK/results.jsonl"
: >"$RESULTS"

# policy-relayd: the per-IP connection limit (default 50) raised for 200 sessions from
# 127.0.0.1 (server.max_connections is 2000 in the base configuration). The counters journal
# goes in each run's own directory, so that every run starts from empty counters, as the
# Redis row does with its fresh redis-server.
RELAY_STATE_PER_RUN=0
if [ -n "$RELAYD" ]; then
  RELAY_OPTIONAL_KEYS+=('server|max_connections_per_ip = 1000')
  relay_probe_keys "$RELAYD"
  kept=()
  for key in "${RELAY_ACCEPTED_KEYS[@]}"; do
    if [[ $key == 'state|directory = '* ]]; then RELAY_STATE_PER_RUN=1; else kept+=("$key"); fi
  done
  RELAY_ACCEPTED_KEYS=("${kept[@]}")
  [[ " ${RELAY_ACCEPTED_KEYS[*]} " == *"max_connections_per_ip = 1000"* ]] ||
    log "warning: server.max_connections_per_ip refused: 200 sessions will meet its default of 50"
  # The Redis backend exists only once this build accepts it (issue 7, built concurrently).
  if [ -z "${UNAVAILABLE[relayd-redis]:-}" ]; then
    write_relay_config "$WORK/probe.toml" "$WORK/probe-spool" "$WORK/probe.log" 25 4 \
      "${RELAY_ACCEPTED_KEYS[@]}" 'state|backend = "redis"' 'state|redis_url = "redis://127.0.0.1:6379/0"'
    if ! timeout 10 "$RELAYD" --config "$WORK/probe.toml" --check-config >"$WORK/probe.out" 2>&1; then
      UNAVAILABLE[relayd-redis]="not built (state.backend = \"redis\" refused by --check-config)"
      log "Redis backend: $(head -1 "$WORK/probe.out")"
    fi
  fi
fi

# Postfix: process limits above the load's 200 sessions (default_process_limit 100 would cap
# smtpd at 100 processes), no per-client connection count limit (127.0.0.1 is in mynetworks,
# which is exempt by default; said explicitly). Delivery concurrency to the sink stays at
# Postfix's default_destination_concurrency_limit of 20.
POSTFIX_EXTRA_MAIN=(
  'default_process_limit = 500'
  'smtpd_client_connection_count_limit = 0'
  'smtpd_client_connection_rate_limit = 0'
)

# inject ROW_LABEL PORT SINK_OUT RUN_DIR SIZE SESSIONS COUNT [helper options]
inject() {
  local scenario=$1 port=$2 sink_out=$3 dir=$4 size=$5 sessions=$6 count=$7
  shift 7
  "$PY" "$HELPER" inject --scenario "$scenario" --port "$port" --sink-out "$sink_out" \
    --source-out "$dir/source.out" --count "$count" --sessions "$sessions" --size "$size" \
    --timeout "$TIMEOUT" --sink-pid "$SINK_PID" "${LOAD_OPTION[@]}" "$@" |
    tee -a "$RESULTS" | summarize_run
}

summarize_run() {
  "$PY" -c '
import json, sys
r = json.loads(sys.stdin.read())
rate = "n/a" if r["msgs_per_s"] is None else "%.0f msg/s" % r["msgs_per_s"]
sink = "not reached" if r["sink_s"] is None else "%.2f s" % r["sink_s"]
lat = " p50 %.1f ms p99 %.1f ms," % (r["p50_ms"], r["p99_ms"]) if "p50_ms" in r else ""
mem = ", VmHWM %.1f MiB" % (r["relay_vmhwm_kib"] / 1024) if "relay_vmhwm_kib" in r else ""
if "postfix_core_pss_kib" in r: mem = ", core PSS %.1f MiB" % (r["postfix_core_pss_kib"] / 1024)
print("  %s: %s,%s sink full after %s, delivered %d/%d, %s rc=%d%s" % (r["scenario"], rate, lat,
      sink, r["delivered"], r["count"], r["loader"], r["source_rc"], mem), file=sys.stderr)'
}

declare -A LABEL=(
  [direct]="smtp-sink directly (the limit)"
  [relayd-local]="policy-relayd, local counters"
  [relayd-redis]="policy-relayd, Redis counters"
  [postfix]="Postfix plain relay"
  [haraka]="Haraka smtp_forward"
)
if [ -z "${UNAVAILABLE[postfix]:-}" ]; then
  LABEL[postfix]="Postfix $(postconf -d -h mail_version) plain relay"
fi
if [ -z "${UNAVAILABLE[haraka]:-}" ]; then
  LABEL[haraka]="Haraka $(haraka_version "$HARAKA_BIN") smtp_forward"
fi

# run_row ROW RUN SIZE SESSIONS: one timed run of one line of the table.
run_row() {
  local row=$1 run=$2 size=$3 sessions=$4 count=$MESSAGES
  local dir="$RUN_ROOT/$row-$size-$sessions-$run"
  if [ "$size" -gt 65536 ]; then count=$MESSAGES_LARGE; fi
  mkdir -p "$dir"
  chmod 755 "$dir"
  start_sink "$dir/sink.out"
  case $row in
  direct)
    inject "${LABEL[$row]}" "$SINK_PORT" "$dir/sink.out" "$dir" "$size" "$sessions" "$count"
    ;;
  relayd-local | relayd-redis)
    RELAY_EXTRA_KEYS=()
    if [ "$RELAY_STATE_PER_RUN" = 1 ]; then RELAY_EXTRA_KEYS+=("state|directory = \"$dir/state\""); fi
    local aux=()
    if [ "$row" = relayd-redis ]; then
      redis_start "$dir/redis"
      RELAY_EXTRA_KEYS+=('state|backend = "redis"' "state|redis_url = \"redis://127.0.0.1:$REDIS_PORT/0\"")
      aux=(--aux-pid "$REDIS_PID" --aux-name redis-server)
    fi
    start_relayd "$RELAYD" "$dir" "$SINK_PORT" "$CONNECTIONS"
    inject "${LABEL[$row]}" "$RELAY_PORT" "$dir/sink.out" "$dir" "$size" "$sessions" "$count" \
      --relay-pid "$RELAY_PID" --relay-log "$RELAY_LOG" "${aux[@]}"
    stop_relayd
    if [ "$row" = relayd-redis ]; then redis_stop; fi
    ;;
  postfix)
    postfix_create "$dir" "$SINK_PORT"
    postfix_start "$dir"
    inject "${LABEL[$row]}" "$PF_PORT" "$dir/sink.out" "$dir" "$size" "$sessions" "$count" \
      --postfix-master "$PF_MASTER_PID"
    postfix_stop "$PF_CONF"
    ;;
  haraka)
    haraka_create "$HARAKA_BIN" "$dir/haraka" "$SINK_PORT" "$HARAKA_NODES"
    haraka_start "$HARAKA_BIN" "$dir/haraka"
    inject "${LABEL[$row]}" "$HK_PORT" "$dir/sink.out" "$dir" "$size" "$sessions" "$count" \
      --relay-pid "$HK_PID" --relay-tree
    haraka_stop
    ;;
  esac
  stop_sink
}

ROWS=()
for row in direct relayd-local relayd-redis postfix haraka; do
  if wants "$row"; then ROWS+=("$row"); fi
done
[ "${#ROWS[@]}" -gt 0 ] || die "--only selects no row"
for row in "${ROWS[@]}"; do
  if [ -n "${UNAVAILABLE[$row]:-}" ]; then log "${LABEL[$row]}: ${UNAVAILABLE[$row]}"; fi
done

# Rounds interleave the lines (every cell and row once per round) so that drift in the
# machine's load hits all of them alike.
for run in $(seq 1 "$RUNS"); do
  log "round $run of $RUNS"
  for size in $SIZES; do
    for sessions in $SESSION_COUNTS; do
      for row in "${ROWS[@]}"; do
        if [ -n "${UNAVAILABLE[$row]:-}" ]; then
          if [ "$run" = 1 ]; then
            "$PY" "$HELPER" skipped --scenario "${LABEL[$row]}" --size "$size" \
              --sessions "$sessions" --reason "${UNAVAILABLE[$row]}" >>"$RESULTS"
          fi
          continue
        fi
        if [ "$PAUSE" != 0 ]; then sleep "$PAUSE"; fi
        run_row "$row" "$run" "$size" "$sessions"
      done
    done
  done
done

source "$BENCH_LIB/matrix_report.sh"
mkdir -p "$(dirname "$RESULTS_OUT")"
cp "$RESULTS" "$RESULTS_OUT"
matrix_report | tee "${RESULTS_OUT%.jsonl}.md"
log "results: $RESULTS_OUT, report: ${RESULTS_OUT%.jsonl}.md"
