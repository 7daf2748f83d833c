# A private redis-server for the policy-relayd Redis-backend row: its own port (picked at run
# time), directory and log under the run's directory; never the system's Redis. Sourced after
# lib/common.sh.

# redis_start DIR: sets REDIS_PID and REDIS_PORT. No persistence (no RDB snapshots, no AOF):
# the benchmark measures the relay's round trips to Redis, not Redis's disk.
redis_start() {
  local dir=$1 attempt
  mkdir -p "$dir"
  for attempt in 1 2 3; do
    REDIS_PORT=$(free_port)
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$dir" --save "" \
      --appendonly no --daemonize no --protected-mode yes --logfile "$dir/redis.log" \
      --databases 1 </dev/null >"$dir/redis.out" 2>&1 &
    REDIS_PID=$!
    STARTED_PIDS+=("$REDIS_PID")
    if "$PY" "$HELPER" wait-port "$REDIS_PORT" 10 && pid_alive "$REDIS_PID"; then
      return 0
    fi
    stop_pid "$REDIS_PID" 2
    forget_pid "$REDIS_PID"
    log "redis-server did not start on port $REDIS_PORT (attempt $attempt): $(tail -3 "$dir/redis.log" 2>/dev/null)"
  done
  die "redis-server would not start"
}

redis_stop() {
  stop_pid "$REDIS_PID" 10
  forget_pid "$REDIS_PID"
}
