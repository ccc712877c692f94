#!/usr/bin/env bash
# Installs the Tansu Kafka-API-compatible broker once per machine.
# Cached under $LOOP_TOOLS_DIR (default ~/.cache/loop/tools) so a fresh clone
# on the same machine (CI) does not rebuild it (~13 min on 2 cores).
set -euo pipefail
TANSU_VERSION="0.6.0"
TOOLS_DIR="${LOOP_TOOLS_DIR:-$HOME/.cache/loop/tools}"
ROOT="$TOOLS_DIR/tansu-$TANSU_VERSION"
BIN="$ROOT/bin/tansu"
if [[ -x "$BIN" ]]; then
  echo "$BIN"
  exit 0
fi
mkdir -p "$ROOT"
# One build at a time per machine: a second caller (another checkout, CI and a
# developer) waits for the first and then finds the binary.
exec 9>"$TOOLS_DIR/.tansu-$TANSU_VERSION.lock"
flock 9
if [[ -x "$BIN" ]]; then
  echo "$BIN"
  exit 0
fi
echo "building tansu $TANSU_VERSION (once per machine, ~13 min on 2 cores)" >&2
cargo install tansu --version "$TANSU_VERSION" --locked --features libsql --root "$ROOT" >&2
echo "$BIN"
