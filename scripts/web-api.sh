#!/usr/bin/env bash
# Regenerates the web client's copy of the gateway's OpenAPI document
# (web/src/api/openapi.json) and the types generated from it
# (web/src/api/schema.d.ts). Run it after changing a route or a DTO; the
# gateway's test `web::tests::the_web_clients_copy_of_the_document_is_current`
# fails until you do, and `npm run build` in web/ type-checks the client
# against the new types.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
LOOP_WRITE_WEB_OPENAPI=1 cargo test -q -p loop-gateway --lib -- web::tests::the_web_clients_copy_of_the_document_is_current
"$ROOT/scripts/ensure-web.sh"
(cd web && npm run --silent gen:api)
say "regenerated web/src/api/openapi.json and schema.d.ts: commit them"
