# Shared by benchmarks/run.sh and benchmarks/big_message.sh (source it; bash only).
#
# Contract: every process these functions start is recorded and stopped by bench_cleanup (run
# from an EXIT trap), every wait has a deadline, ports are picked at run time on 127.0.0.1,
# and everything lives under one temp dir ($WORK) on the local disk (not tmpfs: the relays
# fsync their queues, and tmpfs would make that free).

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REPO_DIR="$(cd "$BENCH_DIR/.." && pwd)"
PY=/usr/bin/python3
HELPER="$BENCH_DIR/lib/bench.py"

WORK=""
NICE=""            # --nice (bench_start)
FS_IMAGE=""        # --fs-image SIZE (bench_start)
RUN_ROOT=""        # where spools and queues go: $WORK, or the loop-mounted image
FS_MOUNT=""        # set when bench_mount_image mounted one
KEEP_WORK=0
STARTED_PIDS=()    # background processes started by this script
STARTED_GROUPS=()  # process groups started by this script (setsid: a daemon and its children)
POSTFIX_DIRS=()    # config directories of Postfix instances started by this script

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

bench_init() {
  WORK="$(mktemp -d "${BENCH_TMPDIR:-/var/tmp}/policy-relay-bench.XXXXXX")"
  # Postfix daemons drop to the postfix user and must be able to reach their queue.
  chmod 755 "$WORK"
  trap bench_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  RUN_ROOT="$WORK"
  log "work directory: $WORK"
}

# bench_mount_image SIZE: puts every spool and queue on a fresh ext4 file system with a journal
# (the Debian default), loop-mounted from a sparse image in $WORK. Why: this VM's root file
# system is ext4 WITHOUT a journal, where inode allocation skips every inode deleted in the last
# 60-300 s (fs/ext4/ialloc.c recently_deleted()); a relay creating and deleting thousands of
# queue files then slows down the next run, and the figures swing 2-3x with the churn of the
# previous minute. root only.
bench_mount_image() {
  local size=$1
  [ "$(id -u)" -eq 0 ] || die "--fs-image needs root (mount -o loop)"
  truncate -s "$size" "$WORK/fs.img"
  mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$WORK/fs.img" >/dev/null ||
    die "mkfs.ext4 failed"
  mkdir -p "$WORK/fs"
  mount -o loop "$WORK/fs.img" "$WORK/fs" || die "mount -o loop failed"
  FS_MOUNT="$WORK/fs"
  chmod 755 "$WORK/fs"
  RUN_ROOT="$WORK/fs"
  log "spools and queues on a $size journaled ext4 image: $(findmnt -n -o SOURCE "$WORK/fs")"
}

# fs_description: one line for the report.
fs_description() {
  local jbd="no journal" dev
  dev=$(findmnt -n -o SOURCE --target "$RUN_ROOT")
  if ls /proc/fs/jbd2/ 2>/dev/null | grep -q "^$(basename "$dev")-"; then jbd="journal"; fi
  echo "$(findmnt -n -o FSTYPE --target "$RUN_ROOT") ($dev, $jbd)$([ -n "$FS_MOUNT" ] && echo ", loop image")"
}

pid_alive() { kill -0 "$1" 2>/dev/null; }

# stop_pid PID TIMEOUT_SECONDS: SIGTERM, wait up to the timeout, then SIGKILL; reaps it.
stop_pid() {
  local pid=$1 timeout=${2:-10} waited=0
  pid_alive "$pid" || {
    wait "$pid" 2>/dev/null || true
    return 0
  }
  kill -TERM "$pid" 2>/dev/null || true
  while pid_alive "$pid" && [ "$waited" -lt $((timeout * 10)) ]; do
    # A reaped child disappears at once; an unreaped (zombie) one answers kill -0 until waited.
    if [ "$(ps -o stat= -p "$pid" 2>/dev/null | cut -c1)" = "Z" ]; then break; fi
    sleep 0.1
    waited=$((waited + 1))
  done
  if pid_alive "$pid" && [ "$(ps -o stat= -p "$pid" 2>/dev/null | cut -c1)" != "Z" ]; then
    log "pid $pid ($(ps -o comm= -p "$pid" 2>/dev/null)) ignored SIGTERM for ${timeout}s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
  return 0
}

