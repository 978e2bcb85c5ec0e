#!/usr/bin/env bash
# install-bun.sh — make Bun (from npm, version $BUN_VERSION) available and print
# the path of its executable on stdout. Idempotent: when the cache already
# holds that version it only checks it and prints the path (well under a second).
#
#   scripts/install-bun.sh            -> prints e.g. /root/.cache/mana-test/bun/node_modules/.bin/bun
#   BUN_VERSION=1.4.4 MANA_TEST_CACHE=/some/dir scripts/install-bun.sh
#
# Cache: ${MANA_TEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mana-test}/bun. Needs npm and the
# npm registry (nothing else on the internet). Used by tests/integration/clients_test.go.
set -euo pipefail

BUN_VERSION=${BUN_VERSION:-1.4.4}
CACHE_ROOT=${MANA_TEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mana-test}
DIR="$CACHE_ROOT/bun"
BIN="$DIR/node_modules/.bin/bun"

have() { [[ -x "$BIN" ]] && [[ "$("$BIN" --version 2>/dev/null || true)" == "$BUN_VERSION" ]]; }

if have; then
  printf '%s\n' "$BIN"
  exit 0
fi

command -v npm >/dev/null 2>&1 || { echo "install-bun.sh: npm is required to install bun@$BUN_VERSION" >&2; exit 1; }
mkdir -p "$DIR"
# One installer at a time (parallel test runs share the cache).
exec 9>"$DIR/.lock"
if command -v flock >/dev/null 2>&1; then flock -w 300 9 || { echo "install-bun.sh: timed out waiting for $DIR/.lock" >&2; exit 1; }; fi
if have; then
  printf '%s\n' "$BIN"
  exit 0
fi
echo "install-bun.sh: installing bun@$BUN_VERSION into $DIR (npm)" >&2
[[ -f "$DIR/package.json" ]] || printf '{"name":"mana-test-bun","private":true}\n' >"$DIR/package.json"
# Bun's npm package fetches its platform binary in a postinstall script, so
# scripts must run here even if the user's npm config disables them.
(cd "$DIR" && npm install --no-audit --no-fund --loglevel=error --ignore-scripts=false --save-exact "bun@$BUN_VERSION" >&2)
have || { echo "install-bun.sh: $BIN does not report version $BUN_VERSION after npm install" >&2; exit 1; }
printf '%s\n' "$BIN"
