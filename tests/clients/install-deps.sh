#!/usr/bin/env bash
# install-deps.sh — the npm packages the real @mana/shared-auth client imports
# at run time, installed once into a cache and printed as a node_modules path.
#
#   tests/clients/install-deps.sh   -> prints e.g. /root/.cache/mana-test/client-deps-v1/node_modules
#
# shared-auth's package.json asks for @simplewebauthn/browser ^13.3.0 (loaded
# lazily by registerPasskey / signInWithPasskey) and base64-js ^1.5.1; the
# versions below are what those ranges resolve to. @mana/shared-types is a
# workspace package of the tarball and is linked by the test, not installed.
# Idempotent: a complete cache answers at once. Needs npm and the npm registry.
set -euo pipefail

PKGS=("@simplewebauthn/browser@13.3.0" "base64-js@1.5.1")
CACHE_ROOT=${MANA_TEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mana-test}
DIR="$CACHE_ROOT/client-deps-v1"
STAMP="$DIR/.complete"

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "${PKGS[*]}" ]]; then
  printf '%s\n' "$DIR/node_modules"
  exit 0
fi

command -v npm >/dev/null 2>&1 || { echo "install-deps.sh: npm is required" >&2; exit 1; }
mkdir -p "$DIR"
exec 9>"$DIR/.lock"
if command -v flock >/dev/null 2>&1; then flock -w 300 9 || { echo "install-deps.sh: timed out waiting for $DIR/.lock" >&2; exit 1; }; fi
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "${PKGS[*]}" ]]; then
  printf '%s\n' "$DIR/node_modules"
  exit 0
fi
echo "install-deps.sh: installing ${PKGS[*]} into $DIR (npm)" >&2
rm -f "$STAMP"
[[ -f "$DIR/package.json" ]] || printf '{"name":"mana-test-client-deps","private":true}\n' >"$DIR/package.json"
(cd "$DIR" && npm install --no-audit --no-fund --loglevel=error --ignore-scripts --save-exact "${PKGS[@]}" >&2)
for p in "${PKGS[@]}"; do
  name=${p%@*}
  [[ -f "$DIR/node_modules/$name/package.json" ]] || { echo "install-deps.sh: $name missing after npm install" >&2; exit 1; }
done
printf '%s' "${PKGS[*]}" >"$STAMP"
printf '%s\n' "$DIR/node_modules"