# stop_group PGID TIMEOUT_SECONDS: SIGTERM to the process group a `setsid` child leads (the
# leader's pid), wait up to the timeout for the leader, then SIGKILL the whole group, so that
# no child (a Haraka worker) outlives its parent.
stop_group() {
  local pgid=$1 timeout=${2:-10}
  kill -TERM -- "-$pgid" 2>/dev/null || true
  stop_pid "$pgid" "$timeout"
  kill -KILL -- "-$pgid" 2>/dev/null || true
  return 0
}

forget_group() {
  local pgid=$1 i
  for i in "${!STARTED_GROUPS[@]}"; do
    if [ "${STARTED_GROUPS[$i]}" = "$pgid" ]; then unset 'STARTED_GROUPS[i]'; fi
  done
  return 0
}

bench_cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  local dir pid
  for dir in "${POSTFIX_DIRS[@]}"; do
    postfix_stop "$dir"
  done
  for pid in "${STARTED_PIDS[@]}"; do
    stop_pid "$pid" 5
  done
  for pid in "${STARTED_GROUPS[@]}"; do
    stop_group "$pid" 5
  done
  if [ -n "$FS_MOUNT" ]; then
    umount "$FS_MOUNT" 2>/dev/null || umount -l "$FS_MOUNT"
  fi
  if [ -n "$WORK" ] && [ -d "$WORK" ]; then
    if [ "$KEEP_WORK" = 1 ] || [ "$rc" -ne 0 ]; then
      log "kept $WORK${FS_MOUNT:+ (spools in fs.img, unmounted)}"
    else
      rm -rf "$WORK"
    fi
  fi
  exit "$rc"
}

forget_pid() {
  local pid=$1 i
  for i in "${!STARTED_PIDS[@]}"; do
    if [ "${STARTED_PIDS[$i]}" = "$pid" ]; then unset 'STARTED_PIDS[i]'; fi
  done
  return 0
}

free_port() { "$PY" "$HELPER" free-port; }

# start_sink OUTFILE: starts smtp-sink with running counters (-c) on a fresh port.
# Sets SINK_PID and SINK_PORT. The counter line "sess=N quit=N mesg=N" is rewritten on every
# "." received, so "mesg" is the number of messages the sink holds.
start_sink() {
  local out=$1 attempt user_opt=()
  [ "$(id -u)" -eq 0 ] && user_opt=(-u nobody)
  for attempt in 1 2 3; do
    SINK_PORT=$(free_port)
    smtp-sink "${user_opt[@]}" -c "127.0.0.1:$SINK_PORT" 1024 >"$out" 2>"$out.err" &
    SINK_PID=$!
    STARTED_PIDS+=("$SINK_PID")
    if "$PY" "$HELPER" wait-port "$SINK_PORT" 5 && pid_alive "$SINK_PID"; then
      return 0
    fi
    stop_pid "$SINK_PID" 2
    forget_pid "$SINK_PID"
    log "smtp-sink did not start on port $SINK_PORT (attempt $attempt): $(cat "$out.err")"
  done
  die "smtp-sink would not start"
}

stop_sink() {
  local status=0
  if ! pid_alive "$SINK_PID"; then
    wait "$SINK_PID" 2>/dev/null || status=$?
    log "warning: smtp-sink (pid $SINK_PID) had already exited, status $status$( ((status > 128)) && echo " (signal $((status - 128)))")"
  fi
  stop_pid "$SINK_PID" 5
  forget_pid "$SINK_PID"
}

# ---------------------------------------------------------------------------------------------
# policy-relayd

