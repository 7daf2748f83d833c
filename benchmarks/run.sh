#!/usr/bin/env bash
# Throughput benchmark: smtp-source -s 20 -m 5000 -l 5120 (a) straight into smtp-sink, (b)
# through policy-relayd (upstream connections 4 and 8) to smtp-sink, (c) through a private
# Postfix instance configured as a plain relay to smtp-sink. Prints a Markdown table of the
# medians over --runs runs. See benchmarks/README.md.
set -euo pipefail

# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

RUNS=3
MESSAGES=5000
SESSIONS=20
SIZE=5120
CONNECTIONS="4 8"
POLICY_MODES="on"
ONLY="direct,relayd,postfix"
RESULTS_OUT=""
TIMEOUT=${BENCH_TIMEOUT:-300}

usage() {
  cat <<EOF
usage: $0 [options]
  --runs N             runs per scenario, median reported (default $RUNS)
  --messages N         messages per run (default $MESSAGES)
  --sessions N         parallel smtp-source sessions (default $SESSIONS)
  --size BYTES         smtp-source -l payload (default $SIZE)
  --senders one|distinct
                       one: smtp-source, every message from bench@edomex.gob.mx (default);
                       distinct: smtp-load (built beside policy-relayd), the same load with a
                       new sender per message (benchN@edomex.gob.mx), so that no per-sender
                       limit bites: the policy chain on/off comparison of issue 3
  --connections "4 8"  policy-relayd upstream connections to try (default "$CONNECTIONS")
  --only LIST          comma list of direct,relayd,postfix (default all)
  --relayd PATH        policy-relayd binary (default \$POLICY_RELAYD, build-e/, build*/)
  --results FILE       also write the per-run JSON lines there
  --keep               keep the work directory (logs, spools, Postfix instance)
  --fs-image SIZE      put spools and queues on a fresh journaled ext4 image of SIZE (e.g.
                       4G), loop-mounted (root only); see README "File system"
  --pause S            sleep S seconds before each run (lets the previous run's churn age)
  --nice N             renice this script (and so every process it starts: load, relays,
                       sink) to N, e.g. -10 on a machine busy with other work (root only)
Environment: BENCH_TIMEOUT (seconds per run, default 300), BENCH_TMPDIR (default /var/tmp).
EOF
}

RELAYD=""
SENDERS=one
PAUSE=0
while [ $# -gt 0 ]; do
  bench_parse_common "$@"
  if [ "$CONSUMED" -gt 0 ]; then shift "$CONSUMED"; continue; fi
  case $1 in
  --sessions) SESSIONS=$2; shift 2 ;;
  --size) SIZE=$2; shift 2 ;;
  --policy) POLICY_MODES=$2; shift 2 ;;
  -h | --help) usage; exit 0 ;;
  *) usage >&2; exit 2 ;;
  esac
done

wants() { [[ ",$ONLY," == *",$1,"* ]]; }

for tool in smtp-source smtp-sink; do
  command -v "$tool" >/dev/null || die "$tool not found: run scripts/install-deps.sh (package postfix)"
done
if wants postfix; then
  command -v postfix >/dev/null || die "postfix not found: run scripts/install-deps.sh"
  [ "$(id -u)" -eq 0 ] || die "the Postfix scenario must run as root (postfix start); use --only direct,relayd"
fi
if wants relayd; then
  if [ -z "$RELAYD" ]; then
    RELAYD=$(find_relayd) || {
      log "policy-relayd not built (cmake -S . -B build-e -G Ninja -DCMAKE_BUILD_TYPE=Release -DPOLICY_RELAY_TESTS=OFF && cmake --build build-e -j2): skipping the relayd scenario"
      ONLY=${ONLY//relayd/}
    }
  fi
  [ -z "$RELAYD" ] || [ -x "$RELAYD" ] || die "$RELAYD is not executable"
fi

LOAD_OPTION=()
case $SENDERS in
one) ;;
distinct)
  [ -n "$RELAYD" ] || die "--senders distinct needs the relayd build (smtp-load is built beside it)"
  LOAD_BIN=$(dirname "$RELAYD")/smtp-load
  [ -x "$LOAD_BIN" ] || die "$LOAD_BIN not built (cmake --build ... --target smtp-load)"
  LOAD_OPTION=(--load "$LOAD_BIN")
  ;;
*) die "--senders: one or distinct" ;;
esac

bench_start
RESULTS="$WORK/results.jsonl"
: >"$RESULTS"
if wants relayd; then
  relay_probe_keys "$RELAYD"
fi

# inject SCENARIO PORT SINK_OUT RUN_DIR [helper options]: one timed smtp-source run.
inject() {
  local scenario=$1 port=$2 sink_out=$3 dir=$4
  shift 4
  "$PY" "$HELPER" inject --scenario "$scenario" --port "$port" --sink-out "$sink_out" \
    --source-out "$dir/source.out" --count "$MESSAGES" --sessions "$SESSIONS" --size "$SIZE" \
    --timeout "$TIMEOUT" --sink-pid "$SINK_PID" "${LOAD_OPTION[@]}" "$@" | tee -a "$RESULTS" | summarize_run
}

