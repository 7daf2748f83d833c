# The Markdown report of benchmarks/matrix.sh (sourced by it once the runs are done; reads its
# variables). Prints to stdout.

matrix_report() {
  local relay_version="not run" load_line dirty=""
  if [ -n "$RELAYD" ]; then
    relay_version="$("$RELAYD" --version 2>&1 | head -1) ($RELAYD, built $(date -u -r "$RELAYD" +%Y-%m-%dT%H:%MZ))"
  fi
  git -C "$REPO_DIR" diff --quiet HEAD -- daemon include policy 2>/dev/null || dirty=" (with uncommitted changes)"
  local sender="-f bench@edomex.gob.mx"
  [ "$SENDERS" = distinct ] && sender="-d edomex.gob.mx  (sender benchN@edomex.gob.mx)"
  if [ "$LOADER" = smtp-load ]; then
    load_line="smtp-load -s SESSIONS -m MESSAGES -l SIZE $sender -t rcpt@example.org 127.0.0.1:PORT"
  else
    load_line="smtp-source -c -s SESSIONS -m MESSAGES -l SIZE -f bench@edomex.gob.mx -t rcpt@example.org 127.0.0.1:PORT"
  fi
  cat <<EOF

## policy-relay performance matrix, $(date -u +%Y-%m-%dT%H:%MZ)

Command: \`benchmarks/matrix.sh $MATRIX_ARGS\`

Machine: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1), kernel $(uname -r).
policy-relayd: $relay_version; git $(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown)$dirty.
Load average (1, 5, 15 min) at start: $LOAD_AT_START; at end: $(cut -d' ' -f1-3 /proc/loadavg).
Every process of the benchmark ran at nice $(ps -o ni= -p $$ | tr -d ' '); open files limit $(ulimit -n).
Queues and spools on $(fs_description)$([ "$PAUSE" != 0 ] && echo "; ${PAUSE} s pause before each run").

Load, the same for every row of a cell (ports picked at run time; SIZE and SESSIONS per
cell; MESSAGES = $MESSAGES$([ "$MESSAGES_LARGE" != "$MESSAGES" ] && echo ", $MESSAGES_LARGE for sizes over 64 KiB")):

    $load_line
    smtp-sink $([ "$(id -u)" -eq 0 ] && echo "-u nobody ")-c 127.0.0.1:SINK_PORT 1024

Relays: policy-relayd with $CONNECTIONS upstream connections, policy chain on, per-sender
limits raised out of the way; Postfix with default_process_limit = 500; Haraka with
nodes = $HARAKA_NODES, plugins relay (ACL 127.0.0.0/8) and queue/smtp_forward.
Medians of $RUNS runs. "msg/s" = MESSAGES / the load tool's wall time; "% of direct" =
against the sink-direct line of the same cell; p50/p99 = submission latency per message,
connect to the 250 after the final dot (smtp-load; median over runs of each run's
percentile); "s until sink holds all" = from the load's start until smtp-sink counted
MESSAGES.

EOF
  "$PY" "$HELPER" matrix-table "$RESULTS"
  cat <<EOF

Relay memory: policy-relayd = VmHWM of its one process after the run ("+ redis-server" =
the private Redis's VmHWM); Haraka = the sum of VmHWM over its processes (cluster master and
workers, alive for the whole run); Postfix = peak over 500 ms samples of the sum over its
live processes (ΣPSS shares out the pages ΣRSS counts once per process). Relay CPU s = user +
system CPU of the relay during the run ("+ N" = redis-server's); Postfix: master plus every
child. A "250" means: policy-relayd, message fsynced in its spool; Postfix, written to its
queue file (fsynced); Haraka, already accepted by the sink (smtp_forward forwards before it
replies; nothing is stored).
EOF
}
