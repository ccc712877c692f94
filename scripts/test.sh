#!/usr/bin/env bash
# Runs every test against a throwaway broker of its own (fresh SQLite file on
# port 19092, stopped afterwards), so test topics never pile up on the
# development broker and each run starts clean. PostgreSQL and Redis are the
# machine's; tests isolate themselves there with their own databases and
# key prefixes.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
PROFILE="${1:-default}"
TEST_STATE="$STATE_DIR/test-broker"
PORT="${LOOP_TEST_BROKER_PORT:-19092}"

if port_open 127.0.0.1 "$PORT"; then
  die "port $PORT is busy (another test run?); set LOOP_TEST_BROKER_PORT"
fi
rm -rf "$TEST_STATE"
LOOP_STATE_DIR="$TEST_STATE" LOOP_BROKER_PORT="$PORT" "$ROOT/scripts/ensure-broker.sh"
stop_broker() {
  local pid
  pid=$(cat "$TEST_STATE/pids/tansu.pid" 2>/dev/null || true)
  [[ -n $pid ]] && kill "$pid" 2>/dev/null || true
  rm -rf "$TEST_STATE"
}
trap stop_broker EXIT

cd "$ROOT"
LOOP_TEST_KAFKA_BROKERS="127.0.0.1:$PORT" cargo nextest run --workspace --locked --profile "$PROFILE"
# The web client: unit tests, bundle budget, and the browser tests against a
# throwaway platform of its own on this broker (web/e2e/run.sh).
LOOP_TEST_KAFKA_BROKERS="127.0.0.1:$PORT" "$ROOT/web/e2e/run.sh"
