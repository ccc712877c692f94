#!/usr/bin/env bash
# `make up`: builds and starts every implemented service and the gateway as
# separate processes (logs in .state/logs, pids in .state/pids), waits until
# they are healthy, seeds demo data and prints how to try it.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
PROFILE="${1:-dev}"
TARGET_DIR="$ROOT/target/$([[ $PROFILE == dev ]] && echo debug || echo "$PROFILE")"

# A local development platform: the services accept their well-known
# development keys, the bootstrap admin's development password and signed
# test receipts only because this says so (anything else refuses them).
export LOOP_ENV=development

say "building ($PROFILE profile)"
cargo build --workspace --bins --profile "$PROFILE"
# The web client, served by the gateway (http.web_dir) at its own address.
say "building the web client (web/dist)"
(cd "$ROOT/web" && npm run --silent build:dev) # with the development store: LOOP_ENV=development

# start NAME BINARY [ENV=VALUE...]: starts a service unless it is running.
start() {
  local name=$1 bin=$2; shift 2
  local pidfile="$PID_DIR/$name.pid"
  if [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    say "$name already running (pid $(cat "$pidfile")); restarting with the new build"
    kill "$(cat "$pidfile")" && while kill -0 "$(cat "$pidfile")" 2>/dev/null; do sleep 0.1; done
  fi
  say "starting $name"
  env "$@" setsid nohup "$TARGET_DIR/$bin" >"$LOG_DIR/$name.log" 2>&1 < /dev/null &
  echo $! > "$pidfile"
}

# wait_healthy NAME CHECK...: waits until CHECK succeeds, failing fast if NAME died.
wait_healthy() {
  local name=$1; shift
  local deadline=$((SECONDS + 60))
  until "$@" >/dev/null 2>&1; do
    kill -0 "$(cat "$PID_DIR/$name.pid")" 2>/dev/null || die "$name exited: $(tail -5 "$LOG_DIR/$name.log")"
    (( SECONDS < deadline )) || die "$name not healthy within 60s (see $LOG_DIR/$name.log)"
    sleep 0.3
  done
}

# Uploads and their HLS outputs under the state folder (the local object store).
start media loop-media LOOP_MEDIA__STORAGE__LOCAL_DIR="$STATE_DIR/media" \
  LOOP_MEDIA__PROCESSING__WORK_DIR="$STATE_DIR/media-work"
wait_healthy media "$TARGET_DIR/loop-media" healthcheck
# Large freed blocks go back to the OS (argon2's 19 MiB per hash): see deploy/Dockerfile.
start content loop-content GLIBC_TUNABLES=glibc.malloc.mmap_threshold=4194304
wait_healthy content "$TARGET_DIR/loop-content" healthcheck
start feed-ranking loop-feed-ranking
wait_healthy feed-ranking "$TARGET_DIR/loop-feed-ranking" healthcheck
start wallet loop-wallet
wait_healthy wallet "$TARGET_DIR/loop-wallet" healthcheck
start ads-auction loop-ads-auction
wait_healthy ads-auction "$TARGET_DIR/loop-ads-auction" healthcheck
start creator-marketplace loop-creator-marketplace
wait_healthy creator-marketplace "$TARGET_DIR/loop-creator-marketplace" healthcheck
start commerce loop-commerce
wait_healthy commerce "$TARGET_DIR/loop-commerce" healthcheck
# Locally one machine stands in for every client (`loopctl seed`,
# `loopctl simulate` sign up thousands of accounts from 127.0.0.1), so the
# per-IP sign-up/login limit is raised here; production keeps the default.
start gateway loop-gateway LOOP_GATEWAY__RATE_LIMIT__AUTH_PER_IP_PER_MINUTE=100000 \
  LOOP_GATEWAY__HTTP__WEB_DIR="$ROOT/web/dist"
wait_healthy gateway curl -fsS http://127.0.0.1:8080/readyz

say "seeding demo data (every demo video a real clip: generated, uploaded, transcoded)"
"$TARGET_DIR/loopctl" seed --gateway http://127.0.0.1:8080 --videos-per-creator 6 --clips-per-creator 6

cat <<'MSG'

Loop is up: open http://127.0.0.1:8080 in a browser (sign up, or log in as demo_viewer_0 / demo-password-123)
API: http://127.0.0.1:8080/v1  (OpenAPI: http://127.0.0.1:8080/openapi.json)
Logs: .state/logs/   Stop: make down

Try it:
  TOKEN=$(curl -s -X POST localhost:8080/v1/auth/signup -H 'content-type: application/json' \
    -d '{"handle":"me_'$RANDOM'","password":"my-password-1","birth_date":"1999-01-01","country":"US","language":"en","role":"creator"}' \
    | sed -E 's/.*"token":"([^"]+)".*/\1/')
  curl -s -X POST localhost:8080/v1/videos -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \
    -d '{"caption":"hello #loop","duration_ms":9000,"media_url":"https://cdn.example/v.mp4"}'
  curl -s localhost:8080/v1/hashtags/dance/videos -H "authorization: Bearer $TOKEN"
  curl -s localhost:8080/v1/feed/for-you -H "authorization: Bearer $TOKEN"
  curl -s localhost:8080/v1/wallet/gifts -H "authorization: Bearer $TOKEN"
MSG
