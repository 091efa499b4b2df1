#!/usr/bin/env bash
# Local infrastructure for the pipeline's tests: Kafka (KRaft, from Maven Central) and a
# ClickHouse server (Debian's clickhouse-server). The embedded engine (chdb) needs nothing.
#   scripts/infra.sh start|stop|status
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
case "${1:-}" in
  start) bash "$here/kafka.sh" start && bash "$here/clickhouse.sh" start ;;
  stop) bash "$here/kafka.sh" stop; bash "$here/clickhouse.sh" stop ;;
  status) rc=0; bash "$here/kafka.sh" status || rc=1; bash "$here/clickhouse.sh" status || rc=1; exit $rc ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
