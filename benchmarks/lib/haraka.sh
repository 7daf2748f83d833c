# A private Haraka instance (npm package Haraka, installed by scripts/install-deps.sh under
# /opt/haraka) relaying everything from 127.0.0.0/8 to the benchmark sink. Sourced after
# lib/common.sh. See benchmarks/README.md "matrix.sh" for what it does and does not do compared
# to policy-relayd.

HARAKA_PREFIX=${HARAKA_PREFIX:-/opt/haraka}

# find_haraka: prints the haraka command ($HARAKA, the install-deps prefix, or PATH).
find_haraka() {
  local candidate
  for candidate in "${HARAKA:-}" "$HARAKA_PREFIX/node_modules/.bin/haraka" "$(command -v haraka 2>/dev/null)"; do
    if [ -n "$candidate" ] && [ -x "$candidate" ]; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

# haraka_version HARAKA: "3.3.4".
haraka_version() {
  "$1" -v 2>/dev/null | sed -n 's/.*Version: *\([0-9][0-9.]*\).*/\1/p' | head -1
}

# haraka_create HARAKA DIR SINK_PORT NODES: `haraka -i DIR`, then the configuration below.
# Sets HK_PORT. NODES is smtp.ini `nodes`: 0 = one process, N = a cluster master and N workers
# (Haraka's default is 1).
haraka_create() {
  local haraka=$1 dir=$2 sink_port=$3 nodes=$4
  HK_PORT=$(free_port)
  "$haraka" -i "$dir" >"$dir.install.out" 2>&1 || {
    cat "$dir.install.out" >&2
    die "haraka -i $dir failed"
  }
  # Plugins: no reverse DNS of the client (as Postfix's smtpd_peername_lookup = no); relay
  # with an ACL (every client in relay_acl_allow is "relaying", so its recipients are
  # accepted); queue/smtp_forward, which forwards each message to the sink while the client
  # waits and replies 250 only after the sink's 250. The default plugins that use DNS
  # (mail_from.is_resolvable) or want local domains (rcpt_to.in_host_list) are left out.
  cat >"$dir/config/plugins" <<'EOF'
bench_skip_rdns
relay
queue/smtp_forward
EOF
  mkdir -p "$dir/plugins"
  cat >"$dir/plugins/bench_skip_rdns.js" <<'EOF'
// Written by benchmarks/lib/haraka.sh: no reverse DNS lookup of the client (Haraka's core
// does one per connection otherwise), as smtpd_peername_lookup = no does for Postfix.
exports.hook_lookup_rdns = function (next) {
    next(OK, 'localhost')
}
EOF
  cat >"$dir/config/relay.ini" <<'EOF'
[relay]
acl=true
force_routing=false
dest_domains=false
all=false
EOF
  echo "127.0.0.0/8" >"$dir/config/relay_acl_allow"
  # enable_outbound: relaying connections' messages go to the queue_outbound hook, which
  # smtp_forward then takes too (else Haraka's outbound queue would look up MX records).
  cat >"$dir/config/smtp_forward.ini" <<EOF
host=127.0.0.1
port=$sink_port
enable_outbound=true
EOF
  cat >"$dir/config/smtp.ini" <<EOF
listen=127.0.0.1:$HK_PORT
nodes=$nodes
inactivity_timeout=300
force_shutdown_timeout=5
EOF
  cat >"$dir/config/log.ini" <<'EOF'
[main]
level=notice
timestamps=true
format=default
EOF
  echo "bench-haraka.localdomain" >"$dir/config/me"
  : >"$dir/config/host_list"
}

# haraka_start HARAKA DIR: runs `haraka -c DIR` in the foreground of its own process group
# (setsid), so that stopping the group also ends the cluster's workers. Sets HK_PID.
haraka_start() {
  local haraka=$1 dir=$2
  setsid "$haraka" -c "$dir" >"$dir/haraka.log" 2>&1 </dev/null &
  HK_PID=$!
  STARTED_GROUPS+=("$HK_PID")
  # Node takes a few seconds to load the plugins on a busy machine.
  if ! "$PY" "$HELPER" wait-port "$HK_PORT" 60 || ! pid_alive "$HK_PID"; then
    tail -20 "$dir/haraka.log" >&2
    die "Haraka is not accepting on $HK_PORT"
  fi
}

# haraka_stop: SIGTERM to the group; Haraka holds no state (nothing is queued), so its graceful
# shutdown is cut short (force_shutdown_timeout=5) and the group killed after 15 s.
haraka_stop() {
  stop_group "$HK_PID" 15
  forget_group "$HK_PID"
}