find_relayd() {
  local candidate
  for candidate in "${POLICY_RELAYD:-}" "$REPO_DIR/build-e/policy-relayd" "$REPO_DIR"/build*/policy-relayd; do
    if [ -n "$candidate" ] && [ -x "$candidate" ]; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

# Keys the benchmark needs only once the daemon knows them (policy limits that would otherwise
# pace 5,000 messages of one sender to 30/min; state and admin paths that default to system
# directories). Each is kept only if `--check-config` accepts it; see relay_probe_keys.
# @RUN@ is the run's own directory (beside its spool, on the --fs-image file system): every run
# starts with empty counters, as the spool starts empty.
RELAY_OPTIONAL_KEYS=(
  'limits|messages_per_minute = 1000000'
  'limits|recipients_per_day = 100000000'
  'limits|queue_backlog_per_sender = 1000000'
  'state|directory = "@RUN@/state"'
  'admin|socket = "@RUN@/admin.sock"'
)
RELAY_ACCEPTED_KEYS=()
# Keys of one scenario (e.g. 'limits|enabled = false' for the policy chain off).
RELAY_EXTRA_KEYS=()

# write_relay_config FILE SPOOL_DIR LOG_FILE SINK_PORT CONNECTIONS [SECTION|KEY-LINE ...]
write_relay_config() {
  local file=$1 spool=$2 logfile=$3 sink_port=$4 connections=$5
  shift 5
  local section extra line
  {
    echo '# Written by benchmarks/lib/common.sh for one benchmark run.'
    echo '[server]'
    echo 'listen = ["127.0.0.1:0"]'
    echo 'hostname = "bench-relay.localdomain"'
    echo 'trusted_networks = ["127.0.0.0/8"]'
    echo 'max_connections = 2000'
    for extra in "$@"; do if [ "${extra%%|*}" = server ]; then echo "${extra#*|}"; fi; done
    echo '[spool]'
    echo "directory = \"$spool\""
    for extra in "$@"; do if [ "${extra%%|*}" = spool ]; then echo "${extra#*|}"; fi; done
    echo '[upstream]'
    echo 'mode = "smtp"'
    echo 'host = "127.0.0.1"'
    echo "port = $sink_port"
    echo 'tls = "none"'
    echo 'auth = "none"'
    echo "connections = $connections"
    for extra in "$@"; do if [ "${extra%%|*}" = upstream ]; then echo "${extra#*|}"; fi; done
    echo '[log]'
    echo "file = \"$logfile\""
    echo 'level = "info"'
    for section in limits state admin; do
      line=""
      for extra in "$@"; do
        if [ "${extra%%|*}" = "$section" ]; then
          if [ -z "$line" ]; then echo "[$section]"; fi
          line=1
          echo "${extra#*|}" | sed "s|@RUN@|$(dirname "$file")|g"
        fi
      done
    done
  } >"$file"
}

# relay_probe_keys RELAYD: fills RELAY_ACCEPTED_KEYS with the optional keys this daemon build
# accepts. The base configuration itself must pass `--check-config`.
relay_probe_keys() {
  local relayd=$1 probe="$WORK/probe.toml" key
  write_relay_config "$probe" "$WORK/probe-spool" "$WORK/probe.log" 25 4
  if ! timeout 10 "$relayd" --config "$probe" --check-config >"$WORK/probe.out" 2>&1; then
    cat "$WORK/probe.out" >&2
    die "policy-relayd rejects the benchmark configuration ($probe)"
  fi
  RELAY_ACCEPTED_KEYS=()
  for key in "${RELAY_OPTIONAL_KEYS[@]}"; do
    write_relay_config "$probe" "$WORK/probe-spool" "$WORK/probe.log" 25 4 "$key"
    if timeout 10 "$relayd" --config "$probe" --check-config >/dev/null 2>&1; then
      RELAY_ACCEPTED_KEYS+=("$key")
    fi
  done
  log "optional relay keys accepted: ${RELAY_ACCEPTED_KEYS[*]:-none}"
}

# A command prefix for the daemon (e.g. valgrind, which keeps the pid); and how long to wait
# for its "event=listening" line.
RELAY_WRAPPER=(env)
RELAY_START_TIMEOUT=15

# start_relayd RELAYD RUN_DIR SINK_PORT CONNECTIONS: sets RELAY_PID, RELAY_PORT, RELAY_LOG.
start_relayd() {
  local relayd=$1 dir=$2 sink_port=$3 connections=$4
  mkdir -p "$dir/spool"
  RELAY_LOG="$dir/relayd.log"
  write_relay_config "$dir/relay.toml" "$dir/spool" "$RELAY_LOG" "$sink_port" "$connections" \
    "${RELAY_ACCEPTED_KEYS[@]}" "${RELAY_EXTRA_KEYS[@]}"
  "${RELAY_WRAPPER[@]}" "$relayd" --config "$dir/relay.toml" >"$dir/relayd.out" 2>&1 &
  RELAY_PID=$!
  STARTED_PIDS+=("$RELAY_PID")
  RELAY_PORT=$("$PY" "$HELPER" wait-log "$RELAY_LOG" 'event=listening address=127\.0\.0\.1:(\d+)' \
    "$RELAY_START_TIMEOUT") || {
    cat "$dir/relayd.out" "$RELAY_LOG" >&2 2>/dev/null
    die "policy-relayd did not log event=listening within $RELAY_START_TIMEOUT s"
  }
  "$PY" "$HELPER" wait-port "$RELAY_PORT" 5 || die "policy-relayd is not accepting on $RELAY_PORT"
}

# stop_relayd: SIGTERM; its shutdown_timeout defaults to 30 s.
stop_relayd() {
  stop_pid "$RELAY_PID" 40
  forget_pid "$RELAY_PID"
}

# ---------------------------------------------------------------------------------------------
# A private Postfix instance: its own config_directory, queue_directory and data_directory
# under DIR; started and stopped with `postfix -c DIR/etc`. /etc/postfix is never written.

# main.cf lines appended to every instance (e.g. process limits for 200 sessions).
POSTFIX_EXTRA_MAIN=()

# postfix_create DIR SINK_PORT: sets PF_PORT (its SMTP listener) and PF_CONF.
postfix_create() {
  local dir=$1 sink_port=$2
  PF_CONF="$dir/etc"
  PF_PORT=$(free_port)
  mkdir -p "$PF_CONF" "$dir/queue" "$dir/data"
  chown postfix: "$dir/data"
  cat >"$PF_CONF/main.cf" <<EOF
# Written by benchmarks/lib/common.sh: a plain relay to the benchmark sink, nothing else.
compatibility_level = 3.6
queue_directory = $dir/queue
data_directory = $dir/data
maillog_file = $dir/postfix.log
myhostname = bench-postfix.localdomain
mydomain = localdomain
myorigin = \$myhostname
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
local_transport = error:local delivery is disabled
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:$sink_port
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_peername_lookup = no
biff = no
EOF
  if [ "${#POSTFIX_EXTRA_MAIN[@]}" -gt 0 ]; then
    printf '%s\n' "${POSTFIX_EXTRA_MAIN[@]}" >>"$PF_CONF/main.cf"
  fi
  # Debian's master.cf without chroot (the chroot would need copies of /etc files), without
  # pickup/local/virtual/lmtp/pipe services, and with smtpd on the run-time port only.
  cat >"$PF_CONF/master.cf" <<EOF
127.0.0.1:$PF_PORT inet n - n - - smtpd
cleanup    unix  n - n -     0 cleanup
qmgr       unix  n - n 300   1 qmgr
rewrite    unix  - - n -     - trivial-rewrite
bounce     unix  - - n -     0 bounce
defer      unix  - - n -     0 bounce
trace      unix  - - n -     0 bounce
verify     unix  - - n -     1 verify
flush      unix  n - n 1000? 0 flush
proxymap   unix  - - n -     - proxymap
proxywrite unix  - - n -     1 proxymap
smtp       unix  - - n -     - smtp
relay      unix  - - n -     - smtp
showq      unix  n - n -     - showq
error      unix  - - n -     - error
retry      unix  - - n -     - error
discard    unix  - - n -     - discard
anvil      unix  - - n -     1 anvil
scache     unix  - - n -     1 scache
postlog    unix-dgram n - n - 1 postlogd
EOF
}

# postfix_start DIR: `postfix start` creates the queue directories (post-install
# create-missing) with the right owners. Sets PF_MASTER_PID.
postfix_start() {
  local dir=$1
  POSTFIX_DIRS+=("$dir/etc")
  timeout 60 postfix -c "$dir/etc" start >"$dir/start.out" 2>&1 || {
    cat "$dir/start.out" "$dir/postfix.log" >&2 2>/dev/null
    die "postfix -c $dir/etc start failed"
  }
  PF_MASTER_PID=$(sed -n '1s/ //gp' "$dir/queue/pid/master.pid" 2>/dev/null)
  [ -n "$PF_MASTER_PID" ] || die "no master.pid for the Postfix instance in $dir"
  "$PY" "$HELPER" wait-port "$PF_PORT" 10 || die "Postfix is not accepting on $PF_PORT"
}

# postfix_stop CONFIG_DIR: `postfix stop`, wait up to 20 s for the master, then `abort`.
postfix_stop() {
  local conf=$1 queue pid waited=0 i
  queue=$(postconf -c "$conf" -h queue_directory 2>/dev/null) || return 0
  pid=$(sed -n '1s/ //gp' "$queue/pid/master.pid" 2>/dev/null)
  if [ -n "$pid" ] && pid_alive "$pid"; then
    timeout 30 postfix -c "$conf" stop >/dev/null 2>&1
    while pid_alive "$pid" && [ "$waited" -lt 200 ]; do
      sleep 0.1
      waited=$((waited + 1))
    done
    if pid_alive "$pid"; then
      log "Postfix master $pid still running: postfix abort"
      timeout 30 postfix -c "$conf" abort >/dev/null 2>&1
      sleep 1
      if pid_alive "$pid"; then kill -KILL "$pid" 2>/dev/null; fi
    fi
  fi
  for i in "${!POSTFIX_DIRS[@]}"; do
    if [ "${POSTFIX_DIRS[$i]}" = "$conf" ]; then unset 'POSTFIX_DIRS[i]'; fi
  done
  return 0
}

# bench_parse_common OPTION [VALUE]: an option that run.sh and matrix.sh both take. Sets the
# variable it names and CONSUMED to the words used (2, or 1 for --keep); 0: not one of them.
bench_parse_common() {
  CONSUMED=0
  case $1 in
  --keep) KEEP_WORK=1 CONSUMED=1; return ;;
  --runs | --messages | --senders | --connections | --only | --relayd | --results | --nice | \
    --fs-image | --pause) ;;
  *) return ;;
  esac
  [ $# -ge 2 ] || die "$1 needs a value"
  CONSUMED=2
  case $1 in
  --runs) RUNS=$2 ;;
  --messages) MESSAGES=$2 ;;
  --senders) SENDERS=$2 ;;
  --connections) CONNECTIONS=$2 ;;
  --only) ONLY=$2 ;;
  --relayd) RELAYD=$2 ;;
  --results) RESULTS_OUT=$2 ;;
  --nice) NICE=$2 ;;
  --fs-image) FS_IMAGE=$2 ;;
  --pause) PAUSE=$2 ;;
  esac
}

# bench_start: --nice, the work directory, the --fs-image file system, and a warning (kept in
# LOAD_AT_START for the report) when the machine is already busy.
bench_start() {
  if [ -n "$NICE" ]; then
    renice -n "$NICE" -p $$ >/dev/null || die "renice -n $NICE failed"
  fi
  bench_init
  if [ -n "$FS_IMAGE" ]; then bench_mount_image "$FS_IMAGE"; fi
  LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)
  if awk -v l="${LOAD_AT_START%% *}" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }'; then
    log "warning: load average $LOAD_AT_START on $(nproc) cores: other work will skew the figures"
  fi
}
