#!/usr/bin/env bash
# One 25 MiB message through policy-relayd to smtp-sink: the relay must stream it (spool file
# in, upstream socket out), not hold it. Reports the relay's VmHWM before and after and fails
# (exit 1) if it rose by 8 MiB or more. See benchmarks/README.md.
set -euo pipefail

# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

# smtp-source -l counts the payload with its CRLFs; its four header lines add ~150 bytes. 4 KiB
# of headroom keeps the whole message (plus the relay's Received: line) under the default
# [limits] max_message_size of 25 MiB.
PAYLOAD=$((25 * 1024 * 1024 - 4096))
LIMIT_MIB=8
CONNECTIONS=4
TIMEOUT=${BENCH_TIMEOUT:-180}
RELAYD=""

usage() {
  cat <<EOF
usage: $0 [--relayd PATH] [--payload BYTES] [--limit-mib N] [--connections N] [--keep]
  default payload $PAYLOAD bytes, limit $LIMIT_MIB MiB of VmHWM growth.
Environment: BENCH_TIMEOUT (seconds per wait, default 180), BENCH_TMPDIR (default /var/tmp).
EOF
}

while [ $# -gt 0 ]; do
  case $1 in
  --relayd) RELAYD=$2; shift 2 ;;
  --payload) PAYLOAD=$2; shift 2 ;;
  --limit-mib) LIMIT_MIB=$2; shift 2 ;;
  --connections) CONNECTIONS=$2; shift 2 ;;
  --keep) KEEP_WORK=1; shift ;;
  -h | --help) usage; exit 0 ;;
  *) usage >&2; exit 2 ;;
  esac
done

for tool in smtp-source smtp-sink; do
  command -v "$tool" >/dev/null || die "$tool not found: run scripts/install-deps.sh (package postfix)"
done
if [ -z "$RELAYD" ]; then
  RELAYD=$(find_relayd) || die "policy-relayd not built; pass --relayd PATH"
fi

bench_init
relay_probe_keys "$RELAYD"
dir="$WORK/big"
mkdir -p "$dir"
start_sink "$dir/sink.out"
start_relayd "$RELAYD" "$dir" "$SINK_PORT" "$CONNECTIONS"

vmhwm_kib() { "$PY" "$HELPER" vmhwm "$RELAY_PID"; }
send() { # send PAYLOAD_BYTES EXPECTED_SINK_COUNT: one message; prints seconds until the sink has it
  local payload=$1 expected=$2 started
  started=$(date +%s.%N)
  timeout "$TIMEOUT" smtp-source -m 1 -l "$payload" -f bench@edomex.gob.mx -t rcpt@example.org \
    "127.0.0.1:$RELAY_PORT" >"$dir/source.out" 2>&1 || {
    cat "$dir/source.out" >&2
    die "smtp-source failed on the $payload-byte message"
  }
  "$PY" "$HELPER" wait-sink "$dir/sink.out" "$expected" "$TIMEOUT" >/dev/null ||
    die "the sink did not receive message $expected within ${TIMEOUT}s (see $RELAY_LOG)"
  awk -v a="$(date +%s.%N)" -v b="$started" 'BEGIN { printf "%.2f", a - b }'
}
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

at_start=$(vmhwm_kib)
warmup_s=$(send 5120 1) # sessions, spool and upstream pool all used once
before=$(vmhwm_kib)
big_s=$(send "$PAYLOAD" 2)
after=$(vmhwm_kib)
delivered=$("$PY" "$HELPER" sink-count "$dir/sink.out")
delta=$((after - before))
stop_relayd
stop_sink

verdict=PASS
[ "$delta" -lt $((LIMIT_MIB * 1024)) ] || verdict=FAIL

cat <<EOF

## policy-relayd: one big message, $(date -u +%Y-%m-%dT%H:%MZ)

    smtp-source -m 1 -l $PAYLOAD -f bench@edomex.gob.mx -t rcpt@example.org 127.0.0.1:RELAY_PORT
    (relay: upstream 127.0.0.1:SINK_PORT, tls none, connections $CONNECTIONS; $("$RELAYD" --version 2>&1 | head -1))

| relay VmHWM | KiB | MiB |
|---|---|---|
| after start | $at_start | $(mib "$at_start") |
| after a 5 KiB warm-up message ("before") | $before | $(mib "$before") |
| after the $PAYLOAD-byte message ("after") | $after | $(mib "$after") |
| rise (after - before) | $delta | $(mib "$delta") |

Delivered to the sink: $delivered/2. Warm-up message: ${warmup_s}s; big message, smtp-source
start to the sink's "." : ${big_s}s.
$verdict: the relay's peak RSS rose by $(mib "$delta") MiB (limit: less than $LIMIT_MIB MiB).
EOF
[ "$verdict" = PASS ] && [ "$delivered" -eq 2 ]
