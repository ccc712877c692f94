#!/usr/bin/env bash
# Makes sure everything Loop needs locally is installed and running:
# PostgreSQL (127.0.0.1:5432), Redis (127.0.0.1:6379), the Tansu Kafka-API
# broker (127.0.0.1:9092, SQLite storage under .state/), cargo-nextest,
# hledger (checks the wallet's journal export) and the web client's
# packages and Chromium (scripts/ensure-web.sh).
# Idempotent: starts only what is not already running.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

# --- PostgreSQL ---------------------------------------------------------------
if ! port_open 127.0.0.1 5432; then
  if ! command -v pg_ctlcluster >/dev/null; then apt_install postgresql; fi
  say "starting PostgreSQL"
  version="$(ls /etc/postgresql | sort -V | tail -1)"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
  wait_port 127.0.0.1 5432 30 PostgreSQL
fi
if ! psql -h 127.0.0.1 -U postgres -d postgres -Atc 'select 1' >/dev/null 2>&1; then
  die "PostgreSQL on 127.0.0.1:5432 does not accept user postgres without a password (trust auth expected)"
fi

# --- Redis --------------------------------------------------------------------
if ! port_open 127.0.0.1 6379; then
  if ! command -v redis-server >/dev/null; then apt_install redis-server; fi
  say "starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir "$STATE_DIR" --logfile "$LOG_DIR/redis.log"
  wait_port 127.0.0.1 6379 30 Redis
fi

# --- hledger (the wallet's journal export is checked with it) -----------------
if ! command -v hledger >/dev/null; then apt_install hledger; fi

# --- ffmpeg and ffprobe (the media service probes and transcodes uploads) ------
if ! command -v ffmpeg >/dev/null || ! command -v ffprobe >/dev/null; then apt_install ffmpeg; fi

# --- the web client: Node.js packages (npm ci) and Chromium for its tests ------
"$ROOT/scripts/ensure-web.sh"

# --- cargo-nextest ------------------------------------------------------------
if ! command -v cargo-nextest >/dev/null; then
  say "installing cargo-nextest"
  cargo install cargo-nextest --locked
fi

# --- Kafka-API broker (Tansu) -------------------------------------------------
"$ROOT/scripts/ensure-broker.sh"
