#!/usr/bin/env bash
# run.sh — start THE ORIGINAL mana-auth (installed by install.sh) in the
# foreground on a given database and port: `bun run src/index.ts` in
# services/mana-auth, with the environment tests/fixtures/original/build.sh
# used and nothing else of the caller's environment. The script execs Bun, so
# the caller's process is the service: SIGTERM stops it.
#
#   DATABASE_URL=postgresql://… PORT=43210 BETTER_AUTH_SECRET=… MANA_AUTH_KEK=… tests/original/run.sh
#
# Required: DATABASE_URL, PORT, BETTER_AUTH_SECRET, MANA_AUTH_KEK (base64, 32 bytes).
# Optional (defaults):
#   BASE_URL               http://localhost:$PORT (also the JWT issuer and where its own
#                          JWT middleware fetches the JWKS, so it must reach this process)
#   SYNC_DATABASE_URL      DATABASE_URL's server, database mana_original_sync_absent (the
#                          original swallows the failing sync calls)
#   CORS_ORIGINS           http://localhost:5173,$BASE_URL
#   MANA_SERVICE_KEY       original-test-service-key
#   ORIGINAL_STUB_URL      http://127.0.0.1:9 (closed port): MANA_NOTIFY_URL, MANA_CREDITS_URL,
#                          MANA_SUBSCRIPTIONS_URL and MANA_MAIL_URL unless set one by one
#   ORIGINAL_DIR           the output of install.sh (run.sh calls it when unset)
#   NODE_ENV               development
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
die() { echo "run.sh: $*" >&2; exit 2; }

for v in DATABASE_URL PORT BETTER_AUTH_SECRET MANA_AUTH_KEK; do
  [[ -n "${!v:-}" ]] || die "$v is required"
done
[[ "$PORT" =~ ^[0-9]+$ ]] || die "PORT must be a number"

ORIGINAL_DIR=${ORIGINAL_DIR:-$("$HERE/install.sh")}
[[ -f "$ORIGINAL_DIR/.complete" && -f "$ORIGINAL_DIR/.bun" ]] || die "$ORIGINAL_DIR is not a complete install (run install.sh)"
BUN=$(cat "$ORIGINAL_DIR/.bun")
[[ -x "$BUN" ]] || die "bun $BUN is gone; remove $ORIGINAL_DIR and run install.sh again"

BASE_URL=${BASE_URL:-http://localhost:$PORT}
if [[ -z "${SYNC_DATABASE_URL:-}" ]]; then
  # Same server, a database that does not exist (query string kept).
  query=
  [[ "$DATABASE_URL" == *\?* ]] && query="?${DATABASE_URL#*\?}"
  base=${DATABASE_URL%%\?*}
  SYNC_DATABASE_URL="${base%/*}/mana_original_sync_absent$query"
fi
STUB=${ORIGINAL_STUB_URL:-http://127.0.0.1:9}

cd "$ORIGINAL_DIR/services/mana-auth"
exec env -i \
  PATH="$(dirname "$BUN"):/usr/local/bin:/usr/bin:/bin" \
  HOME="${HOME:-/tmp}" \
  TMPDIR="${TMPDIR:-/tmp}" \
  NODE_ENV="${NODE_ENV:-development}" \
  PORT="$PORT" \
  BASE_URL="$BASE_URL" \
  DATABASE_URL="$DATABASE_URL" \
  SYNC_DATABASE_URL="$SYNC_DATABASE_URL" \
  BETTER_AUTH_SECRET="$BETTER_AUTH_SECRET" \
  MANA_AUTH_KEK="$MANA_AUTH_KEK" \
  MANA_SERVICE_KEY="${MANA_SERVICE_KEY:-original-test-service-key}" \
  CORS_ORIGINS="${CORS_ORIGINS:-http://localhost:5173,$BASE_URL}" \
  MANA_NOTIFY_URL="${MANA_NOTIFY_URL:-$STUB}" \
  MANA_CREDITS_URL="${MANA_CREDITS_URL:-$STUB}" \
  MANA_SUBSCRIPTIONS_URL="${MANA_SUBSCRIPTIONS_URL:-$STUB}" \
  MANA_MAIL_URL="${MANA_MAIL_URL:-$STUB}" \
  "$BUN" --no-install run src/index.ts
