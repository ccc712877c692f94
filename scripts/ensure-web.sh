#!/usr/bin/env bash
# What the web client (web/) needs: Node.js with npm, its packages installed
# exactly from web/package-lock.json (`npm ci`, again whenever the lock
# changed), and Debian's Chromium for the browser tests (driven through
# playwright-core: nothing downloads a browser at run time).
# Idempotent; called by ensure-deps.sh.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

if ! command -v npm >/dev/null; then apt_install nodejs npm; fi
major="$(node -p 'process.versions.node.split(".")[0]')"
if (( major < 20 )); then
  die "web/ needs Node.js 20.19 or newer (found $(node --version))"
fi

if ! command -v chromium >/dev/null; then apt_install chromium; fi

WEB="$ROOT/web"
stamp="$WEB/node_modules/.package-lock.json"
if [[ ! -f $stamp || $WEB/package-lock.json -nt $stamp ]]; then
  say "installing the web client's packages (npm ci)"
  (cd "$WEB" && npm ci --no-audit --no-fund --loglevel=error)
fi
