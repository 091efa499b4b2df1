#!/usr/bin/env bash
# Local single-node Apache Kafka (KRaft, broker+controller) without Docker.
# Jars come from Maven Central (scripts/kafka/pom.xml) into .cache/kafka/libs (git-ignored);
# the log directory lives in a temporary folder that `stop` removes.
#   scripts/kafka.sh start|stop|kill|status|pid|fetch
# Environment: MLGATE_KAFKA_PORT (default 19092), MLGATE_KAFKA_DIR (default /tmp/mlgate-kafka),
# MLGATE_KAFKA_KEEP=1 (stop/start keep the log directory), MLGATE_KAFKA_ADVERTISED_PORT (default:
# the port; fault tests put a proxy in front of the broker and advertise the proxy's port).
# `kill` is a SIGKILL (no clean shutdown) that keeps the log directory: `start` with
# MLGATE_KAFKA_KEEP=1 then restarts on the same data, without it on a wiped one.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
libs="$root/.cache/kafka/libs"
port=${MLGATE_KAFKA_PORT:-19092}
cport=$((port + 1))
aport=${MLGATE_KAFKA_ADVERTISED_PORT:-$port}
dir=${MLGATE_KAFKA_DIR:-/tmp/mlgate-kafka}
pidfile="$dir/kafka.pid"

log() { echo "[kafka] $*" >&2; }

fetch() {
  if [ -f "$libs/.complete" ]; then return 0; fi
  command -v mvn >/dev/null || { log "mvn not found: install Maven (apt-get install maven)"; exit 1; }
  log "fetching Kafka jars from Maven Central into $libs"
  mvn -q -B -f "$root/scripts/kafka/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$libs" -DincludeScope=runtime
  touch "$libs/.complete"
}

running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }

start() {
  if running; then log "already running (pid $(cat "$pidfile")) on 127.0.0.1:$port"; return 0; fi
  fetch
  # MLGATE_KAFKA_KEEP=1 restarts on the existing log directory (outage tests); otherwise start fresh.
  if [ "${MLGATE_KAFKA_KEEP:-0}" != 1 ]; then rm -rf "$dir"; fi
  mkdir -p "$dir/data"
  cat > "$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$aport
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/data
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.retention.hours=24
log.cleaner.min.compaction.lag.ms=0
PROPS
  cat > "$dir/log4j.properties" <<PROPS
log4j.rootLogger=WARN, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=$dir/kafka.log
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.KafkaServer=INFO
log4j.logger.kafka.server.BrokerServer=INFO
PROPS
  local cp="$libs/*" jopts=(-Xmx512m -Xms256m -XX:+UseG1GC -Djava.awt.headless=true
    "-Dlog4j.configuration=file:$dir/log4j.properties")
  java "${jopts[@]}" -cp "$cp" kafka.tools.StorageTool format -t "mlgate-local-cluster0" \
    -c "$dir/server.properties" --ignore-formatted >"$dir/format.log" 2>&1 \
    || { cat "$dir/format.log" >&2; exit 1; }
  : > "$dir/kafka.log"
  nohup java "${jopts[@]}" -cp "$cp" kafka.Kafka "$dir/server.properties" >"$dir/stdout.log" 2>&1 &
  echo $! > "$pidfile"
  local deadline=$((SECONDS + ${MLGATE_KAFKA_START_TIMEOUT:-90}))
  until port_open && grep -q "to STARTED" "$dir/kafka.log" 2>/dev/null; do
    if ! running; then log "broker exited; see $dir/stdout.log"; tail -20 "$dir/stdout.log" >&2; exit 1; fi
    if [ $SECONDS -ge $deadline ]; then log "broker not ready in time; see $dir/kafka.log"; exit 1; fi
    sleep 0.2
  done
  log "ready on 127.0.0.1:$port (pid $(cat "$pidfile"))"
}

stop() {
  if running; then
    local pid; pid=$(cat "$pidfile")
    kill "$pid"
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
    log "stopped"
  fi
  if [ "${MLGATE_KAFKA_KEEP:-0}" != 1 ]; then rm -rf "$dir"; fi
}

hard_kill() {
  if running; then
    local pid; pid=$(cat "$pidfile")
    kill -9 "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    log "killed (SIGKILL) pid $pid; log directory kept"
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  kill) hard_kill ;;
  pid) if running; then cat "$pidfile"; else exit 1; fi ;;
  status) if running && port_open; then echo "kafka running on 127.0.0.1:$port"; else echo "kafka not running"; exit 1; fi ;;
  fetch) fetch ;;
  *) echo "usage: $0 start|stop|kill|status|pid|fetch" >&2; exit 2 ;;
esac
