#!/usr/bin/env bash
# Where policy-relayd spends its CPU under the run.sh load: perf (sampling, cpu-clock, works in
# VMs without hardware counters) or, with --callgrind, valgrind's callgrind on a shorter run.
# Prints the hottest symbols. See benchmarks/README.md.
set -euo pipefail

# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

MESSAGES=""
SESSIONS=20
SIZE=5120
CONNECTIONS=4
TOOL=perf
CALL_GRAPH=0
RELAYD=""
FS_IMAGE=""
POLICY=on
SENDERS=one
TIMEOUT=${BENCH_TIMEOUT:-600}

usage() {
  cat <<EOF
usage: $0 [--callgrind] [--call-graph] [--messages N] [--connections N] [--relayd PATH]
          [--fs-image SIZE] [--policy on|off] [--senders one|distinct] [--keep]
  perf (default): smtp-source -s $SESSIONS -m 5000 -l $SIZE, perf record -e cpu-clock on the relay
  --call-graph: perf with frame-pointer call graphs (exact in the kernel; the Release build
                has no frame pointers, so user-space chains stop early)
  --callgrind: valgrind --tool=callgrind, default 500 messages
  --fs-image SIZE: spool on a fresh journaled ext4 image (see run.sh and README)
  --policy off: the policy chain off ([limits] enabled = false), as run.sh --policy off
  --senders distinct: every message from its own sender (smtp-load), as run.sh --senders
                      distinct; with --policy on/off this profiles issue 3's comparison
EOF
}

while [ $# -gt 0 ]; do
  case $1 in
  --callgrind) TOOL=callgrind; shift ;;
  --call-graph) CALL_GRAPH=1; shift ;;
  --messages) MESSAGES=$2; shift 2 ;;
  --connections) CONNECTIONS=$2; shift 2 ;;
  --relayd) RELAYD=$2; shift 2 ;;
  --keep) KEEP_WORK=1; shift ;;
  --fs-image) FS_IMAGE=$2; shift 2 ;;
  --policy) POLICY=$2; shift 2 ;;
  --senders) SENDERS=$2; shift 2 ;;
  -h | --help) usage; exit 0 ;;
  *) usage >&2; exit 2 ;;
  esac
done
[ -n "$MESSAGES" ] || { [ "$TOOL" = perf ] && MESSAGES=5000 || MESSAGES=500; }
if [ -z "$RELAYD" ]; then
  RELAYD=$(find_relayd) || die "policy-relayd not built; pass --relayd PATH"
fi
command -v "$TOOL" >/dev/null 2>&1 || [ "$TOOL" = callgrind ] || die "perf not found (apt-get install linux-perf)"

case $POLICY in
on) ;;
off) RELAY_EXTRA_KEYS=('limits|enabled = false') ;;
*) die "--policy: on or off" ;;
esac
LOAD_OPTION=()
case $SENDERS in
one) ;;
distinct)
  LOAD_BIN=$(dirname "$RELAYD")/smtp-load
  [ -x "$LOAD_BIN" ] || die "$LOAD_BIN not built (cmake --build ... --target smtp-load)"
  LOAD_OPTION=(--load "$LOAD_BIN")
  ;;
*) die "--senders: one or distinct" ;;
esac

bench_init
if [ -n "$FS_IMAGE" ]; then bench_mount_image "$FS_IMAGE"; fi
relay_probe_keys "$RELAYD"
dir="$RUN_ROOT/profile"
mkdir -p "$dir"
start_sink "$dir/sink.out"
if [ "$TOOL" = callgrind ]; then
  command -v valgrind >/dev/null || die "valgrind not found"
  RELAY_WRAPPER=(valgrind --tool=callgrind --callgrind-out-file="$dir/callgrind.out")
  RELAY_START_TIMEOUT=120
fi
start_relayd "$RELAYD" "$dir" "$SINK_PORT" "$CONNECTIONS"

if [ "$TOOL" = perf ]; then
  graph=()
  report_graph=()
  if [ "$CALL_GRAPH" = 1 ]; then
    graph=(-g)
    report_graph=(-g caller,0.5,callee --max-stack 8)
  fi
  perf record -e cpu-clock -F 999 "${graph[@]}" -p "$RELAY_PID" -o "$dir/perf.data" \
    >"$dir/perf.out" 2>&1 &
  PERF_PID=$!
  STARTED_PIDS+=("$PERF_PID")
  sleep 0.5
fi

"$PY" "$HELPER" inject --scenario "policy-relayd under $TOOL" --port "$RELAY_PORT" \
  --sink-out "$dir/sink.out" --source-out "$dir/source.out" --count "$MESSAGES" \
  --sessions "$SESSIONS" --size "$SIZE" --timeout "$TIMEOUT" --relay-pid "$RELAY_PID" \
  --relay-log "$RELAY_LOG" "${LOAD_OPTION[@]}" >"$dir/result.json"
cat "$dir/result.json" >&2

if [ "$TOOL" = perf ]; then
  kill -INT "$PERF_PID"
  stop_pid "$PERF_PID" 30
  forget_pid "$PERF_PID"
  stop_relayd
  echo "## perf: policy-relayd (policy chain $POLICY, senders $SENDERS), $MESSAGES messages (cpu-clock samples; self time); spool on $(fs_description)"
  echo
  echo '### by shared object'
  # (|| true: head closing the pipe early is not an error)
  perf report -i "$dir/perf.data" --stdio --no-children --sort dso -g none 2>/dev/null |
    grep -v '^#' | grep -v '^$' | head -15 || true
  echo
  echo '### by symbol'
  perf report -i "$dir/perf.data" --stdio --no-children --sort dso,symbol "${report_graph[@]}" \
    --percent-limit 0.7 2>/dev/null | grep -v "^#" | grep -v "^$" |
    sed -E "s/[[:space:]]+-[[:space:]]+-[[:space:]]*$//; s/[[:space:]]{3,}/   /g" | cut -c1-200 | head -45 || true
  if [ "$CALL_GRAPH" = 1 ]; then
    echo
    echo '### inclusive (self + callees; the kernel entries show which system calls cost)'
    perf report -i "$dir/perf.data" --stdio --children --sort symbol -g none --percent-limit 3 \
      2>/dev/null | grep -v "^#" | grep -v "^$" |
      sed -E "s/[[:space:]]+-[[:space:]]+-[[:space:]]*$//; s/[[:space:]]{3,}/   /g" | cut -c1-160 | head -60 || true
  fi
else
  stop_relayd # callgrind writes its file at exit
  echo "## callgrind: policy-relayd, $MESSAGES messages (instructions; inclusive then self)"
  callgrind_annotate --inclusive=yes "$dir/callgrind.out" 2>/dev/null | sed -n '1,60p' || true
  echo
  callgrind_annotate "$dir/callgrind.out" 2>/dev/null | sed -n '1,50p' || true
fi
stop_sink
