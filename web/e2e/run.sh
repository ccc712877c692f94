#!/usr/bin/env bash
# The web client's checks, against a real platform in a real browser:
# builds the client (types regenerated from the committed OpenAPI
# document, tsc, vite), runs its unit tests (vitest), checks the bundle
# budget, then starts a throwaway platform (web/platform: every service in
# process with its own databases, Redis prefix, topics and ports, the
# gateway serving the built client and generated clips) and drives Debian's
# Chromium through playwright-core at a phone and a desktop viewport
# (e2e/viewer.mjs; screenshots to docs/screenshots/). Stops everything.
#
# Kafka: LOOP_TEST_KAFKA_BROKERS when set (scripts/test.sh sets it), else a
# throwaway broker of its own on LOOP_WEB_BROKER_PORT (19103).
# LOOP_WEB_NO_CARGO=1 uses the test platform binary already built.
set -euo pipefail
source "$(dirname "$0")/../../scripts/lib.sh"
WEB="$ROOT/web"
PROFILE="${PROFILE:-dev}"
TARGET_DIR="$ROOT/target/$([[ $PROFILE == dev ]] && echo debug || echo "$PROFILE")"

"$ROOT/scripts/ensure-web.sh"
cd "$WEB"
say "web: build (types from src/api/openapi.json, tsc, vite)"
# The production build: no development store in it (checked), and the
# bundle budget is measured on it.
npm run --silent build
say "web: bundle budget"
node scripts/budget.mjs
say "web: unit tests (vitest)"
npx vitest run --reporter=dot
# What the browser tests load: the development build (mode devstore), which
# has the development store, as their platform is a development one.
say "web: development build (with the development store) for the browser tests"
npm run --silent build:dev

if [[ ${LOOP_WEB_NO_CARGO:-} != 1 ]]; then
  say "web: building the test platform"
  (cd "$ROOT" && cargo build --profile "$PROFILE" -p loop-web-platform --bin loop-web-platform)
fi

WORK="$(mktemp -d /tmp/loop-web-e2e.XXXXXX)"
PLATFORM_PID=""
BROKER_STATE=""
cleanup() {
  set +e
  if [[ -n $PLATFORM_PID ]]; then
    kill "$PLATFORM_PID" 2>/dev/null
    wait "$PLATFORM_PID" 2>/dev/null
  fi
  if [[ -n $BROKER_STATE ]]; then
    kill "$(cat "$BROKER_STATE/pids/tansu.pid" 2>/dev/null)" 2>/dev/null
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

if [[ -z ${LOOP_TEST_KAFKA_BROKERS:-} ]]; then
  port="${LOOP_WEB_BROKER_PORT:-19103}"
  port_open 127.0.0.1 "$port" && die "port $port is busy; set LOOP_WEB_BROKER_PORT"
  BROKER_STATE="$WORK/broker"
  LOOP_STATE_DIR="$BROKER_STATE" LOOP_BROKER_PORT="$port" "$ROOT/scripts/ensure-broker.sh"
  export LOOP_TEST_KAFKA_BROKERS="127.0.0.1:$port"
fi

# The site: the built client plus three short clips (the catalogue's videos
# play them until uploads go through the media service), made once by
# ffmpeg and kept under the state folder.
CLIPS="$STATE_DIR/web-e2e-clips/v1"
mkdir -p "$CLIPS"
for i in 0 1 2; do
  [[ -s $CLIPS/clip-$i.webm ]] && continue
  ffmpeg -loglevel error -f lavfi -i "testsrc2=size=360x640:rate=24" -t 8 \
    -vf "hue=h=$((i * 120))" -c:v libvpx -deadline realtime -cpu-used 8 -b:v 400k -an \
    -y "$CLIPS/clip-$i.tmp.webm"
  mv "$CLIPS/clip-$i.tmp.webm" "$CLIPS/clip-$i.webm"
done
# What the creator uploads in the studio: an H.264/AAC MP4 the media
# service transcodes to HLS, and a file that is not a video at all.
if [[ ! -s $CLIPS/upload.mp4 ]]; then
  ffmpeg -loglevel error -f lavfi -i "testsrc2=size=360x640:rate=24" -f lavfi -i "sine=frequency=440:sample_rate=44100" \
    -t 4 -c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a aac -shortest -movflags +faststart -y "$CLIPS/upload.tmp.mp4"
  mv "$CLIPS/upload.tmp.mp4" "$CLIPS/upload.mp4"
fi
export UPLOAD_CLIP="$CLIPS/upload.mp4"
export BROKEN_CLIP="$WORK/not-a-video.mp4"
head -c 300000 /dev/urandom >"$BROKEN_CLIP"
cp -r "$WEB/dist" "$WORK/site"
mkdir -p "$WORK/site/e2e-media"
cp "$CLIPS"/clip-?.webm "$WORK/site/e2e-media/"

say "web: starting the test platform"
LOOP_ENV=development "$TARGET_DIR/loop-web-platform" "$WORK/site" "$WORK/base" >"$LOG_DIR/web-platform.log" 2>&1 &
PLATFORM_PID=$!
deadline=$((SECONDS + 300))
until [[ -s $WORK/base ]]; do
  kill -0 "$PLATFORM_PID" 2>/dev/null || die "the test platform exited: $(tail -5 "$LOG_DIR/web-platform.log")"
  (( SECONDS < deadline )) || die "the test platform was not ready within 300s (see $LOG_DIR/web-platform.log)"
  sleep 0.5
done
BASE="$(head -1 "$WORK/base")"
# Orders the platform left needing an admin (one per viewport), for admin.mjs.
export LOOP_WEB_ATTENTION="$WORK/base.attention.json"
say "web: browser tests against $BASE"
SCREENSHOTS="$ROOT/docs/screenshots" node e2e/viewer.mjs "$BASE"
