#!/usr/bin/env bash
# Starts the Tansu broker on 127.0.0.1:9092 unless something already listens
# there (a real Kafka works just as well). Storage is a durable SQLite file
# under .state/tansu, so data survives broker restarts.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

HOST=127.0.0.1
PORT="${LOOP_BROKER_PORT:-9092}"
if port_open "$HOST" "$PORT"; then
  exit 0
fi
TANSU="$("$ROOT/scripts/ensure-tansu.sh")"
mkdir -p "$STATE_DIR/tansu"
say "starting Tansu broker on $HOST:$PORT"
# Tansu resolves sqlite:// paths against its working directory.
cd "$STATE_DIR/tansu"
setsid nohup "$TANSU" broker \
  --listener-url "tcp://$HOST:$PORT" \
  --advertised-listener-url "tcp://$HOST:$PORT" \
  --storage-engine "sqlite://tansu.db" \
  >"$LOG_DIR/tansu.log" 2>&1 < /dev/null &
pid=$!
echo "$pid" > "$PID_DIR/tansu.pid"
deadline=$((SECONDS + 60))
until port_open "$HOST" "$PORT"; do
  kill -0 "$pid" 2>/dev/null || die "Tansu exited at start-up: $(tail -3 "$LOG_DIR/tansu.log")"
  (( SECONDS < deadline )) || die "Tansu did not open $HOST:$PORT within 60s (see $LOG_DIR/tansu.log)"
  sleep 0.2
done

# Tansu 0.6's SQLite schema has no index on header(topition, offset_id), and
# every fetched record looks its headers up with that join: each fetch then
# scans the whole header table, so consumption slows down as the broker
# fills (a 20k-event backlog never drained). The index makes it ~13k
# events/s. Idempotent; runs on every start (the schema is Tansu's to create).
python3 - "$STATE_DIR/tansu/tansu.db" <<'PY' || warn "could not index Tansu's header table: consumption will be slow"
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], timeout=30)
for _ in range(100):
    if db.execute("select 1 from sqlite_master where type='table' and name='header'").fetchone():
        db.execute("create index if not exists header_topition_offset on header (topition, offset_id)")
        db.commit()
        sys.exit(0)
    time.sleep(0.1)
sys.exit("no header table after 10 s")
PY
