#!/usr/bin/env bash
# Local ClickHouse server (Debian's clickhouse-server package) run unprivileged from a config
# of our own, data in a temporary folder, on 127.0.0.1 only. Not a system service.
#   scripts/clickhouse.sh start|stop|status
# Environment: MLGATE_CH_HTTP_PORT (default 18123), MLGATE_CH_DIR (default /tmp/mlgate-clickhouse).
# A user `mlgate` with password `mlgate` exists besides `default` (no password), so tests can
# show an authentication failure.
set -euo pipefail
http_port=${MLGATE_CH_HTTP_PORT:-18123}
tcp_port=$((http_port + 1))
dir=${MLGATE_CH_DIR:-/tmp/mlgate-clickhouse}
pidfile="$dir/clickhouse.pid"

log() { echo "[clickhouse] $*" >&2; }
running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }
ping_ok() { [ "$(curl -s --max-time 1 "http://127.0.0.1:$http_port/ping" 2>/dev/null)" = "Ok." ]; }

start() {
  if running; then log "already running (pid $(cat "$pidfile")) on 127.0.0.1:$http_port"; return 0; fi
  command -v clickhouse-server >/dev/null || {
    log "clickhouse-server not found: apt-get update && apt-get install -y clickhouse-server"; exit 1; }
  mkdir -p "$dir/data" "$dir/tmp" "$dir/log" "$dir/user_files" "$dir/format_schemas"
  cat > "$dir/config.xml" <<XML
<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>$dir/log/server.log</log><errorlog>$dir/log/server.err.log</errorlog><size>100M</size><count>2</count></logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>$http_port</http_port>
  <tcp_port>$tcp_port</tcp_port>
  <path>$dir/data/</path>
  <tmp_path>$dir/tmp/</tmp_path>
  <user_files_path>$dir/user_files/</user_files_path>
  <format_schema_path>$dir/format_schemas/</format_schema_path>
  <users_config>$dir/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>268435456</mark_cache_size>
  <max_concurrent_queries>100</max_concurrent_queries>
  <timezone>UTC</timezone>
</yandex>
XML
  cat > "$dir/users.xml" <<XML
<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>4000000000</max_memory_usage><load_balancing>random</load_balancing></default></profiles>
  <users>
    <default><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>default</profile><quota>default</quota></default>
    <mlgate><password>mlgate</password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>default</profile><quota>default</quota></mlgate>
  </users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
XML
  nohup clickhouse-server --config-file="$dir/config.xml" >"$dir/log/stdout.log" 2>&1 &
  echo $! > "$pidfile"
  local deadline=$((SECONDS + ${MLGATE_CH_START_TIMEOUT:-60}))
  until ping_ok; do
    if ! running; then log "server exited; see $dir/log"; tail -20 "$dir/log/stdout.log" "$dir/log/server.err.log" >&2 || true; exit 1; fi
    if [ $SECONDS -ge $deadline ]; then log "server not ready in time"; exit 1; fi
    sleep 0.2
  done
  log "ready on http://127.0.0.1:$http_port (pid $(cat "$pidfile"))"
}

stop() {
  if running; then
    local pid; pid=$(cat "$pidfile")
    kill "$pid"
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
    log "stopped"
  fi
  [ "${MLGATE_CH_KEEP:-0}" = 1 ] || rm -rf "$dir"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) if running && ping_ok; then echo "clickhouse running on http://127.0.0.1:$http_port"; else echo "clickhouse not running"; exit 1; fi ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
