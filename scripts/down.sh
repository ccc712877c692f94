#!/usr/bin/env bash
# `make down`: stops the services and the broker that `make up` started.
# PostgreSQL and Redis are the machine's and keep running.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
for pidfile in "$PID_DIR"/*.pid; do
  [[ -e $pidfile ]] || continue
  name=$(basename "$pidfile" .pid)
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    say "stopping $name (pid $pid)"
    kill "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && { warn "$name did not stop; killing"; kill -9 "$pid"; }
  fi
  rm -f "$pidfile"
done