summarize_run() {
  "$PY" -c '
import json, sys
r = json.loads(sys.stdin.read())
rate = "n/a" if r["msgs_per_s"] is None else "%.0f msg/s" % r["msgs_per_s"]
sink = "not reached" if r["sink_s"] is None else "%.2f s" % r["sink_s"]
extra = ""
if "relay_vmhwm_kib" in r: extra = ", VmHWM %.1f MiB" % (r["relay_vmhwm_kib"] / 1024)
if "postfix_core_pss_kib" in r: extra = ", core PSS %.1f MiB" % (r["postfix_core_pss_kib"] / 1024)
print("  %s: injection %s, sink full after %s, delivered %d/%d, smtp-source rc=%d%s"
      % (r["scenario"], rate, sink, r["delivered"], r["count"], r["source_rc"], extra),
      file=sys.stderr)'
}

run_direct() {
  local dir="$RUN_ROOT/direct-$1"
  mkdir -p "$dir"
  start_sink "$dir/sink.out"
  inject "smtp-sink directly (the limit)" "$SINK_PORT" "$dir/sink.out" "$dir"
  stop_sink
}

run_relayd() {
  local connections=$2 policy=$3 dir="$RUN_ROOT/relayd-c$2-$3-$1"
  local label="policy-relayd, upstream connections $connections"
  mkdir -p "$dir"
  RELAY_EXTRA_KEYS=()
  if [ "$policy" = off ]; then
    RELAY_EXTRA_KEYS=('limits|enabled = false')
    label="$label, policy chain off"
  elif [ "$POLICY_MODES" != on ]; then
    label="$label, policy chain on"
  fi
  start_sink "$dir/sink.out"
  start_relayd "$RELAYD" "$dir" "$SINK_PORT" "$connections"
  inject "$label" "$RELAY_PORT" "$dir/sink.out" \
    "$dir" --relay-pid "$RELAY_PID" --relay-log "$RELAY_LOG"
  stop_relayd
  stop_sink
}

run_postfix() {
  local dir="$RUN_ROOT/postfix-$1"
  mkdir -p "$dir"
  chmod 755 "$dir"
  start_sink "$dir/sink.out"
  postfix_create "$dir" "$SINK_PORT"
  postfix_start "$dir"
  inject "Postfix $(postconf -d -h mail_version) plain relay" "$PF_PORT" "$dir/sink.out" "$dir" \
    --postfix-master "$PF_MASTER_PID"
  postfix_stop "$PF_CONF"
  stop_sink
}

pause() { if [ "$PAUSE" != 0 ]; then sleep "$PAUSE"; fi; }

# Rounds interleave the scenarios so that drift in the machine's load hits all of them alike.
for run in $(seq 1 "$RUNS"); do
  log "round $run of $RUNS"
  if wants direct; then pause; run_direct "$run"; fi
  if wants relayd; then
    for c in $CONNECTIONS; do
      for policy in $POLICY_MODES; do pause; run_relayd "$run" "$c" "$policy"; done
    done
  fi
  if wants postfix; then pause; run_postfix "$run"; fi
done

if [ -n "$RESULTS_OUT" ]; then cp "$RESULTS" "$RESULTS_OUT"; fi

relay_version="not run"
if wants relayd; then
  relay_version="$("$RELAYD" --version 2>&1 | head -1) ($RELAYD, built $(date -u -r "$RELAYD" +%Y-%m-%dT%H:%MZ))"
fi
cat <<EOF

## policy-relay benchmark, $(date -u +%Y-%m-%dT%H:%MZ)

Machine: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1), kernel $(uname -r);
Postfix $(postconf -d -h mail_version 2>/dev/null); policy-relayd: $relay_version;
git $(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$REPO_DIR" diff --quiet HEAD -- daemon include policy 2>/dev/null || echo " (with uncommitted changes)").
Load average (1, 5, 15 min) at start: $LOAD_AT_START; at end: $(cut -d' ' -f1-3 /proc/loadavg).
Every process of the benchmark ran at nice $(ps -o ni= -p $$ | tr -d ' ').
Queues and spools on $(fs_description)$([ "$PAUSE" != 0 ] && echo "; ${PAUSE} s pause before each run").

Load, the same for every row (the sink port is picked at run time):

    $(if [ "$SENDERS" = distinct ]; then echo "smtp-load -s $SESSIONS -m $MESSAGES -l $SIZE -d edomex.gob.mx -t rcpt@example.org 127.0.0.1:PORT  (sender benchN@edomex.gob.mx, N = 0..$((MESSAGES - 1)))"; else echo "smtp-source -c -s $SESSIONS -m $MESSAGES -l $SIZE -f bench@edomex.gob.mx -t rcpt@example.org 127.0.0.1:PORT"; fi)
    smtp-sink $([ "$(id -u)" -eq 0 ] && echo "-u nobody ")-c 127.0.0.1:SINK_PORT 1024

Medians of $RUNS runs. "injection msg/s" = $MESSAGES / smtp-source wall time; "s until sink holds
all" = from smtp-source start until smtp-sink's message counter reaches $MESSAGES.

EOF
"$PY" "$HELPER" table "$RESULTS"
cat <<EOF

Relay memory: policy-relayd = VmHWM of its one process after the run. Postfix = peak over
500 ms samples of the sum over its live processes (short-lived ones take their own VmHWM with
them): ΣRSS of smtpd+cleanup+qmgr+smtp counts shared pages once per process, ΣPSS shares them
out. Relay CPU s = user+system CPU of the relay during the run (Postfix: master plus every
child, exited ones included).
EOF
